#!/usr/bin/env bash
# Issue 12's "done when", against the real Docker daemon: a real
# orchestratord with three engines (acestream-sim:latest, tools/build-images)
# and three active streams on them is SIGKILLed; one engine is removed
# while it is down; the restarted daemon lists the two others' streams as
# active on the same engines with their stats history, ends the third with
# engine_gone, does not stop the engines that carry streams once their
# grace period is over, and the event log tells what happened. Then a
# SIGTERM restart keeps them too. Skipped unless ORCH_TEST_DOCKER is set.
#
# Isolation: CONTAINER_LABEL orchestrator.test=strst-<pid>-<random>,
# ENGINE_NAME_PREFIX tsr<random>, PORT_RANGE_HOST 33170-33199 and
# ACE_HTTPS_RANGE 49170-49199 (no other test uses them); the teardown
# removes what carries the run's label and nothing else. Every wait is a
# loop on a condition with a deadline.
set -uo pipefail

if [ -z "${ORCH_TEST_DOCKER:-}" ]; then
	echo "skip: ORCH_TEST_DOCKER is not set"
	exit 0
fi
daemon="$(realpath "$1")"
ctl="$(realpath "$2")"
dir="$(mktemp -d /tmp/orch-strst.XXXXXX)"
url="ipc://$dir/rpc.sock"
sock="${DOCKER_HOST:-unix:///var/run/docker.sock}"
sock="${sock#unix://}"
tag="$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
label="orchestrator.test=strst-$$-$tag"
fails=0
passes=0
pid=""

docker_api() { # method, path
	curl -fsS --unix-socket "$sock" -X "$1" "http://docker$2"
}

cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	filter="$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label": [sys.argv[1]]})))' "$label")"
	for id in $(docker_api GET "/containers/json?all=1&filters=$filter" | python3 -c 'import json,sys; print(" ".join(c["Id"] for c in json.load(sys.stdin)))'); do
		docker_api DELETE "/containers/$id?force=1" >/dev/null || true
	done
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

# wait_for MS COMMAND...: polls every 100 ms until COMMAND succeeds.
wait_for() {
	local deadline=$(($(date +%s%N) / 1000000 + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $(($(date +%s%N) / 1000000)) -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

start_daemon() {
	(cd "$dir" && exec env -i PATH="$PATH" APP_HOST=127.0.0.1 APP_PORT=0 \
		RPC_LISTEN="$url" DOCKER_HOST="unix://$sock" \
		TARGET_IMAGE=acestream-sim:latest IMAGE_PULL=never \
		MIN_REPLICAS="${MINR:-0}" MAX_REPLICAS=3 CONTAINER_LABEL="$label" \
		ENGINE_NAME_PREFIX="tsr$tag" PORT_RANGE_HOST=33170-33199 \
		ACE_HTTPS_RANGE=49170-49199 ENGINE_GRACE_PERIOD_S=3 \
		HEALTH_CHECK_INTERVAL_S=1 COLLECT_INTERVAL_S=1 \
		DB_PATH="$dir/orch.db" LOG_LEVEL=info \
		"$daemon" --port-file "$dir/http.port" >>"$dir/daemon.log" 2>&1) &
	pid=$!
	wait_for 20000 "$ctl" --rpc "$url" --timeout 500 ping
}

ctl() { "$ctl" --rpc "$url" "$@"; }
json() { "$ctl" --rpc "$url" --json "$@"; }

# The first life keeps three engines (MIN_REPLICAS=3: the idle GC leaves
# them while the streams are being started); the later ones keep none, so
# an engine that looked idle after the restart would be stopped.
MINR=3 check "daemon starts" start_daemon

# Three healthy engines, a stream on each (getstream on the simulator,
# then the proxy's stream_started with its stat URL).
three_healthy() {
	json engines | python3 -c 'import json,sys; e=json.load(sys.stdin); assert len(e) == 3 and all(x["health_status"] == "healthy" for x in e)'
}
check "three engines" wait_for 90000 three_healthy
json engines >"$dir/engines"
n=0
for port in $(python3 -c 'import json,sys; print(" ".join(str(e["port"]) for e in json.load(open(sys.argv[1]))))' "$dir/engines"); do
	n=$((n + 1))
	wait_for 30000 curl -fsS "http://127.0.0.1:$port/ace/getstream?id=c$tag$n&format=json" || echo "engine on $port never answered"
	curl -fsS "http://127.0.0.1:$port/ace/getstream?id=c$tag$n&format=json" >"$dir/gs$n"
	psid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["response"]["playback_session_id"])' "$dir/gs$n")
	stat=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["response"]["stat_url"])' "$dir/gs$n")
	json start content_id "c$tag$n" --host 127.0.0.1 --port "$port" --session "$psid" --stat-url "$stat" --live 1 >"$dir/start$n"
done
json streams --status started >"$dir/before"
check "three active streams, one per engine" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert len(s) == 3 and len({x["container_id"] for x in s}) == 3, s' "$dir/before"

# Each has stats collected (COLLECT_INTERVAL_S=1), then more than a
# second passes: what SIGKILL may lose is the last second only.
has_stats() {
	for id in $(python3 -c 'import json,sys; print(" ".join(x["id"] for x in json.load(open(sys.argv[1]))))' "$dir/before"); do
		json stats "$id" | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d["stats"] if isinstance(d, dict) else d; assert len(d) >= 2' || return 1
	done
}
check "stats collected for every stream" wait_for 30000 has_stats
for id in $(python3 -c 'import json,sys; print(" ".join(x["id"] for x in json.load(open(sys.argv[1]))))' "$dir/before"); do
	json stats "$id" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["stats"] if isinstance(d, dict) else d))' >"$dir/nstats.$(echo "$id" | tr '|' _)"
done
sleep 1.2 # durability is within one second (the writer's promise)

kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=""
gone=$(python3 -c 'import json,sys; s=sorted(json.load(open(sys.argv[1])), key=lambda x: x["id"]); print(s[2]["container_id"])' "$dir/before")
gone_stream=$(python3 -c 'import json,sys; s=sorted(json.load(open(sys.argv[1])), key=lambda x: x["id"]); print(s[2]["id"])' "$dir/before")
check "an engine removed while the daemon is down" docker_api DELETE "/containers/$gone?force=1"

check "restarted after SIGKILL" start_daemon
two_active() {
	json streams --status started | python3 -c 'import json,sys; assert len(json.load(sys.stdin)) == 2'
}
check "the two streams whose engines still run are active again" wait_for 30000 two_active
json streams --status started >"$dir/after"
check "same streams on the same engines, with their stats history" python3 -c '
import json, sys, os
before = {x["id"]: x for x in json.load(open(sys.argv[1]))}
after = {x["id"]: x for x in json.load(open(sys.argv[2]))}
gone = sys.argv[3]
assert set(after) == set(before) - {gone}, (after, before)
for i, s in after.items():
    assert s["container_id"] == before[i]["container_id"], (s, before[i])
    assert s["started_at"] == before[i]["started_at"], (s, before[i])' "$dir/before" "$dir/after" "$gone_stream"
stats_kept() {
	for f in "$dir"/nstats.*; do
		id=$(basename "$f" | sed 's/^nstats\.//; s/_/|/')
		[ "$id" = "$gone_stream" ] && continue
		json stats "$id" | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d["stats"] if isinstance(d, dict) else d; assert len(d) >= int(open(sys.argv[1]).read()), (len(d))' "$f" || return 1
	done
}
check "every snapshot seen before the kill is back" stats_kept
check "the stream of the removed engine ended: engine_gone" bash -c \
	"'$ctl' --rpc '$url' --json streams --status ended | python3 -c 'import json,sys; d=[s for s in json.load(sys.stdin) if s[\"id\"] == sys.argv[1]]; assert len(d) == 1 and d[0][\"end_reason\"] == \"engine_gone\", d' '$gone_stream'"
check "the event log tells what happened" bash -c \
	"'$ctl' --rpc '$url' --json events --type orchestrator_started,stream_started,stream_restored,stream_ended --limit 1000 | python3 -c '
import json, sys
d = json.load(sys.stdin)
t = [e[\"type\"] for e in d]
assert t.count(\"orchestrator_started\") == 2 and t.count(\"stream_started\") == 3, t
assert t.count(\"stream_restored\") == 2, t
assert any(e[\"type\"] == \"stream_ended\" and e.get(\"stream_id\") == sys.argv[1] and e[\"data\"].get(\"reason\") == \"engine_gone\" for e in d), d' '$gone_stream'"
# ENGINE_GRACE_PERIOD_S=3 and MIN_REPLICAS=0: an engine that looked idle after the restart
# would be stopped by now; the idle GC runs now, by hand, too.
sleep 4
ctl gc >/dev/null
check "the engines carrying restored streams are not stopped as idle" bash -c \
	"'$ctl' --rpc '$url' --json engines | python3 -c 'import json,sys; e=json.load(sys.stdin); assert len(e) == 2 and all(len(x[\"streams\"]) == 1 for x in e), e'"

# SIGTERM: flushed and gone within 2 s; the streams come back again.
t0=$(date +%s%N)
kill -TERM "$pid"
wait "$pid"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
echo "  exited $rc, $ms ms after SIGTERM"
pid=""
check "SIGTERM: exit 0 within 2 s" test "$rc" -eq 0 -a "$ms" -lt 2000
check "restarted after SIGTERM" start_daemon
check "the two streams are active again" wait_for 30000 two_active
check "their engines too" bash -c \
	"'$ctl' --rpc '$url' --json streams --status started | python3 -c 'import json,sys; a={s[\"id\"]: s[\"container_id\"] for s in json.load(sys.stdin)}; b={s[\"id\"]: s[\"container_id\"] for s in json.load(open(sys.argv[1]))}; assert all(b[i] == c for i, c in a.items()), (a, b)' '$dir/after'"
kill -TERM "$pid"
wait "$pid"
pid=""

if [ "$fails" -ne 0 ]; then
	echo "--- daemon.log"
	cat "$dir/daemon.log"
fi
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
