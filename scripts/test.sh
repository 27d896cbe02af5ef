#!/usr/bin/env bash
# Runs the whole test suite against real services, as `make test` does:
# starts a throwaway MinIO (scripts/minio.sh), timestamp authority
# (scripts/tsa.sh) and PostgreSQL (scripts/postgres.sh), points the tests
# at them and at cosign through the EXHIBIT_TEST_* variables, runs `go test
# -race`, and stops them however the run ends. Exits with go test's status.
#
# Environment:
#   TEST_FLAGS  extra go test flags, e.g. TEST_FLAGS='-run TestPut -v'
#   TEST_PKGS   packages to test (default ./...)
#   TEST_TIMEOUT  go test -timeout per package (default 45m)
# Run scripts/tools.sh first (make test does).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cosign="$root/.tools/bin/cosign"
for tool in "$cosign" "$root/.tools/bin/timestamp-server"; do
	if [[ ! -x "$tool" ]]; then
		echo "test.sh: $tool is missing; run scripts/tools.sh (or make tools) first" >&2
		exit 1
	fi
done

# A run folder of this run's own, so that a MinIO started by hand, or by
# another test run at the same time, is left alone. (Only one
# timestamp-server can run at a time: scripts/tsa.sh waits for the other.)
mkdir -p "$root/.tools/run"
MINIO_RUN_DIR="$(mktemp -d "$root/.tools/run/test.XXXXXX")"
TSA_RUN_DIR="$MINIO_RUN_DIR"
POSTGRES_RUN_DIR="$MINIO_RUN_DIR"
export MINIO_RUN_DIR TSA_RUN_DIR POSTGRES_RUN_DIR
status=1
finish() {
	"$root/scripts/postgres.sh" stop
	"$root/scripts/tsa.sh" stop
	"$root/scripts/minio.sh" stop
	if ((status == 0)); then
		rm -rf "$MINIO_RUN_DIR"
	fi
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$root/scripts/minio.sh" start
"$root/scripts/tsa.sh" start
"$root/scripts/postgres.sh" start
# shellcheck source=/dev/null
source "$MINIO_RUN_DIR/minio.env"
# shellcheck source=/dev/null
source "$POSTGRES_RUN_DIR/postgres.env"
# shellcheck source=/dev/null
source "$TSA_RUN_DIR/tsa.env"
export EXHIBIT_TEST_COSIGN="$cosign"
export EXHIBIT_TEST_WARCIO="$root/.tools/npm/node_modules/warcio/dist/index.js"
export EXHIBIT_TEST_CASE_VALIDATE="$root/.tools/case-validate"
export GOTOOLCHAIN=local

status=0
# TEST_FLAGS and TEST_PKGS are split into words on purpose.
# shellcheck disable=SC2086
# go test's default of 10 minutes per package binary is too short for cli
# on a loaded 2-core machine (its scripts run cosign, MinIO and the TSA;
# under 6 minutes unloaded with -race, 10 before its scripts used plain keys
# where no passphrase is tested): 45 minutes leaves margin inside CI's 90.
go test -race -count=1 -timeout "${TEST_TIMEOUT:-45m}" ${TEST_FLAGS:-} ${TEST_PKGS:-./...} || status=$?
if ((status != 0)); then
	echo "test.sh: go test failed (exit $status); logs: $MINIO_RUN_DIR/minio.log, $TSA_RUN_DIR/tsa.log, $POSTGRES_RUN_DIR/postgres.log" >&2
fi
exit "$status"
