#!/usr/bin/env bash
# orchestratord and orchctl as a user runs them: the daemon on an ipc URL,
# orchctl in another process asking it over that URL.
set -euo pipefail

daemon="$1"
ctl="$2"
dir="$(mktemp -d /tmp/orch-e2e.XXXXXX)"
url="ipc://$dir/rpc.sock"
fails=0
passes=0
pid=""

cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

check() { # name, then a command that must succeed
	local name="$1"
	shift
	if "$@"; then
		echo "ok   $name"
		passes=$((passes + 1))
	else
		echo "FAIL $name"
		fails=$((fails + 1))
	fi
}

# A bad configuration stops the daemon at once with one line naming it.
check "MIN_REPLICAS > MAX_REPLICAS refused" bash -c \
	"MIN_REPLICAS=5 MAX_REPLICAS=2 timeout 5 '$daemon' --rpc-listen 'ipc://$dir/x.sock' 2>'$dir/bad.log'; test \$? -eq 2 && grep -q 'MIN_REPLICAS' '$dir/bad.log' && test \$(wc -l <'$dir/bad.log') -eq 1"
check "non-number refused" bash -c \
	"STARTUP_TIMEOUT_S=soon timeout 5 '$daemon' 2>&1 | grep -q 'STARTUP_TIMEOUT_S'"

# No Docker here (a socket nobody listens on): the daemon must still answer
# every read, and say why it cannot provision.
start_daemon() { # extra arguments; DB_PATH is $dir/orch.db
	APP_PORT=0 RPC_LISTEN="$url" TARGET_IMAGE=example/engine:1 DOCKER_HOST="unix://$dir/no-docker.sock" \
		DB_PATH="$dir/orch.db" "$daemon" --port-file "$dir/http.port" "$@" >>"$dir/daemon.log" 2>&1 &
	pid=$!
}
start_daemon

# Wait (bounded) until the daemon answers.
for _ in $(seq 1 100); do
	"$ctl" --rpc "$url" --timeout 200 ping >/dev/null 2>&1 && break
	sleep 0.05
done

check "ping answers" "$ctl" --rpc "$url" ping
# The daemon's version, revision and build, as its --version says them.
check "ping: version, revision and build of the daemon's --version" bash -c \
	"want=\$('$daemon' --version) && '$ctl' --rpc '$url' --json ping | python3 -c 'import json,sys; d=json.load(sys.stdin); w=sys.argv[1]; assert w == \"orchestratord %s (revision %s, build %s)\" % (d[\"version\"], d[\"revision\"], d[\"build\"]), (w, d)' \"\$want\""
check "/healthz and /orchestrator/status carry the version" bash -c \
	"for i in \$(seq 100); do test -s '$dir/http.port' && break; sleep 0.05; done; p=\$(cat '$dir/http.port'); v=\$('$ctl' --rpc '$url' --json ping | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"version\"])') && curl -fsS http://127.0.0.1:\$p/healthz | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d == {\"status\": \"ok\", \"version\": sys.argv[1]}, d' \"\$v\" && curl -fsS http://127.0.0.1:\$p/orchestrator/status | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"version\"] == sys.argv[1]' \"\$v\""
# The REST gateway in the same process (APP_PORT=0: the port it picked).
check "gateway: /healthz and /engines over HTTP" bash -c \
	"for i in \$(seq 100); do test -s '$dir/http.port' && break; sleep 0.05; done; p=\$(cat '$dir/http.port') && curl -fsS http://127.0.0.1:\$p/healthz | grep -q '\"status\":\"ok\"' && test \"\$(curl -fsS http://127.0.0.1:\$p/engines)\" = '[]'"
check "status table" bash -c "'$ctl' --rpc '$url' status | grep -q '^status '"
check "engines --json is a JSON array" bash -c \
	"'$ctl' --rpc '$url' --json engines | python3 -c 'import json,sys; assert isinstance(json.load(sys.stdin), list)'"
check "status --json has the contract's sections" bash -c \
	"'$ctl' --rpc '$url' --json status | python3 -c 'import json,sys; d=json.load(sys.stdin); assert set(d) >= {\"status\",\"engines\",\"streams\",\"capacity\",\"vpn\",\"provisioning\",\"config\"}; assert d[\"provisioning\"][\"last_failure\"] is None'"
check "status shows the configured image" bash -c \
	"'$ctl' --rpc '$url' --json status | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"config\"][\"target_image\"] == \"example/engine:1\"'"
check "Docker down: status unavailable, docker_unavailable refusal" bash -c \
	"'$ctl' --rpc '$url' --json status | python3 -c 'import json,sys; d=json.load(sys.stdin); p=d[\"provisioning\"]; assert d[\"status\"] == \"unavailable\" and p[\"can_provision\"] is False and p[\"blocked_reason\"] == \"Docker unavailable\" and p[\"blocked_reason_details\"][\"code\"] == \"docker_unavailable\", d'"
check "Docker down: provision refused at once with the structured reason" bash -c \
	"start=\$(date +%s%N); out=\$('$ctl' --rpc '$url' provision 2>&1); rc=\$?; end=\$(date +%s%N); echo \"\$out\" | grep -q docker_unavailable && test \$rc -eq 1 && test \$(( (end - start) / 1000000 )) -lt 3000"
check "unknown engine is NOT_FOUND, exit 1" bash -c \
	"'$ctl' --rpc '$url' engine nope 2>&1 | grep -q NOT_FOUND; test \${PIPESTATUS[0]} -eq 1"
# The real core: a proxy's stream event through orchctl, then the ledger.
check "start records a stream on an unmanaged engine" bash -c \
	"'$ctl' --rpc '$url' --json start content_id abc --host 10.9.9.9 --port 6878 --session s1 --stat-url http://10.9.9.9:6878/ace/stat/x --live 1 | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"id\"] == \"abc|s1\" and d[\"status\"] == \"started\" and d[\"is_live\"] is True and d[\"container_id\"] == \"10.9.9.9:6878\", d'"
check "streams lists it" bash -c \
	"'$ctl' --rpc '$url' --json streams | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [s[\"id\"] for s in d] == [\"abc|s1\"], d'"
check "engines lists the unmanaged entry" bash -c \
	"'$ctl' --rpc '$url' --json engines | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[0][\"labels\"] == {\"managed\": \"false\"} and d[0][\"streams\"] == [\"abc|s1\"], d'"
check "status counts the active stream" bash -c \
	"'$ctl' --rpc '$url' --json status | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"streams\"] == {\"active\": 1, \"total\": 1}, d'"
check "bad key_type is INVALID_ARGUMENT naming the field" bash -c \
	"'$ctl' --rpc '$url' start torrent abc --host h --port 1 --session s 2>&1 | grep -q 'stream.key_type'; test \${PIPESTATUS[0]} -eq 1"
check "end ends it" bash -c \
	"'$ctl' --rpc '$url' --json end 'abc|s1' gone | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"updated\"] is True and d[\"stream\"][\"end_reason\"] == \"gone\", d'"
check "no active stream left" bash -c \
	"test \"\$('$ctl' --rpc '$url' --json streams --status started)\" = '[]'"
# The event log (the SQLite store at DB_PATH), by orchctl and over HTTP.
check "events: what happened, oldest first" bash -c \
	"for i in \$(seq 100); do '$ctl' --rpc '$url' events >'$dir/ev' && grep -q ' stream_ended ' '$dir/ev' && break; sleep 0.05; done; awk 'NR > 1 {print \$3}' '$dir/ev' | tr '\\n' ' ' | grep -q '^config orchestrator_started provision_refused stream_started stream_ended ' && grep -q 'reason=gone' '$dir/ev'"
check "events --json --type: the entries of one type" bash -c \
	"'$ctl' --rpc '$url' --json events --type stream_ended | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [e[\"type\"] for e in d] == [\"stream_ended\"] and d[0][\"stream_id\"] == \"abc|s1\" and d[0][\"data\"] == {\"reason\": \"gone\"}, d'"
check "events: a bad --since is INVALID_ARGUMENT naming it, exit 1" bash -c \
	"'$ctl' --rpc '$url' events --since soon 2>'$dir/err'; test \$? -eq 1 && grep -q '^orchctl: INVALID_ARGUMENT: since: ' '$dir/err'"
check "GET /events/log over HTTP" bash -c \
	"p=\$(cat '$dir/http.port') && curl -fsS \"http://127.0.0.1:\$p/events/log?type=stream_started&limit=1\" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d) == 1 and d[0][\"type\"] == \"stream_started\" and isinstance(d[0][\"id\"], int), d'"
check "events --follow prints what comes next" bash -c \
	"'$ctl' --rpc '$url' --json events --follow --type stream_started >'$dir/follow' & f=\$!; sleep 0.3; '$ctl' --rpc '$url' start content_id follow1 --host 10.9.9.9 --port 6878 --session s9 --stat-url http://10.9.9.9:6878/ace/stat/f >/dev/null; ok=1; for i in \$(seq 100); do grep -q 'follow1|s9' '$dir/follow' && { ok=0; break; }; sleep 0.05; done; kill \$f; wait \$f 2>/dev/null; '$ctl' --rpc '$url' end 'follow1|s9' >/dev/null; exit \$ok"

# Every method of the service by its name, as `orchctl methods` lists them
# from the descriptors (no list kept here): each answers, OK with JSON or a
# status of the core's own (never UNIMPLEMENTED, never a lost call).
check "methods lists the three that had no command" bash -c \
	"'$ctl' methods >'$dir/methods' && grep -q '^FindByLabel ' '$dir/methods' && grep -q '^ProvisionContainer ' '$dir/methods' && grep -q '^GetMetrics ' '$dir/methods' && grep -q '^    --engine.port int32' '$dir/methods' && grep -q '^    --labels.<key> string' '$dir/methods'"
methods=$("$ctl" methods | awk '!/^ / {print $1}')
n_methods=0
for m in $methods; do
	n_methods=$((n_methods + 1))
	check "method $m answers by name" bash -c \
		"'$ctl' --rpc '$url' --timeout 5000 $m >'$dir/out' 2>'$dir/err'; rc=\$?; if [ \$rc -eq 0 ]; then python3 -c 'import json,sys; json.load(open(sys.argv[1]))' '$dir/out'; else test \$rc -eq 1 && grep -Eq '^orchctl: (INVALID_ARGUMENT|NOT_FOUND|UNAVAILABLE|FAILED_PRECONDITION|RESOURCE_EXHAUSTED|PERMISSION_DENIED|UNAUTHENTICATED|INTERNAL): ' '$dir/err' && ! grep -q 'UNIMPLEMENTED\\|DEADLINE_EXCEEDED' '$dir/err'; fi"
done
check "methods: $n_methods listed, all called" test "$n_methods" -gt 0
check "--json output for any method is the writer's JSON" bash -c \
	"'$ctl' --rpc '$url' --json GetVpnStatus | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"enabled\"] is False and d[\"status\"] == \"disabled\", d'"
check "GetEngine without its id: INVALID_ARGUMENT naming the field, exit 1" bash -c \
	"'$ctl' --rpc '$url' GetEngine 2>'$dir/err'; test \$? -eq 1 && grep -q '^orchctl: INVALID_ARGUMENT: container_id: ' '$dir/err'"
# FindByLabel: the core's own checks, then Docker's absence.
check "FindByLabel without key: INVALID_ARGUMENT key" bash -c \
	"'$ctl' --rpc '$url' FindByLabel --value v 2>'$dir/err'; test \$? -eq 1 && grep -q '^orchctl: INVALID_ARGUMENT: key: required' '$dir/err'"
check "FindByLabel, Docker down: UNAVAILABLE, exit 1" bash -c \
	"'$ctl' --rpc '$url' FindByLabel --key team --value a 2>'$dir/err'; test \$? -eq 1 && grep -q '^orchctl: UNAVAILABLE: ' '$dir/err'"
check "by-label needs KEY VALUE: usage, exit 2" bash -c \
	"'$ctl' --rpc '$url' by-label team 2>'$dir/err'; test \$? -eq 2 && grep -q '^usage: orchctl by-label KEY VALUE' '$dir/err'"
# ProvisionContainer's refusals, without Docker.
check "ProvisionContainer without image: INVALID_ARGUMENT image" bash -c \
	"'$ctl' --rpc '$url' ProvisionContainer 2>'$dir/err'; test \$? -eq 1 && grep -q '^orchctl: INVALID_ARGUMENT: image: required' '$dir/err'"
check "ProvisionContainer bad port key (map field): INVALID_ARGUMENT ports" bash -c \
	"'$ctl' --rpc '$url' ProvisionContainer --image img:1 --ports.http 19000 2>'$dir/err'; test \$? -eq 1 && grep -q '^orchctl: INVALID_ARGUMENT: ports: ' '$dir/err'"
check "ProvisionContainer bad name_prefix: INVALID_ARGUMENT name_prefix" bash -c \
	"'$ctl' --rpc '$url' ProvisionContainer --image img:1 --name_prefix 'a b' 2>'$dir/err'; test \$? -eq 1 && grep -q '^orchctl: INVALID_ARGUMENT: name_prefix: ' '$dir/err'"
check "ProvisionContainer, Docker down: UNAVAILABLE at once" bash -c \
	"start=\$(date +%s%N); '$ctl' --rpc '$url' ProvisionContainer --image img:1 --ports.6878/tcp 19000 --labels.team a --env.A 1 2>'$dir/err'; rc=\$?; end=\$(date +%s%N); test \$rc -eq 1 && grep -Eq '^orchctl: UNAVAILABLE: (Failed to provision container|provisioning blocked: Docker unavailable)' '$dir/err' && test \$(( (end - start) / 1000000 )) -lt 3000"
# GetMetrics, as JSON by name and as text by its shorthand.
check "GetMetrics by name: the exposition in JSON" bash -c \
	"'$ctl' --rpc '$url' GetMetrics | python3 -c 'import json,sys; t=json.load(sys.stdin)[\"text\"]; assert \"orch_events_started_total 2\" in t, t'"
check "metrics: the exposition as text" bash -c \
	"'$ctl' --rpc '$url' metrics | grep -q '^# TYPE orch_events_started_total counter'"
# Nested and map fields by path, --json bodies, and the ledger after.
check "nested fields: --engine.host/--engine.port" bash -c \
	"'$ctl' --rpc '$url' StreamStarted --stream.key_type infohash --stream.key n1 --engine.host 10.9.9.8 --engine.port 6879 --session.playback_session_id p1 --session.stat_url http://10.9.9.8:6879/ace/stat/n1/p1 --session.is_live 0 | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"id\"] == \"n1|p1\" and d[\"container_id\"] == \"10.9.9.8:6879\" and d[\"is_live\"] is False, d'"
check "map field: --labels.stream_id names the stream" bash -c \
	"'$ctl' --rpc '$url' StreamStarted --stream.key_type url --stream.key http://x/m --engine.host 10.9.9.8 --engine.port 6879 --labels.stream_id e2e-map | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"id\"] == \"e2e-map\", d'"
check "--json body, fields over it" bash -c \
	"'$ctl' --rpc '$url' ListStreams --json '{\"status\":\"started\",\"limit\":1}' --limit 10 | python3 -c 'import json,sys; d=json.load(sys.stdin); assert sorted(s[\"id\"] for s in d) == [\"e2e-map\", \"n1|p1\"], d'"
check "--json - reads stdin, --json @FILE a file" bash -c \
	"echo '{\"stream_id\":\"e2e-map\",\"reason\":\"stdin\"}' | '$ctl' --rpc '$url' StreamEnded --json - | grep -q '\"end_reason\":\"stdin\"' && echo '{\"stream_id\":\"n1|p1\"}' >'$dir/body.json' && '$ctl' --rpc '$url' StreamEnded --json @'$dir/body.json' --reason file | grep -q '\"end_reason\":\"file\"'"
check "no active stream left after the by-name calls" bash -c \
	"test \"\$('$ctl' --rpc '$url' --json streams --status started)\" = '[]'"
# Local refusals: one line naming the field, exit 2, nothing sent.
check "unknown field: one line naming it, exit 2" bash -c \
	"'$ctl' --rpc '$url' StreamStarted --engine.hots h 2>'$dir/err'; test \$? -eq 2 && test \$(wc -l <'$dir/err') -eq 1 && grep -q '^orchctl: engine.hots: no such field in EngineAddress' '$dir/err'"
check "bad value: one line naming the field, exit 2" bash -c \
	"'$ctl' --rpc '$url' ListStreams --limit ten 2>'$dir/err'; test \$? -eq 2 && test \$(wc -l <'$dir/err') -eq 1 && grep -q '^orchctl: limit: expected int32, got \"ten\"' '$dir/err'"
check "bad value in a map: named by its key, exit 2" bash -c \
	"'$ctl' --rpc '$url' ProvisionContainer --image i --ports.6878/tcp x 2>'$dir/err'; test \$? -eq 2 && grep -q '^orchctl: ports.6878/tcp: expected int32' '$dir/err'"
check "bad --json body: one line naming the field, exit 2" bash -c \
	"'$ctl' --rpc '$url' Scale --json '{\"n\":\"x\"}' 2>'$dir/err'; test \$? -eq 2 && test \$(wc -l <'$dir/err') -eq 1 && grep -q '^orchctl: --json: n: expected int32, got string' '$dir/err'"
check "malformed --json body, exit 2" bash -c \
	"'$ctl' --rpc '$url' Scale --json '{' 2>'$dir/err'; test \$? -eq 2 && grep -q '^orchctl: --json: malformed JSON' '$dir/err'"
check "unknown method, exit 2" bash -c \
	"'$ctl' --rpc '$url' NoSuchMethod 2>'$dir/err'; test \$? -eq 2 && grep -q 'unknown command or method NoSuchMethod' '$dir/err'"
check "bad usage exits 2" bash -c "'$ctl' --rpc '$url' scale notanumber; test \$? -eq 2"
check "no daemon: deadline exceeded, exit 1" bash -c \
	"'$ctl' --rpc 'ipc://$dir/none.sock' --timeout 200 ping 2>&1 | grep -q DEADLINE_EXCEEDED"
# The image's HEALTHCHECK: the binary asks its own /healthz.
check "healthcheck: 0 when /healthz answers (wildcard APP_HOST -> 127.0.0.1)" bash -c \
	"out=\$(APP_PORT=\$(cat '$dir/http.port') '$daemon' healthcheck) && echo \"\$out\" | grep -q '^healthy: http://127.0.0.1:'"
check "healthcheck: 1 and why when nothing answers" bash -c \
	"out=\$(APP_PORT=1 '$daemon' healthcheck); test \$? -eq 1 && echo \"\$out\" | grep -q '^unhealthy: http://127.0.0.1:1/healthz: '"
check "healthcheck: 1 for a bad configuration, naming it" bash -c \
	"out=\$(APP_PORT=x '$daemon' healthcheck); test \$? -eq 1 && echo \"\$out\" | grep -q '^unhealthy: configuration: .*APP_PORT'"
check "API_KEY unset: the warning names APP_HOST:APP_PORT" \
	grep -q "API_KEY is not set: the mutating API .* is open to every client that can reach 0\.0\.0\.0:$(cat "$dir/http.port") (APP_HOST:APP_PORT)" "$dir/daemon.log"
# A restart keeps the ledger: an active stream (on an unmanaged address,
# Docker being down here) is back, and the log tells both lives.
"$ctl" --rpc "$url" start content_id kept --host 10.9.9.7 --port 6878 --session s1 --stat-url http://10.9.9.7:6878/ace/stat/k >/dev/null
check "daemon stops on SIGTERM (time printed)" bash -c "t0=\$(date +%s%N); kill -TERM $pid; for i in \$(seq 1 200); do if ! kill -0 $pid 2>/dev/null; then echo \"  exited \$(( (\$(date +%s%N) - t0) / 1000000 )) ms after SIGTERM\"; exit 0; fi; sleep 0.02; done; exit 1"
wait "$pid" 2>/dev/null
pid=""
rm -f "$dir/http.port"
start_daemon
for _ in $(seq 1 100); do
	"$ctl" --rpc "$url" --timeout 200 ping >/dev/null 2>&1 && break
	sleep 0.05
done
check "restarted: the active stream is back" bash -c \
	"'$ctl' --rpc '$url' --json streams --status started | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [s[\"id\"] for s in d] == [\"kept|s1\"] and d[0][\"container_id\"] == \"10.9.9.7:6878\", d'"
check "restarted: ended streams are history" bash -c \
	"'$ctl' --rpc '$url' --json streams --status ended | python3 -c 'import json,sys; d=json.load(sys.stdin); assert \"abc|s1\" in [s[\"id\"] for s in d], d'"
check "restarted: the log has both lives" bash -c \
	"'$ctl' --rpc '$url' --json events --type orchestrator_started,orchestrator_stopping,stream_restored | python3 -c 'import json,sys; d=[e[\"type\"] for e in json.load(sys.stdin)]; assert d == [\"orchestrator_started\", \"orchestrator_stopping\", \"stream_restored\", \"orchestrator_started\"], d'"
kill -TERM "$pid"
wait "$pid" 2>/dev/null
pid=""

# A database that cannot be used: one line naming it, exit 2; --reset-db
# moves it aside (never deletes it) and starts.
bad="$dir/bad"
mkdir -p "$bad"
printf 'not a database, a note\n%.0s' $(seq 200) >"$bad/orch.db"
check "corrupt DB_PATH: one line naming the file, exit 2" bash -c \
	"DB_PATH='$bad/orch.db' RPC_LISTEN='ipc://$dir/b.sock' APP_PORT=0 DOCKER_HOST='unix://$dir/no-docker.sock' timeout 10 '$daemon' 2>'$dir/bad.log'; test \$? -eq 2 && test \$(wc -l <'$dir/bad.log') -eq 1 && grep -q \"^orchestratord: DB_PATH $bad/orch.db: file is not a database\" '$dir/bad.log'"
check "newer schema: refused, exit 2" bash -c \
	"cp '$dir/orch.db' '$bad/newer.db' && python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO schema_version VALUES (99, 0)\"); c.commit()' '$bad/newer.db' && DB_PATH='$bad/newer.db' RPC_LISTEN='ipc://$dir/b.sock' APP_PORT=0 DOCKER_HOST='unix://$dir/no-docker.sock' timeout 10 '$daemon' 2>'$dir/bad.log'; test \$? -eq 2 && test \$(wc -l <'$dir/bad.log') -eq 1 && grep -q 'schema version 99 is newer' '$dir/bad.log'"
check "--reset-db moves the bad file aside and starts" bash -c \
	"DB_PATH='$bad/orch.db' RPC_LISTEN='ipc://$dir/b.sock' APP_PORT=0 DOCKER_HOST='unix://$dir/no-docker.sock' '$daemon' --reset-db >'$dir/reset.log' 2>&1 & p=\$!; ok=1; for i in \$(seq 100); do '$ctl' --rpc 'ipc://$dir/b.sock' --timeout 200 ping >/dev/null 2>&1 && { ok=0; break; }; sleep 0.05; done; kill -TERM \$p; wait \$p; test \$ok -eq 0 && ls '$bad' | grep -q '^orch.db.broken-' && grep -q 'not a database' \"\$(ls '$bad'/orch.db.broken-* | head -1)\""
# A read-only directory (a tmpfs remounted read-only, in a private mount
# namespace; skipped where the system allows none).
if unshare -m true 2>/dev/null; then
	mkdir -p "$dir/ro"
	check "read-only directory: one line naming the file, exit 2" bash -c \
		"unshare -m sh -c 'mount -t tmpfs tmpfs $dir/ro && mount -o remount,ro $dir/ro && DB_PATH=$dir/ro/orch.db RPC_LISTEN=ipc://$dir/r.sock APP_PORT=0 DOCKER_HOST=unix://$dir/no-docker.sock timeout 10 $daemon --reset-db' 2>'$dir/ro.log'; test \$? -eq 2 && test \$(wc -l <'$dir/ro.log') -eq 1 && grep -q \"^orchestratord: DB_PATH $dir/ro/orch.db: .*read-only\" '$dir/ro.log'"
else
	echo "skip read-only directory (no private mount namespace here)"
fi

# APP_HOST is where the gateway listens: 127.0.0.2 answers, 127.0.0.1 (the
# same port) does not; the warning names that address.
APP_HOST=127.0.0.2 APP_PORT=0 RPC_LISTEN="ipc://$dir/host.sock" TARGET_IMAGE=example/engine:1 \
	DOCKER_HOST="unix://$dir/no-docker.sock" \
	"$daemon" --port-file "$dir/host.port" >"$dir/host.log" 2>&1 &
pid=$!
check "APP_HOST=127.0.0.2: answers there" bash -c \
	"for i in \$(seq 200); do test -s '$dir/host.port' && break; sleep 0.05; done; curl -fsS http://127.0.0.2:\$(cat '$dir/host.port')/healthz | grep -q '\"status\":\"ok\"'"
# The daemon's own listeners, by pid: another test of the same run may hold
# that port number on 127.0.0.1 (a curl there once answered from it).
check "APP_HOST=127.0.0.2: not on 127.0.0.1" bash -c \
	"ss -Hltnp \"sport = :\$(cat '$dir/host.port')\" | grep 'pid=$pid,' >'$dir/host.ss'; test -s '$dir/host.ss' && ! grep -v ' 127\.0\.0\.2:' '$dir/host.ss'"
check "APP_HOST=127.0.0.2: healthcheck asks it there" bash -c \
	"APP_HOST=127.0.0.2 APP_PORT=\$(cat '$dir/host.port') '$daemon' healthcheck | grep -q '^healthy: http://127.0.0.2:'"
check "APP_HOST=127.0.0.2: the warning names it" \
	grep -q "can reach 127\.0\.0\.2:$(cat "$dir/host.port") (APP_HOST:APP_PORT)" "$dir/host.log"
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=""

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
