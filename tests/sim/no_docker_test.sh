#!/usr/bin/env bash
# The simulator and its conformance tests must not need Docker: they are
# what the Docker-based tests are checked against. This runs the suites
# with no docker on PATH and DOCKER_HOST pointing nowhere, and checks that
# the binary needs no dynamic loader (it is the whole FROM scratch image).
#
# $1: "static" to require a static binary, "dynamic-ok" under ASan (which
# cannot link statically).
set -euo pipefail

root="${TEST_SRCDIR:?}/${TEST_WORKSPACE:-orchestrator}"
sim="$root/tools/sim/sim"
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -x "$sim" ] || fail "no sim binary at $sim"
case "${1:-static}" in
static)
	# A dynamic ELF has a PT_INTERP program header naming its loader.
	if readelf -lW "$sim" | grep -q 'INTERP'; then
		fail "tools/sim/sim is dynamically linked"
	fi
	echo "ok: sim is statically linked"
	;;
dynamic-ok) echo "skip: static check (sanitizer build)" ;;
*) fail "unknown mode $1" ;;
esac

nodocker=(env -i
	PATH=/nonexistent
	DOCKER_HOST=unix:///nonexistent/docker.sock
	TEST_SRCDIR="$TEST_SRCDIR"
	TEST_TMPDIR="${TEST_TMPDIR:-/tmp}"
	TEST_WORKSPACE="${TEST_WORKSPACE:-orchestrator}"
	ASAN_OPTIONS="${ASAN_OPTIONS:-}"
	UBSAN_OPTIONS="${UBSAN_OPTIONS:-}")

# A docker client would fail here; make sure that is really so.
if "${nodocker[@]}" /bin/sh -c 'command -v docker' >/dev/null 2>&1; then
	fail "docker still reachable on PATH"
fi

for t in gluetun_test healthcheck_test; do
	echo "== $t without docker"
	"${nodocker[@]}" "$root/tests/sim/$t" || fail "$t needs something missing"
done
echo "ok: suites pass without docker"
