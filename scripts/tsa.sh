#!/usr/bin/env bash
# Starts and stops a throwaway RFC 3161 timestamp authority (sigstore's
# timestamp-server) for the tests.
#
# Usage: scripts/tsa.sh start   start one, print where, write the env file
#        scripts/tsa.sh stop    stop it and delete its folder
#
# The server listens on 127.0.0.1 only, on a free port, runs in a fresh
# temporary folder (its HOME too, so no stray configuration is read) and
# signs with the in-memory signer, which makes a new certificate chain at
# every start: tests fetch it from /api/v1/timestamp/certchain. `start`
# writes tsa.env into the run folder (.tools/run, or $TSA_RUN_DIR), to be
# `source`d before running tests by hand:
#   EXHIBIT_TEST_TSA   the timestamp endpoint, http://127.0.0.1:PORT/api/v1/timestamp
# Its log stays there after `stop`, for post-mortems.
#
# timestamp-server always opens a metrics listener on the fixed port :2112,
# so only one can run on a machine. A lock file in the system temporary
# folder serialises runs: the server inherits the locked descriptor, so the
# lock is held exactly as long as the server lives. A second `start` waits
# for it up to TSA_LOCK_TIMEOUT seconds (default 900).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/service.sh
source "$root/scripts/service.sh"
tsa="$root/.tools/bin/timestamp-server"
run="${TSA_RUN_DIR:-$root/.tools/run}"
pidfile="$run/tsa.pid"
datafile="$run/tsa.data"
envfile="$run/tsa.env"
logfile="$run/tsa.log"
timeout="${TSA_START_TIMEOUT:-60}"
lockfile="${TMPDIR:-/tmp}/exhibit-timestamp-server.lock"
lock_timeout="${TSA_LOCK_TIMEOUT:-900}"
metrics_port=2112

# port_busy reports whether something listens on TCP port $1 (any address).
port_busy() {
	python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
}

start() {
	check_startable 'timestamp-server' "$tsa"
	mkdir -p "$run"
	exec 9>>"$lockfile"
	if ! flock -n 9; then
		echo "tsa.sh: another timestamp-server holds $lockfile (port :$metrics_port is fixed); waiting up to ${lock_timeout}s"
		if ! flock -w "$lock_timeout" 9; then
			echo "tsa.sh: gave up waiting for $lockfile after ${lock_timeout}s; stop the other run's timestamp-server first" >&2
			exit 1
		fi
	fi
	if port_busy "$metrics_port"; then
		echo "tsa.sh: port :$metrics_port is in use by a program this script did not start (a timestamp-server run by hand?); timestamp-server needs it" >&2
		exit 1
	fi
	local dir port pid
	dir="$(mktemp -d "${TMPDIR:-/tmp}/exhibit-tsa.XXXXXX")"
	echo "$dir" >"$datafile"
	port="$(free_port)"

	echo "tsa.sh: starting timestamp-server on 127.0.0.1:$port, folder $dir"
	# The server keeps descriptor 9 (the lock) open for as long as it runs.
	(cd "$dir" && HOME="$dir" exec nohup "$tsa" serve --host 127.0.0.1 --port "$port" \
		--timestamp-signer memory --disable-ntp-monitoring --log-type prod \
		>"$logfile" 2>&1 </dev/null) &
	pid=$!
	echo "$pid" >"$pidfile"
	exec 9>&-

	wait_until_up 'timestamp-server' "http://127.0.0.1:$port/api/v1/timestamp/certchain" "$pid"

	umask 077
	cat >"$envfile" <<ENV
export EXHIBIT_TEST_TSA=http://127.0.0.1:$port/api/v1/timestamp
ENV
	echo "tsa.sh: timestamp-server is up (pid $pid); environment in $envfile"
}

stop() {
	stop_service 'timestamp-server' '*/exhibit-tsa.*'
}

service_main "$@"
