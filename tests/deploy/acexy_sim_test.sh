#!/usr/bin/env bash
# The Acexy stand-in (`sim acexy`, tools/sim/acexy.c) against the real
# orchestratord, without Docker (a DOCKER_HOST nobody listens on): what it
# refuses to start with, /ace/status and its healthcheck following the
# orchestrator, the API key sent as a Bearer token, and a getstream that
# fails at the step the orchestrator refuses (no engine, Docker down).
# Its happy path, with engines, is compose_test's.
#   acexy_sim_test.sh SIM ORCHESTRATORD
set -uo pipefail
# shellcheck source=tests/deploy/cases.sh
. "$(dirname "$0")/cases.sh"

sim="$1" daemon="$2"
dir="$(mktemp -d /tmp/acexy-sim.XXXXXX)"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT

# A free loopback port (the kernel's pick, released at once).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bad_url() {
	ACEXY_ORCH_URL=orchestrator:8000 timeout 5 "$sim" acexy 2>"$dir/err"
	[ $? -eq 2 ] && grep -q 'ACEXY_ORCH_URL must be http://host:port' "$dir/err"
}
case_run "bad ACEXY_ORCH_URL: exit 2 naming it" bad_url

oport="$(free_port)" aport="$(free_port)" kport="$(free_port)"
env SIM_LISTEN_ADDR=127.0.0.1 ACEXY_LISTEN_ADDR=":$aport" \
	ACEXY_ORCH_URL="http://127.0.0.1:$oport" ACEXY_MAX_STREAMS_PER_ENGINE=2 \
	"$sim" acexy >"$dir/acexy.log" 2>&1 &
pids+=($!)
up() { curl -s -o /dev/null "http://127.0.0.1:$aport/ace/status"; }
wait_for 10 up

down_status() {
	local code
	code="$(curl -s -o "$dir/st" -w '%{http_code}' "http://127.0.0.1:$aport/ace/status")"
	[ "$code" = 503 ] && grep -q '"status":"orchestrator unreachable"' "$dir/st"
}
case_run "orchestrator down: /ace/status 503" down_status
down_hc() { ! SIM_MODE=acexy ACEXY_LISTEN_ADDR=":$aport" "$sim" healthcheck 2>/dev/null; }
case_run "orchestrator down: healthcheck fails" down_hc

# Each daemon its own database (two cannot share one file: the second
# would find it in use and stop).
APP_PORT="$oport" RPC_LISTEN="ipc://$dir/rpc.sock" TARGET_IMAGE=example/engine:1 DB_PATH="$dir/orch.db" \
	DOCKER_HOST="unix://$dir/no-docker.sock" "$daemon" >"$dir/orch.log" 2>&1 &
pids+=($!)
orch_up() { curl -sf -o /dev/null "http://127.0.0.1:$oport/healthz"; }
wait_for 10 orch_up

up_status() {
	curl -sf "http://127.0.0.1:$aport/ace/status" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "ok" and d["max_streams_per_engine"] == 2, d'
}
case_run "orchestrator up: /ace/status 200, ACEXY_MAX_STREAMS_PER_ENGINE read" up_status
up_hc() { SIM_MODE=acexy ACEXY_LISTEN_ADDR=":$aport" "$sim" healthcheck; }
case_run "orchestrator up: healthcheck passes" up_hc

no_engine() {
	local code
	code="$(curl -s -o "$dir/gs" -w '%{http_code}' "http://127.0.0.1:$aport/ace/getstream?id=abc")"
	[ "$code" = 502 ] && grep -q '"error":"provision refused","status":503' "$dir/gs"
}
case_run "no engine, Docker down: select then provision refused (502 names it)" no_engine
bad_id() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/ace/getstream?id=a%22b")" = 400 ]; }
case_run "an id that is not plain: 400" bad_id
stop_unknown() {
	curl -sf "http://127.0.0.1:$aport/ace/stop?stream_id=nope" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["updated"] is False, d'
}
case_run "stop of an unknown stream: the orchestrator's answer (updated false)" stop_unknown

# With API_KEY set, the key travels: the keyless stand-in is refused (401),
# the one with ACEXY_ORCH_APIKEY is not.
APP_PORT="$kport" API_KEY=sekret RPC_LISTEN="ipc://$dir/rpck.sock" TARGET_IMAGE=example/engine:1 DB_PATH="$dir/orchk.db" \
	DOCKER_HOST="unix://$dir/no-docker.sock" "$daemon" >"$dir/orchk.log" 2>&1 &
pids+=($!)
korch_up() { curl -sf -o /dev/null "http://127.0.0.1:$kport/healthz"; }
wait_for 10 korch_up
for key in "" sekret; do
	p="$(free_port)"
	env SIM_LISTEN_ADDR=127.0.0.1 ACEXY_LISTEN_ADDR=":$p" ACEXY_ORCH_URL="http://127.0.0.1:$kport" \
		ACEXY_ORCH_APIKEY="$key" "$sim" acexy >>"$dir/acexy.log" 2>&1 &
	pids+=($!)
	eval "port_${key:-none}=$p"
done
kup() { curl -s -o /dev/null "http://127.0.0.1:$port_none/ace/status" && curl -s -o /dev/null "http://127.0.0.1:$port_sekret/ace/status"; }
wait_for 10 kup
keyless() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port_none/ace/stop?stream_id=x")" = 502 ]; }
case_run "API_KEY set, no ACEXY_ORCH_APIKEY: refused" keyless
keyed() { curl -sf "http://127.0.0.1:$port_sekret/ace/stop?stream_id=x" | grep -q '"updated":false'; }
case_run "ACEXY_ORCH_APIKEY sent as Bearer: accepted" keyed

case_summary
