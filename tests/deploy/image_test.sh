#!/usr/bin/env bash
# The orchestrator's image as users run it, against the real daemon
# (skipped unless ORCH_TEST_DOCKER is set): tools/image builds it from
# this test's binaries; run with the socket on a test network with
# DOCKER_NETWORK, it answers on its published port, brings MIN_REPLICAS
# simulator engines up healthy (probed by name from inside its
# container), provisions on request, adopts the same engines across
# `docker restart`, turns healthy by its own HEALTHCHECK, and leaves on
# `docker stop -t 2` with status 0 (not killed), the engines still
# running. Without a shared network it says why its probes cannot work;
# with ENGINE_HOST it probes through the host gateway.
#
# Isolation: image tag acestream-orchestrator:test-<run>, containers named
# orchtest-deploy-<run>-*, engines labelled orchestrator.test=deploy-<run>
# and named tdep<run>-N, network orchtest-deploy-<run>, engine ports
# 31200-31249 (HTTPS 48200-48249; no other test uses them); everything,
# the containers' anonymous volumes too, is removed at the end.
#   image_test.sh IMAGE_TOOL ORCHESTRATORD SIM_IMAGE
set -uo pipefail
# shellcheck source=tests/deploy/cases.sh
. "$(dirname "$0")/cases.sh"

image_tool="$1" daemon="$2" sim_image="${3:-acestream-sim:latest}"
if [ -z "${ORCH_TEST_DOCKER:-}" ]; then
	case_skip "image tests" "ORCH_TEST_DOCKER is not set"
	case_summary
	exit 0
fi

docker=/usr/bin/docker
[ -x "$docker" ] || docker="$(command -v docker)"
run_id="$$$RANDOM"
tag="acestream-orchestrator:test-$run_id"
name="orchtest-deploy-$run_id"
net="orchtest-deploy-$run_id"
label="orchestrator.test=deploy-$run_id"
# The other two orchestrators' engines: never the first one's to adopt.
label_gw="orchestrator.test=deploy-$run_id-gw"
label_nonet="orchestrator.test=deploy-$run_id-nonet"
gid="$(stat -c %g /var/run/docker.sock)"
# Seen from a user namespace (a sandbox), an unmapped group reads 65534.
[ "$gid" != 65534 ] || echo "warning: the socket's group reads 65534 (nobody): run unsandboxed" >&2
dir="$(mktemp -d /tmp/image-test.XXXXXX)"

cleanup() {
	local ids l
	for l in "$label" "$label_gw" "$label_nonet"; do
		ids="$("$docker" ps -aq --filter "label=$l")"
		# shellcheck disable=SC2086 # one id per word
		[ -z "$ids" ] || "$docker" rm -fv $ids >/dev/null 2>&1
	done
	for c in "$name" "$name-nonet" "$name-gw"; do
		"$docker" rm -fv "$c" >/dev/null 2>&1
	done
	"$docker" network rm "$net" >/dev/null 2>&1
	"$docker" rmi "$tag" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT

# The orchestrator's REST API through its published port.
api() { curl -sf --max-time 5 "http://127.0.0.1:$port$1" "${@:2}"; }
# engines as "id name host health" lines.
engines() {
	api /engines | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    print(e["container_id"], e["container_name"], e["host"], e["health_status"])'
}
n_healthy() { engines | awk -v n="$1" '$4 == "healthy" { k++ } END { exit !(k + 0 >= n) }'; }
engine_ids() { "$docker" ps -q --no-trunc --filter "label=$label" | sort; }

built() {
	ORCH_IMAGE_BIN_DIR="$(dirname "$daemon")" ORCH_IMAGE_TAGS="$tag" \
		"$image_tool" >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; return 1; }
	grep -q "^image: $tag [0-9]* bytes" "$dir/build.log"
}
case_run "tools/image builds the image offline from these binaries" built
"$docker" image inspect "$tag" >/dev/null 2>&1 || { case_summary; exit 1; }

config() {
	"$docker" image inspect "$tag" --format '{{json .Config}}' | python3 -c '
import json, sys
c = json.load(sys.stdin)
assert c["User"] == "65532:65532", c["User"]
assert c["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/orchestratord", "healthcheck"], c["Healthcheck"]
assert "8000/tcp" in c["ExposedPorts"], c
assert c["StopSignal"] == "SIGTERM", c
assert "/data" in c["Volumes"], c
assert c["Entrypoint"] == ["/usr/local/bin/orchestratord"], c
assert "DB_PATH=/data/orchestrator.db" in c["Env"], c'
}
case_run "image config: user 65532, exec-form HEALTHCHECK, EXPOSE 8000, STOPSIGNAL, VOLUME /data" config

# Exactly the libraries ldd names, and nothing else but the binaries and
# the few /etc files: the exported file system against ldd.
layout() {
	local cid
	cid="$("$docker" create "$tag")" || return 1
	"$docker" export "$cid" | tar -t | sed 's|^|/|; s|/$||' | sort >"$dir/files"
	"$docker" rm -v "$cid" >/dev/null
	for b in "$daemon" "$(dirname "$daemon")/orchctl"; do
		ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
	done | sort -u >"$dir/want-libs"
	grep -E '\.so' "$dir/files" | sort >"$dir/libs"
	diff "$dir/want-libs" "$dir/libs" || return 1
	# Everything else: the binaries, /etc's three, /tmp, /data and what
	# Docker itself adds to every container (.dockerenv, dev, proc, sys,
	# etc/hosts...) and the directories on the way.
	grep -vE '\.so|^/(usr(/local(/bin(/orchestratord|/orchctl)?)?)?|lib[^/]*(/[^/]*)?|etc(/(passwd|group|nsswitch.conf|hosts|hostname|resolv.conf|mtab))?|tmp|data|dev(/.*)?|proc|sys|\.dockerenv)$' \
		"$dir/files" >"$dir/extra" || true
	[ ! -s "$dir/extra" ] || { echo "unexpected files:"; cat "$dir/extra"; return 1; }
}
case_run "image holds the binaries and exactly the libraries ldd lists" layout

"$docker" network create --label "$label" "$net" >/dev/null
start() {
	"$docker" run -d --name "$name" --network "$net" --group-add "$gid" \
		-v /var/run/docker.sock:/var/run/docker.sock -p 127.0.0.1::8000 \
		-e DOCKER_NETWORK="$net" -e TARGET_IMAGE="$sim_image" -e IMAGE_PULL=never \
		-e CONTAINER_LABEL="$label" -e ENGINE_NAME_PREFIX="tdep$run_id" \
		-e PORT_RANGE_HOST=31200-31249 -e ACE_HTTPS_RANGE=48200-48249 \
		-e MIN_REPLICAS=2 -e HEALTH_CHECK_INTERVAL_S=1 -e API_KEY=deploytest \
		"$tag" >/dev/null || return 1
	port="$("$docker" port "$name" 8000/tcp | head -1 | sed 's/.*://')"
	[ -n "$port" ]
}
case_run "docker run: socket mounted, non-root with the socket's group, on a test network" start
healthz() { api /healthz | grep -q '"status":"ok","version":"'; }
answers() { wait_for 20 healthz; }
case_run "answers /healthz on its published port" answers
# Docker's log driver copies the line after the process wrote it, so the
# line is waited for even though /healthz answers only after it is said.
said_by_name() { "$docker" logs "$name" 2>&1 | grep -q "probes: network: in container $name on DOCKER_NETWORK=$net"; }
by_name() { wait_for 10 said_by_name || { "$docker" logs "$name" 2>&1 | tail -5; return 1; }; }
case_run "detects its container and network: probes by name on DOCKER_NETWORK" by_name

min_healthy() {
	wait_for 40 n_healthy 2 || { engines; "$docker" logs "$name" 2>&1 | tail -20; return 1; }
	# Advertised by name, and on the test network.
	engines | awk -v p="tdep$run_id-" '$3 != $2 || index($2, p) != 1 { bad = 1 } END { exit bad }' &&
		for id in $(engine_ids); do
			"$docker" inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$id" |
				grep -qw "$net" || return 1
		done
}
case_run "MIN_REPLICAS=2 engines up and healthy, probed by name from inside the container" min_healthy

provision() {
	local out
	out="$(api /provision/acestream -X POST -H 'Authorization: Bearer deploytest' \
		-H 'Content-Type: application/json' -d '{"labels":{"via":"image-test"}}')" || return 1
	new="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["container_id"])' "$out")"
	have() { engines | grep -q "^$new .* healthy$"; }
	wait_for 30 have
}
case_run "provisions on request; the new engine turns healthy" provision

restart() {
	local before after started_before started_after
	before="$(engine_ids)"
	started_before="$(for id in $before; do "$docker" inspect -f '{{.State.StartedAt}}' "$id"; done)"
	"$docker" restart -t 5 "$name" >/dev/null || return 1
	# The published port may change with the restart.
	port="$("$docker" port "$name" 8000/tcp | head -1 | sed 's/.*://')"
	wait_for 20 healthz || { echo "no /healthz after the restart"; return 1; }
	wait_for 30 n_healthy 3 || { echo "not 3 healthy:"; engines; return 1; }
	after="$(engine_ids)"
	started_after="$(for id in $after; do "$docker" inspect -f '{{.State.StartedAt}}' "$id"; done)"
	[ "$before" = "$after" ] || { echo "engines before: $before; after: $after"; return 1; }
	[ "$started_before" = "$started_after" ] || { echo "an engine was restarted"; return 1; }
	[ "$(engines | wc -l)" -eq 3 ] || { engines; return 1; }
	# This start's lines: after the last "signal 15".
	"$docker" logs "$name" 2>&1 | awk '/signal 15: shutting down/ { n = 0; next } /adopted engine/ { n++ } END { exit !(n == 3) }' ||
		{ echo "not 3 adoptions:"; "$docker" logs "$name" 2>&1 | tail -12; return 1; }
}
case_run "docker restart: the same 3 engines adopted, none stopped, started or duplicated" restart

hc_healthy() { [ "$("$docker" inspect -f '{{.State.Health.Status}}' "$name")" = healthy ]; }
healthcheck() { wait_for 60 hc_healthy || "$docker" inspect -f '{{json .State.Health}}' "$name"; hc_healthy; }
case_run "the image's HEALTHCHECK turns healthy" healthcheck

stop() {
	local before
	before="$(engine_ids)"
	"$docker" stop -t 2 "$name" >/dev/null || return 1
	# Exit 0: it left on SIGTERM; a kill after the 2 s would read 137.
	[ "$("$docker" inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' "$name")" = "0 false" ] ||
		{ "$docker" inspect -f '{{json .State}}' "$name"; return 1; }
	[ "$(engine_ids)" = "$before" ] && [ -n "$before" ] &&
		for id in $before; do
			[ "$("$docker" inspect -f '{{.State.Running}}' "$id")" = true ] || return 1
		done
}
case_run "docker stop -t 2: exits 0 (no SIGKILL), engines left running" stop

# No shared network, ports on the host's loopback: it says why probes fail.
nonet() {
	"$docker" run -d --name "$name-nonet" --group-add "$gid" \
		-v /var/run/docker.sock:/var/run/docker.sock \
		-e TARGET_IMAGE="$sim_image" -e CONTAINER_LABEL="$label_nonet" \
		-e MIN_REPLICAS=0 "$tag" >/dev/null || return 1
	said() { "$docker" logs "$name-nonet" 2>&1 | grep -q 'warn  probes: host: in container .* without DOCKER_NETWORK .* cannot reach, so every probe would fail'; }
	wait_for 20 said || { "$docker" logs "$name-nonet" 2>&1 | tail -5; return 1; }
}
case_run "no shared network: says at start why probes cannot work" nonet

# No shared network, ENGINE_HOST: ports on 0.0.0.0, probes via the gateway.
gateway() {
	"$docker" run -d --name "$name-gw" --group-add "$gid" \
		-v /var/run/docker.sock:/var/run/docker.sock -p 127.0.0.1::8000 \
		-e ENGINE_HOST=127.0.0.1 -e TARGET_IMAGE="$sim_image" -e IMAGE_PULL=never \
		-e CONTAINER_LABEL="$label_gw" -e ENGINE_NAME_PREFIX="tdepgw$run_id" \
		-e PORT_RANGE_HOST=31230-31249 -e ACE_HTTPS_RANGE=48230-48249 \
		-e MIN_REPLICAS=1 -e HEALTH_CHECK_INTERVAL_S=1 "$tag" >/dev/null || return 1
	port="$("$docker" port "$name-gw" 8000/tcp | head -1 | sed 's/.*://')"
	wait_for 20 healthz || return 1
	gw_said() { "$docker" logs "$name-gw" 2>&1 | grep -q 'probes: gateway: .* through the host gateway at '; }
	wait_for 10 gw_said || { "$docker" logs "$name-gw" 2>&1 | tail -5; return 1; }
	gw_engine() { engines | grep -q " tdepgw$run_id-[0-9]* .* healthy$"; }
	wait_for 40 gw_engine || { engines; "$docker" logs "$name-gw" 2>&1 | tail -5; return 1; }
}
case_run "no shared network, ENGINE_HOST: engines probed through the host gateway, healthy" gateway

case_summary
