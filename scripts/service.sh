# Shared by the scripts that run a throwaway server for the tests
# (minio.sh, tsa.sh); sourced, not run. The sourcing script sets pidfile,
# datafile (holding the server's temporary folder), envfile, logfile and
# timeout, defines start and stop, and ends with `service_main "$@"`.

# free_port prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# running reports whether the server in pidfile is alive.
running() {
	[[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# stop_service LABEL PATTERN stops the server in pidfile (TERM, then KILL
# after 10 seconds), deletes its temporary folder when the folder's path
# matches the glob PATTERN (only ever a folder the script made), and the
# env file.
stop_service() {
	local label="$1" pattern="$2" me
	me="$(basename "$0")"
	if [[ -f "$pidfile" ]]; then
		local pid
		pid="$(cat "$pidfile")"
		if kill -0 "$pid" 2>/dev/null; then
			echo "$me: stopping $label (pid $pid)"
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 100); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			if kill -0 "$pid" 2>/dev/null; then
				kill -9 "$pid" 2>/dev/null || true
			fi
		fi
		rm -f "$pidfile"
	fi
	if [[ -f "$datafile" ]]; then
		local data
		data="$(cat "$datafile")"
		# shellcheck disable=SC2254 # PATTERN is a glob on purpose
		case "$data" in
		$pattern) rm -rf "$data" ;;
		esac
		rm -f "$datafile"
	fi
	rm -f "$envfile"
}

# check_startable LABEL BINARY exits with a hint when BINARY is missing or
# the server is running already.
check_startable() {
	local label="$1" binary="$2" me
	me="$(basename "$0")"
	if [[ ! -x "$binary" ]]; then
		echo "$me: $binary is missing; run scripts/tools.sh (or make tools) first" >&2
		exit 1
	fi
	if running; then
		echo "$me: $label is already running (pid $(cat "$pidfile")); run scripts/$me stop first" >&2
		exit 1
	fi
}

# wait_until_up LABEL URL PID waits up to $timeout seconds for URL to answer
# 200. When the server exits first, or does not answer in time, it shows the
# end of $logfile, stops and cleans up (stop), and exits 1.
wait_until_up() {
	local label="$1" url="$2" pid="$3" me deadline=$((SECONDS + timeout))
	me="$(basename "$0")"
	until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)" == "200" ]]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$me: $label exited while starting; last lines of $logfile:" >&2
			tail -n 20 "$logfile" >&2
			stop
			exit 1
		fi
		if ((SECONDS >= deadline)); then
			echo "$me: $label did not answer $url within ${timeout}s; last lines of $logfile:" >&2
			tail -n 20 "$logfile" >&2
			stop
			exit 1
		fi
		sleep 0.2
	done
}

service_main() {
	case "${1:-}" in
	start) start ;;
	stop) stop ;;
	*)
		echo "usage: $0 start|stop" >&2
		exit 2
		;;
	esac
}
