#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL (Debian's postgresql package) for
# the worker's tests.
#
# Usage: scripts/postgres.sh start   start one, print where, write the env file
#        scripts/postgres.sh stop    stop it and delete its folder
#
# `start` runs initdb into a fresh temporary folder (trust authentication:
# the server is this run's alone), and starts the server on 127.0.0.1 only,
# on a free port, with its socket in that folder and durability off (fsync:
# a test database). PostgreSQL refuses to run as root: run as root, the
# server runs as the postgres user the package made. It writes postgres.env
# into the run folder (.tools/run, or $POSTGRES_RUN_DIR), to be `source`d
# before running tests by hand:
#   EXHIBIT_TEST_POSTGRES  postgres://postgres@127.0.0.1:PORT/exhibit?sslmode=disable
# The server's log is copied there at `stop`, for post-mortems.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/service.sh
source "$root/scripts/service.sh"
run="${POSTGRES_RUN_DIR:-$root/.tools/run}"
pidfile="$run/postgres.pid"
datafile="$run/postgres.data"
envfile="$run/postgres.env"
logfile="$run/postgres.log"
timeout="${POSTGRES_START_TIMEOUT:-120}"

# bin is the newest installed PostgreSQL's program folder.
bin="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"

# as_owner runs a PostgreSQL program as the user the server runs as.
as_owner() {
	if [[ "$(id -u)" == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start() {
	check_startable 'PostgreSQL' "${bin:-/usr/lib/postgresql/VERSION/bin}/pg_ctl"
	mkdir -p "$run"
	local dir port
	dir="$(mktemp -d "${TMPDIR:-/tmp}/exhibit-postgres.XXXXXX")"
	echo "$dir" >"$datafile"
	if [[ "$(id -u)" == 0 ]]; then
		chown postgres "$dir"
	fi
	port="$(free_port)"
	echo "postgres.sh: starting PostgreSQL ($bin) on 127.0.0.1:$port, folder $dir"
	if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$logfile" 2>&1; then
		echo "postgres.sh: initdb failed; last lines of $logfile:" >&2
		tail -n 20 "$logfile" >&2
		stop
		exit 1
	fi
	if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t "$timeout" start \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c max_connections=200" >>"$logfile" 2>&1; then
		echo "postgres.sh: PostgreSQL did not start; last lines of its log:" >&2
		tail -n 20 "$dir/server.log" "$logfile" >&2 || true
		stop
		exit 1
	fi
	head -n 1 "$dir/data/postmaster.pid" >"$pidfile"
	as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres exhibit >>"$logfile" 2>&1
	umask 077
	cat >"$envfile" <<ENV
export EXHIBIT_TEST_POSTGRES='postgres://postgres@127.0.0.1:$port/exhibit?sslmode=disable'
ENV
	echo "postgres.sh: PostgreSQL is up (pid $(cat "$pidfile")); environment in $envfile"
}

stop() {
	if [[ -f "$datafile" ]]; then
		local dir
		dir="$(cat "$datafile")"
		if [[ -d "$dir/data" ]]; then
			as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
		fi
		if [[ -f "$dir/server.log" ]]; then
			cat "$dir/server.log" >>"$logfile" || true
		fi
	fi
	stop_service 'PostgreSQL' '*/exhibit-postgres.*'
}

service_main "$@"
