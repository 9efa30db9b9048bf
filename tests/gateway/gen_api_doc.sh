#!/usr/bin/env bash
# Regenerates docs/API.md: runs the two gateway test binaries with
# ORCH_API_DOC set (each appends the HTTP exchanges it makes), then fills
# tests/gateway/API.md.in with them (gen_api_doc.py). Needs Docker and
# acestream-sim:latest (tools/build-images) for the real daemon's flow.
#
#   tests/gateway/gen_api_doc.sh
#   BAZEL="bazel --output_base=/tmp/b" tests/gateway/gen_api_doc.sh
#
# The tests' verdicts are printed; a failing case (a known bug marked
# BUG in the tests) does not stop the document from being written.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
read -r -a bazel <<<"${BAZEL:-bazel}"
cd "$root"
"${bazel[@]}" build --symlink_prefix=/ //tests/gateway:gateway_test \
	//tests/gateway:acexy_flow_test //src/cmd:orchestratord
bin="$("${bazel[@]}" info bazel-bin 2>/dev/null)"
tmp="$(mktemp -d /tmp/gen-api-doc.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

set +e
ORCH_API_DOC="$tmp/unit.md" "$bin/tests/gateway/gateway_test" >"$tmp/unit.log" 2>&1
echo "gateway_test: exit $?; $(grep -E "^\[  PASSED  \] [0-9]|FAILED TEST" "$tmp/unit.log" | tr '\n' ' ')"
ORCH_TEST_DOCKER=1 ORCH_API_DOC="$tmp/flow.md" \
	"$bin/tests/gateway/acexy_flow_test" "$bin/src/cmd/orchestratord" >"$tmp/flow.log" 2>&1
echo "acexy_flow_test: exit $?; $(grep -E "^\[  PASSED  \] [0-9]|FAILED TEST" "$tmp/flow.log" | tr '\n' ' ')"
grep -E 'answered in' "$tmp/flow.log" || true
set -e

python3 tests/gateway/gen_api_doc.py tests/gateway/API.md.in "$tmp/flow.md" \
	"$tmp/unit.md" >"$tmp/API.md"
mv "$tmp/API.md" docs/API.md
echo "wrote docs/API.md ($(wc -l <docs/API.md) lines)"
