#!/usr/bin/env bash
# tools/install into a staging root (DESTDIR), as a packager or a user
# runs it: the binaries, the unit pointing at them, the environment file
# written once and then kept, and systemd's own check of the unit
# (systemd-analyze verify; this machine runs no systemd to start it).
#   install_test.sh INSTALL ORCHESTRATORD
set -uo pipefail
# shellcheck source=tests/deploy/cases.sh
. "$(dirname "$0")/cases.sh"

install="$1" daemon="$2"
bindir="$(cd "$(dirname "$daemon")" && pwd)"
stage="$(mktemp -d /tmp/install-test.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
run() { ORCH_INSTALL_BIN_DIR="$bindir" DESTDIR="$stage" "$install" "$@" >"$stage.out" 2>&1; }

first() {
	run || { cat "$stage.out"; return 1; }
	[ -x "$stage/usr/local/bin/orchestratord" ] && [ -x "$stage/usr/local/bin/orchctl" ] &&
		[ "$(stat -c %a "$stage/etc/systemd/system/orchestratord.service")" = 644 ] &&
		[ "$(stat -c %a "$stage/etc/orchestratord/orchestratord.env")" = 640 ]
}
case_run "binaries, unit (0644) and environment file (0640) installed" first
runs() { "$stage/usr/local/bin/orchestratord" --version | grep -q '^orchestratord '; }
case_run "the installed binary runs" runs
unit_path() { grep -qx 'ExecStart=/usr/local/bin/orchestratord' "$stage/etc/systemd/system/orchestratord.service"; }
case_run "the unit starts the installed binary" unit_path
kept() {
	echo "API_KEY=mine" >>"$stage/etc/orchestratord/orchestratord.env"
	run && grep -q 'kept .*orchestratord.env' "$stage.out" &&
		tail -n1 "$stage/etc/orchestratord/orchestratord.env" | grep -qx 'API_KEY=mine'
}
case_run "a second install keeps the environment file" kept
prefix() {
	ORCH_INSTALL_BIN_DIR="$bindir" DESTDIR="$stage" PREFIX=/opt/orch "$install" >/dev/null 2>&1 &&
		[ -x "$stage/opt/orch/bin/orchestratord" ] &&
		grep -qx 'ExecStart=/opt/orch/bin/orchestratord' "$stage/etc/systemd/system/orchestratord.service"
}
case_run "PREFIX moves the binaries and the unit's ExecStart" prefix

verify() {
	local unit="$stage/verify/orchestratord.service" out
	mkdir -p "$stage/verify"
	# Its ExecStart must exist for verify: the staged binary.
	sed "s|^ExecStart=.*|ExecStart=$stage/opt/orch/bin/orchestratord|" \
		"$stage/etc/systemd/system/orchestratord.service" >"$unit"
	out="$(systemd-analyze verify "$unit" 2>&1)" || { echo "$out"; return 1; }
	# Unknown or misspelt directives are warnings only: none allowed.
	[ -z "$out" ] || { echo "$out"; return 1; }
}
if command -v systemd-analyze >/dev/null; then
	case_run "systemd-analyze verify: the unit is clean" verify
else
	case_skip "systemd-analyze verify: the unit is clean" "no systemd-analyze"
fi
rm -f "$stage.out"
case_summary
