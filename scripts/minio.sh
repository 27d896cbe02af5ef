#!/usr/bin/env bash
# Starts and stops a throwaway MinIO server for the tests.
#
# Usage: scripts/minio.sh start   start one, print where, write the env file
#        scripts/minio.sh stop    stop it and delete its data
#
# The server listens on 127.0.0.1 only, on free ports, keeps its data in a
# fresh temporary folder and gets random root credentials. `start` writes
# minio.env into the run folder (.tools/run, or $MINIO_RUN_DIR), to be
# `source`d before running tests by hand:
#   EXHIBIT_TEST_MINIO_ENDPOINT, EXHIBIT_TEST_MINIO_ACCESS_KEY, EXHIBIT_TEST_MINIO_SECRET_KEY
# Its log stays there after `stop`, for post-mortems.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/service.sh
source "$root/scripts/service.sh"
minio="$root/.tools/bin/minio"
run="${MINIO_RUN_DIR:-$root/.tools/run}"
pidfile="$run/minio.pid"
datafile="$run/minio.data"
envfile="$run/minio.env"
logfile="$run/minio.log"
timeout="${MINIO_START_TIMEOUT:-60}"

random_secret() {
	python3 -c 'import secrets; print(secrets.token_hex('"$1"'))'
}

start() {
	check_startable 'MinIO' "$minio"
	mkdir -p "$run"
	local data port console user password pid
	data="$(mktemp -d "${TMPDIR:-/tmp}/exhibit-minio.XXXXXX")"
	echo "$data" >"$datafile"
	port="$(free_port)"
	console="$(free_port)"
	while [[ "$console" == "$port" ]]; do console="$(free_port)"; done
	user="exhibit-$(random_secret 4)"
	password="$(random_secret 20)"

	echo "minio.sh: starting MinIO on 127.0.0.1:$port (console 127.0.0.1:$console), data in $data"
	MINIO_ROOT_USER="$user" MINIO_ROOT_PASSWORD="$password" \
		MINIO_UPDATE=off MINIO_CI_CD=1 \
		nohup "$minio" server "$data" --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" \
		>"$logfile" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$pidfile"

	wait_until_up 'MinIO' "http://127.0.0.1:$port/minio/health/live" "$pid"

	umask 077
	cat >"$envfile" <<ENV
export EXHIBIT_TEST_MINIO_ENDPOINT=127.0.0.1:$port
export EXHIBIT_TEST_MINIO_ACCESS_KEY=$user
export EXHIBIT_TEST_MINIO_SECRET_KEY=$password
ENV
	echo "minio.sh: MinIO is up (pid $pid); environment in $envfile"
}

stop() {
	stop_service 'MinIO' '*/exhibit-minio.*'
}

service_main "$@"
