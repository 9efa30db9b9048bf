#!/usr/bin/env bash
# Versioning: each binary's --version line, the VERSION file and
# CHANGELOG.md's newest entry agree.
#   version_test.sh VERSION CHANGELOG.md BINARY...
set -uo pipefail
# shellcheck source=tests/deploy/cases.sh
. "$(dirname "$0")/cases.sh"

version_file="$1" changelog="$2"
shift 2
version="$(tr -d ' \n' <"$version_file")"

semver() { [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; }
case_run "VERSION is a semantic version ($version)" semver

newest() { # the newest "## X.Y.Z" heading of CHANGELOG.md
	local v
	v="$(grep -m1 -E '^## [0-9]' "$changelog" | awk '{print $2}')"
	[ "$v" = "$version" ] || { echo "CHANGELOG.md's newest entry is '$v', VERSION says '$version'"; return 1; }
}
case_run "CHANGELOG.md's newest entry is VERSION" newest

for bin in "$@"; do
	prog="$(basename "$bin")"
	line() {
		local out re
		out="$("$bin" --version)" || { echo "$prog --version failed"; return 1; }
		# name version (revision <12 hex[-dirty] | unknown>, build <mode>)
		re="^$prog $version \(revision ([0-9a-f]{12}(-dirty)?|unknown), build (opt|fastbuild|dbg)(\+asan)?\)$"
		[[ $out =~ $re ]] || { echo "unexpected: $out"; return 1; }
	}
	case_run "$prog --version: version, revision, build" line
	one_line() { [ "$("$bin" --version | wc -l)" -eq 1 ]; }
	case_run "$prog --version prints one line and exits 0" one_line
done

case_summary
