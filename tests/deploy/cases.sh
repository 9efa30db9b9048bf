# shellcheck shell=bash
# Test cases for the shell tests of tests/deploy, reported the way cmocka
# reports them ("[  PASSED  ] N test(s)."), so that tools/test counts each
# case and names the failed ones. Sourced, never run.
#
#   case_run NAME COMMAND...   runs one case: passes when COMMAND succeeds
#   case_skip NAME WHY         a case that cannot run here (counted passed,
#                              with the reason on its line)
#   case_summary               prints the summary; returns 1 if any failed

CASES_PASSED=0
CASES_FAILED=0
CASES_FAILED_NAMES=()

# Locals are prefixed: bash scopes them dynamically, so a plain "name"
# here would hide the caller's own inside COMMAND.
case_run() {
	local _case="$1"
	shift
	echo "[ RUN      ] $_case"
	if "$@"; then
		echo "[       OK ] $_case"
		CASES_PASSED=$((CASES_PASSED + 1))
	else
		echo "[  FAILED  ] $_case"
		CASES_FAILED=$((CASES_FAILED + 1))
		CASES_FAILED_NAMES+=("$_case")
	fi
}

case_skip() {
	echo "[ RUN      ] $1"
	echo "[       OK ] $1 (skipped: $2)"
	CASES_PASSED=$((CASES_PASSED + 1))
}

case_summary() {
	local _n
	echo "[==========] $((CASES_PASSED + CASES_FAILED)) test(s) run."
	echo "[  PASSED  ] $CASES_PASSED test(s)."
	if ((CASES_FAILED)); then
		echo "[  FAILED  ] $CASES_FAILED test(s), listed below:"
		for _n in "${CASES_FAILED_NAMES[@]}"; do
			echo "[  FAILED  ] $_n"
		done
		return 1
	fi
	return 0
}

# Waits until COMMAND succeeds, polling every 0.2 s, for at most SECONDS.
#   wait_for SECONDS COMMAND...
wait_for() {
	local _deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < _deadline)) || return 1
		sleep 0.2
	done
}
