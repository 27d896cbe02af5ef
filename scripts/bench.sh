#!/usr/bin/env bash
# Large-file benchmarks (make bench): starts a throwaway MinIO, builds exhibit
# and exhibit-bench, and compares ingest with cp and with a raw minio-go
# PutObject of the same bytes. Prints a Markdown table for docs/performance.md.
#   BENCH_SIZES  file sizes in MiB (default 64,1024)   BENCH_RUNS  runs each (default 3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export GOTOOLCHAIN=local
mkdir -p .bench .tools/run
MINIO_RUN_DIR="$(mktemp -d "$root/.tools/run/bench.XXXXXX")"
export MINIO_RUN_DIR
trap 'scripts/minio.sh stop; rm -rf "$MINIO_RUN_DIR"' EXIT
scripts/minio.sh start
# shellcheck source=/dev/null
source "$MINIO_RUN_DIR/minio.env"
go build -o .bench/exhibit ./cmd/exhibit
go build -o .bench/exhibit-bench ./internal/cmd/exhibit-bench
go test -run '^$' -bench . -benchtime 2s ./hashing
.bench/exhibit-bench -exhibit .bench/exhibit -server-pid "$(cat "$MINIO_RUN_DIR/minio.pid")" -sizes "${BENCH_SIZES:-64,1024}" -runs "${BENCH_RUNS:-3}" -work "$root/.bench"
