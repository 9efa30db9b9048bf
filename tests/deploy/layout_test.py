#!/usr/bin/env python3
"""The deployment files agree with each other and with the code, no Docker
needed:

- the root Dockerfile's final stage is deploy/runtime.Dockerfile's, source
  paths aside (the two images have one layout);
- deploy/.env.example names every variable of the configuration table
  (src/core/config.c's specs) with the table's default, and every ${VAR}
  the compose files use;
- the compose files parse for docker-compose (`config -q`), the
  simulator file only swaps images and settings of services the base file
  has, and a missing DOCKER_GID stops `up` with a message saying what to
  set;
- the systemd unit has what the issue asks of it.

Cases are printed the way cmocka prints them (tools/test counts them).

  layout_test.py [ROOT]   (ROOT: the workspace; default ".")
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Bazel runs a test in its runfiles' workspace directory.
ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
passed, failed = 0, []


def case(name):
    def wrap(fn):
        global passed
        print("[ RUN      ] " + name, flush=True)
        try:
            fn()
            print("[       OK ] " + name, flush=True)
            passed += 1
        except Exception as e:  # a failed check, said in one line
            print("  %s: %s" % (type(e).__name__, e))
            print("[  FAILED  ] " + name, flush=True)
            failed.append(name)
        return fn
    return wrap


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def final_stage(text):
    """The lines after the last FROM (comments and blanks dropped)."""
    lines = [l for l in text.splitlines()
             if l.strip() and not l.lstrip().startswith("#")]
    last = max(i for i, l in enumerate(lines) if l.startswith("FROM "))
    return lines[last:]


@case("Dockerfile's final stage is deploy/runtime.Dockerfile's")
def _():
    ours = final_stage(read("deploy/runtime.Dockerfile"))
    theirs = [l.replace("--from=build ", "").replace("/out/", "")
              for l in final_stage(read("Dockerfile"))]
    assert ours == theirs, "\n".join(
        "%-60s | %s" % p for p in zip(ours, theirs) if p[0] != p[1])
    assert ours[0] == "FROM scratch"


def config_table():
    """{name: default} from src/core/config.c's specs (None: unset)."""
    src = read("src/core/config.c")
    body = src[src.index("static const struct spec specs[]"):]
    body = body[:body.index("};")]
    out = {}
    for m in re.finditer(r'\{"([A-Z_]+)",\s*K_\w+,(.*?)\}', body, re.S):
        strs = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        out[m.group(1)] = strs[-1] if strs else None
    assert len(out) > 30, out
    return out


def env_example():
    """{name: value} of every VAR= line, commented out or not."""
    out = {}
    for line in read("deploy/.env.example").splitlines():
        m = re.match(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


@case(".env.example: every configuration variable, with its default")
def _():
    table, env = config_table(), env_example()
    missing = sorted(set(table) - set(env))
    assert not missing, "not documented: %s" % missing
    wrong = {k: (env[k], v) for k, v in table.items()
             if v is not None and env[k] != v}
    assert not wrong, "default differs (.env.example, config.c): %s" % wrong
    unset = {k: env[k] for k, v in table.items() if v is None and env[k]}
    assert not unset, "unset by default, given a value: %s" % unset
    assert "DB_URL" in env


@case(".env.example: every ${VAR} of the compose files")
def _():
    env = env_example()
    used = set()
    for f in ("deploy/docker-compose.yml", "deploy/docker-compose.sim.yml"):
        used |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", read(f)))
    # The simulator file's own image override is for tests only.
    missing = sorted(used - set(env) - {"ACEXY_SIM_IMAGE"})
    assert not missing, "not documented: %s" % missing


def compose(args, env=None, files=("docker-compose.yml",)):
    d = tempfile.mkdtemp(prefix="layout-compose.")
    try:
        for f in ("docker-compose.yml", "docker-compose.sim.yml"):
            shutil.copy(os.path.join(ROOT, "deploy", f), d)
        dotenv = read("deploy/.env.example")
        for k, v in (env or {}).items():
            dotenv += "\n%s=%s\n" % (k, v)
        with open(os.path.join(d, ".env"), "w") as f:
            f.write(dotenv)
        cmd = ["docker-compose", "-p", "layouttest"]
        for f in files:
            cmd += ["-f", os.path.join(d, f)]
        return subprocess.run(cmd + args, cwd=d, capture_output=True,
                              text=True, timeout=60)
    finally:
        shutil.rmtree(d)


HAVE_COMPOSE = shutil.which("docker-compose") is not None


@case("compose files parse (docker-compose config), with and without the simulator file")
def _():
    if not HAVE_COMPOSE:
        print("  skipped: no docker-compose (tools/setup installs it)")
        return
    for files in (("docker-compose.yml",),
                  ("docker-compose.yml", "docker-compose.sim.yml")):
        r = compose(["config", "-q"], {"DOCKER_GID": "999"}, files)
        assert r.returncode == 0, r.stderr


@case("the simulator file only overrides the base file's services")
def _():
    if not HAVE_COMPOSE:
        print("  skipped: no docker-compose")
        return
    base = compose(["config", "--services"], {"DOCKER_GID": "999"})
    both = compose(["config", "--services"], {"DOCKER_GID": "999"},
                   ("docker-compose.yml", "docker-compose.sim.yml"))
    assert base.returncode == 0 and both.returncode == 0
    assert set(base.stdout.split()) == set(both.stdout.split()) == {
        "orchestrator", "acexy", "gluetun", "acexy-vpn"}, both.stdout
    merged = compose(["config"], {"DOCKER_GID": "999"},
                     ("docker-compose.yml", "docker-compose.sim.yml")).stdout
    for img in ("acestream-orchestrator:latest", "acexy-sim:latest",
                "gluetun-sim:latest", "TARGET_IMAGE: acestream-sim:latest"):
        assert img in merged, img


@case("compose: the orchestrator's settings (socket, healthcheck, restart, volume, network)")
def _():
    if not HAVE_COMPOSE:
        print("  skipped: no docker-compose")
        return
    import yaml  # docker-compose's own dependency (python3-yaml)
    cfg = yaml.safe_load(compose(
        ["config"], {"DOCKER_GID": "105", "MIN_REPLICAS": "3"}).stdout)
    orch = cfg["services"]["orchestrator"]
    vols = [re.sub(":rw$", "", v) if isinstance(v, str)
            else "%s:%s" % (v["source"], v["target"])
            for v in orch["volumes"]]
    assert "/var/run/docker.sock:/var/run/docker.sock" in vols, vols
    assert "orchestrator-data:/data" in vols, vols
    assert orch["restart"] == "unless-stopped"
    assert orch["healthcheck"]["test"] == [
        "CMD", "/usr/local/bin/orchestratord", "healthcheck"], orch
    assert orch["environment"]["DOCKER_NETWORK"] == "acestream"
    assert orch["environment"]["DB_PATH"] == "/data/orchestrator.db"
    assert [str(g) for g in orch["group_add"]] == ["105"], orch["group_add"]
    # .env reaches the orchestrator (env_file, inlined by config).
    assert orch["environment"]["MIN_REPLICAS"] == "3", orch["environment"]
    ports = [p if isinstance(p, str) else "%s:%s:%s" % (
        p.get("host_ip", ""), p["published"], p["target"])
        for p in orch["ports"]]
    assert any(p.startswith("127.0.0.1:8000:8000") for p in ports), ports
    assert cfg["networks"]["default"]["name"] == "acestream"
    assert "orchestrator-data" in cfg["volumes"]
    # Acexy's variables point at the orchestrator, with the API key.
    ax = cfg["services"]["acexy"]["environment"]
    assert ax["ACEXY_ORCH_URL"] == "http://orchestrator:8000", ax
    assert {"ACEXY_ORCH_APIKEY", "ACEXY_MAX_STREAMS_PER_ENGINE"} <= set(ax)
    # VPN: Acexy in Gluetun's namespace; Gluetun named as configured.
    assert cfg["services"]["acexy-vpn"]["network_mode"] == "service:gluetun"
    assert cfg["services"]["gluetun"]["container_name"] == "gluetun"


@case("compose: no DOCKER_GID, up refuses and says what to set")
def _():
    if not HAVE_COMPOSE:
        print("  skipped: no docker-compose")
        return
    r = compose(["config", "-q"])
    assert r.returncode != 0
    assert "set DOCKER_GID in .env" in r.stderr and "stat -c %g" in r.stderr, \
        r.stderr


@case("systemd unit: sandboxing, state directory, docker group, restart")
def _():
    unit = read("deploy/orchestratord.service")
    for want in ("ProtectSystem=strict", "NoNewPrivileges=yes",
                 "PrivateTmp=yes", "StateDirectory=orchestratord",
                 "SupplementaryGroups=docker", "Restart=on-failure",
                 "Environment=DB_PATH=/var/lib/orchestratord/",
                 "ExecStart=/usr/local/bin/orchestratord",
                 "KillSignal=SIGTERM", "WantedBy=multi-user.target"):
        assert re.search("^" + re.escape(want), unit, re.M), want


print("[==========] %d test(s) run." % (passed + len(failed)))
print("[  PASSED  ] %d test(s)." % passed)
if failed:
    print("[  FAILED  ] %d test(s), listed below:" % len(failed))
    for n in failed:
        print("[  FAILED  ] " + n)
sys.exit(1 if failed else 0)
