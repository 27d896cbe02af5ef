#!/usr/bin/env bash
# Runs the whole test suite against real services, as `make test` does:
# starts a throwaway MinIO (scripts/minio.sh), points the tests at it and at
# cosign through the EXHIBIT_TEST_* variables, runs `go test -race`, and
# stops MinIO however the run ends. Exits with go test's status.
#
# Environment:
#   TEST_FLAGS  extra go test flags, e.g. TEST_FLAGS='-run TestPut -v'
#   TEST_PKGS   packages to test (default ./...)
# Run scripts/tools.sh first (make test does).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cosign="$root/.tools/bin/cosign"
if [[ ! -x "$cosign" ]]; then
	echo "test.sh: $cosign is missing; run scripts/tools.sh (or make tools) first" >&2
	exit 1
fi

# A run folder of this run's own, so that a MinIO started by hand, or by
# another test run at the same time, is left alone.
mkdir -p "$root/.tools/run"
MINIO_RUN_DIR="$(mktemp -d "$root/.tools/run/test.XXXXXX")"
export MINIO_RUN_DIR
status=1
finish() {
	"$root/scripts/minio.sh" stop
	if ((status == 0)); then
		rm -rf "$MINIO_RUN_DIR"
	fi
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$root/scripts/minio.sh" start
# shellcheck source=/dev/null
source "$MINIO_RUN_DIR/minio.env"
export EXHIBIT_TEST_COSIGN="$cosign"
export GOTOOLCHAIN=local

status=0
# TEST_FLAGS and TEST_PKGS are split into words on purpose.
# shellcheck disable=SC2086
go test -race -count=1 ${TEST_FLAGS:-} ${TEST_PKGS:-./...} || status=$?
if ((status != 0)); then
	echo "test.sh: go test failed (exit $status); MinIO's log: $MINIO_RUN_DIR/minio.log" >&2
fi
exit "$status"
