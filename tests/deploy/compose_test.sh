#!/usr/bin/env bash
# The compose stack as users bring it up (deploy/docker-compose.yml with
# deploy/docker-compose.sim.yml, Debian's docker-compose v1, the `direct`
# profile), against the real daemon (skipped unless ORCH_TEST_DOCKER is
# set): .env from .env.example; up; the orchestrator healthy by its own
# healthcheck, MIN_REPLICAS engines healthy on the stack's network; the
# Acexy stand-in healthy (it reaches the orchestrator by service name with
# the API key) and a stream through it lands on an engine by name, is
# recorded and polled for stats from inside the orchestrator's container;
# a free engine is kept beside it; `restart` adopts the same engines;
# `down` leaves the engines, which the next `up` adopts; removing the
# engines first, `down -v` removes the network and the volume too.
#
# Isolation: project orchtest-compose-<run>, network
# orchtest-compose-<run>, images acestream-orchestrator:test-c<run> and
# acexy-sim:test-c<run>, engines labelled orchestrator.test=compose-<run>
# named tcmp<run>-N on ports 31300-31349 (HTTPS 48300-48349), published
# ports picked by the kernel; all removed at the end.
#   compose_test.sh IMAGE_TOOL ORCHESTRATORD SIM DEPLOY_DIR
set -uo pipefail
# shellcheck source=tests/deploy/cases.sh
. "$(dirname "$0")/cases.sh"

image_tool="$1" daemon="$2" sim="$3" deploy="$4"
if [ -z "${ORCH_TEST_DOCKER:-}" ]; then
	case_skip "compose tests" "ORCH_TEST_DOCKER is not set"
	case_summary
	exit 0
fi

docker=/usr/bin/docker
[ -x "$docker" ] || docker="$(command -v docker)"
run_id="$$$RANDOM"
project="orchtest-compose-$run_id"
net="orchtest-compose-$run_id"
label="orchestrator.test=compose-$run_id"
orch_tag="test-c$run_id"
acexy_image="acexy-sim:test-c$run_id"
key="compose-key-$run_id"
dir="$(mktemp -d /tmp/compose-test.XXXXXX)"

compose() {
	(cd "$dir" && docker-compose -p "$project" -f docker-compose.yml \
		-f docker-compose.sim.yml "$@")
}
engine_ids() { "$docker" ps -q --no-trunc --filter "label=$label" | sort; }
cleanup() {
	local ids
	compose down -v --remove-orphans >/dev/null 2>&1
	ids="$("$docker" ps -aq --filter "label=$label")"
	# shellcheck disable=SC2086 # one id per word
	[ -z "$ids" ] || "$docker" rm -fv $ids >/dev/null 2>&1
	compose down -v >/dev/null 2>&1 # the network, once the engines left it
	"$docker" network rm "$net" >/dev/null 2>&1
	"$docker" rmi "acestream-orchestrator:$orch_tag" "$acexy_image" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT

images() {
	local ctx="$dir/acexy-ctx"
	ORCH_IMAGE_BIN_DIR="$(dirname "$daemon")" \
		ORCH_IMAGE_TAGS="acestream-orchestrator:$orch_tag" \
		"$image_tool" >"$dir/image.log" 2>&1 || { cat "$dir/image.log"; return 1; }
	mkdir -p "$ctx" && cp "$sim" "$ctx/sim" && chmod 0755 "$ctx/sim" &&
		cp "$(dirname "$sim")/Dockerfile.acexy" "$ctx/Dockerfile" || return 1
	# Under --config=asan the simulator is dynamic: its libraries too,
	# gathered as for the orchestrator's image.
	if ldd "$sim" >/dev/null 2>&1; then
		"$(dirname "$image_tool")/rootfs" "$ctx/r" "$sim" &&
			mkdir "$ctx/libroot" && cp -a "$ctx/r/rootfs/lib"* "$ctx/libroot/" &&
			sed -i 's|^COPY sim /sim|COPY libroot /\n&|' "$ctx/Dockerfile" || return 1
		rm -rf "$ctx/r"
	fi
	DOCKER_BUILDKIT=0 "$docker" build -q -t "$acexy_image" "$ctx" >/dev/null &&
		"$docker" image inspect acestream-sim:latest >/dev/null 2>&1 ||
		{ echo "acestream-sim:latest missing: run tools/build-images"; return 1; }
}
case_run "images: the orchestrator (tools/image), the Acexy stand-in, the engine simulator" images

# The user's steps: the files, .env from .env.example, then settings.
cp "$deploy/docker-compose.yml" "$deploy/docker-compose.sim.yml" "$dir/"
cp "$deploy/.env.example" "$dir/.env"
cat >>"$dir/.env" <<EOF
DOCKER_GID=$(stat -c %g /var/run/docker.sock)
ORCH_VERSION=$orch_tag
ACEXY_SIM_IMAGE=$acexy_image
ORCH_NETWORK=$net
ORCH_PUBLISH=127.0.0.1:
ACEXY_PUBLISH=127.0.0.1:
API_KEY=$key
CONTAINER_LABEL=$label
ENGINE_NAME_PREFIX=tcmp$run_id
PORT_RANGE_HOST=31300-31349
ACE_HTTPS_RANGE=48300-48349
MIN_REPLICAS=1
HEALTH_CHECK_INTERVAL_S=1
COLLECT_INTERVAL_S=1
EOF

published() { compose port "$1" "$2" 2>/dev/null | tail -1; }
api() { curl -sf --max-time 5 "http://$orch$1" "${@:2}"; }
acexy() { curl -s --max-time 20 "http://$ax$1"; }
# "id name host health nstreams" per engine.
engines() {
	api /engines | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    print(e["container_id"], e["container_name"], e["host"], e["health_status"], len(e["streams"]))'
}
health() { "$docker" inspect -f '{{.State.Health.Status}}' "$(compose ps -q "$1")" 2>/dev/null; }

up() {
	compose up -d >"$dir/up.log" 2>&1 || { cat "$dir/up.log"; return 1; }
	orch="$(published orchestrator 8000)" ax="$(published acexy 8080)"
	[ -n "$orch" ] && [ -n "$ax" ] || return 1
	# The direct profile (COMPOSE_PROFILES in .env): no Gluetun.
	[ "$(compose ps --services --filter status=running | sort | tr '\n' ' ')" = "acexy orchestrator " ] ||
		{ compose ps; return 1; }
}
case_run "up -d: orchestrator and Acexy (profile direct from .env), no Gluetun" up

orch_healthy() { [ "$(health orchestrator)" = healthy ]; }
orch_hc() { wait_for 60 orch_healthy || { compose logs orchestrator | tail -20; return 1; }; }
case_run "the orchestrator turns healthy (its healthcheck)" orch_hc

one_healthy() { engines | awk '$4 == "healthy" { k++ } END { exit !(k >= 1) }'; }
engines_up() {
	wait_for 40 one_healthy || { engines; compose logs orchestrator | tail -20; return 1; }
	compose logs --no-color orchestrator >"$dir/orch.log" 2>&1
	grep -q "probes: network: .* on DOCKER_NETWORK=$net" "$dir/orch.log" ||
		{ echo "no probes line:"; grep probes "$dir/orch.log"; return 1; }
	for id in $(engine_ids); do
		"$docker" inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$id" |
			grep -qw "$net" || { echo "$id not on $net"; return 1; }
	done
}
case_run "MIN_REPLICAS engines healthy on the stack's network, probed by name" engines_up

acexy_healthy() { [ "$(health acexy)" = healthy ]; }
acexy_hc() { wait_for 30 acexy_healthy || { compose logs acexy | tail; return 1; }; }
case_run "the Acexy stand-in turns healthy: it reaches http://orchestrator:8000" acexy_hc

stream() {
	local out
	out="$(acexy "/ace/getstream?id=compose$run_id")"
	read -r sid eng_host < <(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(d["stream_id"], d["engine"]["host"])' "$out") || { echo "$out"; return 1; }
	# The engine by its container name, the stream recorded on it.
	engines | grep -q " $eng_host $eng_host healthy 1$" || { engines; return 1; }
	api "/streams?status=started" | grep -q "\"id\":\"$sid\""
}
case_run "a stream through Acexy: an engine by name, recorded by the orchestrator" stream

stats() {
	has_stats() {
		api "/streams?status=started" | python3 -c '
import json, sys
s = [s for s in json.load(sys.stdin) if s["id"] == sys.argv[1]]
assert s and s[0]["stats"] is not None and s[0]["stats"]["peers"] == 12' "$sid" 2>/dev/null
	}
	wait_for 20 has_stats
}
case_run "its stats are polled from inside the orchestrator's container" stats

free_kept() {
	two() { engines | awk '$4 == "healthy" && $5 == 0 { k++ } END { exit !(k >= 1) }'; }
	wait_for 40 two || { engines; return 1; }
	# The next stream finds that free engine: Acexy provisions nothing.
	local before out
	before="$(engine_ids | wc -l)"
	out="$(acexy "/ace/getstream?id=compose2$run_id")"
	echo "$out" | grep -q '"stream_id"' || { echo "$out"; return 1; }
	[ "$(engines | awk '$5 == 1' | wc -l)" -eq 2 ] && [ "$before" -ge 2 ]
}
case_run "MIN_REPLICAS keeps a free engine beside the busy one; the next stream gets it" free_kept

stop_stream() {
	acexy "/ace/stop?stream_id=$sid" | grep -q '"updated":true' &&
		! api "/streams?status=started" | grep -q "\"id\":\"$sid\""
}
case_run "stop through Acexy: the stream ends" stop_stream

restart() {
	local before
	before="$(engine_ids)"
	compose restart orchestrator >/dev/null 2>&1 || return 1
	orch="$(published orchestrator 8000)"
	healthz() { api /healthz >/dev/null; }
	wait_for 30 healthz || return 1
	same() { [ "$(engines | awk '{print $1}' | sort)" = "$before" ]; }
	wait_for 20 same || { echo "before: $before"; engines; return 1; }
	[ "$(engine_ids)" = "$before" ]
}
case_run "compose restart: the same engines adopted, none added" restart

# down: the stack's containers go; the engines stay (they outlive the
# orchestrator, as on a host), and with them the network they use and,
# since compose stops at that network, the volume. The next up adopts them.
down_up() {
	local before
	before="$(engine_ids)"
	compose down >"$dir/down.log" 2>&1
	[ -z "$(compose ps -q)" ] || { echo "left:"; compose ps; return 1; }
	[ "$(engine_ids)" = "$before" ] || { echo "engines changed"; return 1; }
	compose up -d >"$dir/up2.log" 2>&1 || { cat "$dir/up2.log"; return 1; }
	orch="$(published orchestrator 8000)"
	adopted() { [ "$(engines 2>/dev/null | awk '{print $1}' | sort)" = "$before" ]; }
	wait_for 30 adopted || { echo "before: $before"; engines; return 1; }
}
case_run "down leaves the engines; up again adopts the same ones" down_up

# The full teardown of docs/DEPLOY.md: the engines first, then down -v.
teardown() {
	local ids vols
	compose stop orchestrator >/dev/null 2>&1
	ids="$(engine_ids)"
	# shellcheck disable=SC2086 # one id per word
	[ -z "$ids" ] || "$docker" rm -f $ids >/dev/null || return 1
	compose down -v >"$dir/down2.log" 2>&1 || { cat "$dir/down2.log"; return 1; }
	vols="$("$docker" volume ls -q --filter "label=com.docker.compose.project=$project")"
	[ -z "$vols" ] || { echo "volumes left: $vols"; return 1; }
	! "$docker" network inspect "$net" >/dev/null 2>&1 || { echo "network left"; return 1; }
}
case_run "teardown: engines removed, then down -v removes network and volume" teardown

case_summary
