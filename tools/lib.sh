# shellcheck shell=bash
# Shell functions shared by tools/setup, tools/test and tools/run; sourced,
# never run. Docker handling lives here so that every script agrees on which
# dockerd is "ours" and only ever stops that one.

# A dockerd this project starts logs here and leaves its pid here, so a later
# script (tools/test after tools/setup) can stop exactly that process.
DOCKERD_LOG="${DOCKERD_LOG:-/tmp/orchestrator-dockerd.log}"
DOCKERD_PIDFILE="${DOCKERD_PIDFILE:-/tmp/orchestrator-dockerd.pid}"
# Never inherited: only this process's own ensure_docker may claim a dockerd.
STARTED_DOCKERD=0

# Debian's docker.io client matches its daemon; a newer client in
# /usr/local/bin may shadow it on PATH and refuse the older API.
pick_docker() {
	local c
	for c in /usr/bin/docker "$(command -v docker || true)"; do
		[[ -n $c && -x $c ]] || continue
		if "$c" info >/dev/null 2>&1; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

# Sets DOCKER to a working client, starting dockerd when none answers.
# STARTED_DOCKERD=1 tells the caller it owns that dockerd.
ensure_docker() {
	local pid deadline dockerd
	if DOCKER="$(pick_docker)"; then
		return 0
	fi
	# Word splitting is wanted: DOCKERD may carry options (tests of this
	# script run a second daemon on its own socket and data root).
	read -r -a dockerd <<<"${DOCKERD:-dockerd}"
	command -v "${dockerd[0]}" >/dev/null ||
		{ echo "docker: ${dockerd[0]} not found (is docker.io installed?)" >&2; return 1; }
	# setsid and no inherited descriptors: the daemon must not hold a CI
	# job's output pipe open, nor die with this shell's process group. A
	# script has no job control, so setsid execs in place: $! is dockerd.
	setsid "${dockerd[@]}" >"$DOCKERD_LOG" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$DOCKERD_PIDFILE"
	deadline=$((SECONDS + ${DOCKERD_TIMEOUT_S:-60}))
	until DOCKER="$(pick_docker)"; do
		if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
			echo "docker: dockerd (pid $pid) did not answer 'docker info';" \
				"last lines of $DOCKERD_LOG:" >&2
			tail -n 15 "$DOCKERD_LOG" >&2 || true
			kill "$pid" 2>/dev/null || true
			rm -f "$DOCKERD_PIDFILE"
			return 1
		fi
		sleep 0.5
	done
	STARTED_DOCKERD=1
}

# A zombie still answers kill -0; pid 1 here may not reap it quickly.
_alive() {
	local state
	state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# Stops the dockerd that ensure_docker (or tools/setup) started, and nothing
# else. Our containers go first: engines carry restart policy
# unless-stopped, so they would come back with the next dockerd.
stop_dockerd_if_started() {
	local pid ids docker i
	[ "$STARTED_DOCKERD" = 1 ] || return 0
	pid="$(cat "$DOCKERD_PIDFILE" 2>/dev/null || true)"
	# A stale pidfile must not make us kill some unrelated process.
	if [[ -z $pid || $(cat "/proc/$pid/comm" 2>/dev/null) != dockerd ]]; then
		rm -f "$DOCKERD_PIDFILE"
		return 0
	fi
	if docker="${DOCKER:-$(pick_docker)}"; then
		ids="$(for f in label=orchestrator.managed label=orchestrator.test \
			name='^/?acestream-'; do
			"$docker" ps -aq --filter "$f"
		done 2>/dev/null | sort -u)"
		# shellcheck disable=SC2086 # one id per word
		[ -z "$ids" ] || "$docker" rm -f $ids >/dev/null 2>&1 || true
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 40; i++)); do
		_alive "$pid" || break
		sleep 0.5
	done
	if _alive "$pid"; then
		# Its containerd runs in a session of its own: name it by parent.
		# shellcheck disable=SC2046 # one pid per word
		kill -KILL "$pid" $(ps -o pid= --ppid "$pid") 2>/dev/null || true
	fi
	rm -f "$DOCKERD_PIDFILE"
	STARTED_DOCKERD=0
	echo "docker: stopped the dockerd we started (pid $pid)" >&2
}
