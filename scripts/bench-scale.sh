#!/usr/bin/env bash
# Scale-out of the worker (make bench-scale): 1, 2 and 3 worker processes
# on one PostgreSQL queue and one MinIO archive, each count BENCH_RUNS
# times, taking turns, on the 1,000 photos of make bench-worker (its
# corpus). Each run is a fresh bucket and database; a run is timed from the
# workers' start to the log line of the batch that completes the corpus.
# Starts a throwaway MinIO and PostgreSQL (scripts/minio.sh,
# scripts/postgres.sh) and stops them.
#   BENCH_PHOTOS  corpus size (default 1000)
#   BENCH_RUNS    runs of each count (default 3)
#   BENCH_WORKERS the counts (default "1 2 3")
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export GOTOOLCHAIN=local

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
runs="${BENCH_RUNS:-3}"
counts="${BENCH_WORKERS:-1 2 3}"
mkdir -p .tools/run
photos_corpus
work="$(mktemp -d "${TMPDIR:-/tmp}/exhibit-bench-scale.XXXXXX")"
MINIO_RUN_DIR="$(mktemp -d "$root/.tools/run/bench-scale.XXXXXX")"
POSTGRES_RUN_DIR="$MINIO_RUN_DIR"
export MINIO_RUN_DIR POSTGRES_RUN_DIR
finish() {
	pkill -f "$work/" 2>/dev/null || true
	scripts/postgres.sh stop >/dev/null || true
	scripts/minio.sh stop >/dev/null || true
	rm -rf "$work" "$MINIO_RUN_DIR"
}
trap finish EXIT
scripts/minio.sh start >/dev/null
scripts/postgres.sh start >/dev/null
# shellcheck source=/dev/null
source "$MINIO_RUN_DIR/minio.env"
# shellcheck source=/dev/null
source "$POSTGRES_RUN_DIR/postgres.env"
export EXHIBIT_S3_ENDPOINT="$EXHIBIT_TEST_MINIO_ENDPOINT" EXHIBIT_S3_ACCESS_KEY="$EXHIBIT_TEST_MINIO_ACCESS_KEY" \
	EXHIBIT_S3_SECRET_KEY="$EXHIBIT_TEST_MINIO_SECRET_KEY" EXHIBIT_S3_INSECURE_HTTP=true
base="${EXHIBIT_TEST_POSTGRES%/*}"

run_count() { # workers -> seconds
	local k="$1" r="$2" db="bench_${1}_${2}" bucket="bench-${1}-${2}-$RANDOM" logs=() pids=() t0 t1 done=0
	psql -q "$EXHIBIT_TEST_POSTGRES" -c "CREATE DATABASE $db" >/dev/null
	rm -rf "$work/home-"*
	EXHIBIT_HOME="$work/home-0" .bench/exhibit init --archive "s3://$bucket/evidence" --insecure-no-password >/dev/null
	cat >>"$work/home-0/config.yaml" <<YAML
worker:
  queue: $base/$db?sslmode=disable
jobs:
  - name: bench
    kind: folder
    schedule: 1h
    case: bench
    path: $corpus
    stable: 1s
YAML
	EXHIBIT_HOME="$work/home-0" .bench/exhibit worker migrate 2>/dev/null
	for i in $(seq 1 $((k - 1))); do cp -a "$work/home-0" "$work/home-$i"; done
	t0="$(now)"
	for i in $(seq 0 $((k - 1))); do
		EXHIBIT_HOME="$work/home-$i" .bench/exhibit worker --listen off --log-format json 2>"$work/w$i.log" &
		pids+=($!)
		logs+=("$work/w$i.log")
	done
	while ((done < files)); do
		sleep 0.1
		done="$(batched_items "${logs[@]}")"
	done
	t1="$(last_batch "${logs[@]}")"
	kill -TERM "${pids[@]}"
	wait "${pids[@]}" || true
	sub "$t1" "$t0"
}

declare -A times
for r in $(seq "$runs"); do
	for k in $counts; do
		s="$(run_count "$k" "$r")"
		times[$k]+="$s "
		echo "run $r: $k worker(s) $s s" >&2
	done
done
echo "$files photos, $(nproc) cores, $(date -u +%Y-%m-%d), median of $runs; MinIO, PostgreSQL and the workers share the cores"
echo
echo "| workers | seconds | photos/s | against one |"
echo "|---|---|---|---|"
one=""
for k in $counts; do
	m="$(printf '%s\n' ${times[$k]} | median)"
	one="${one:-$m}"
	awk -v k="$k" -v m="$m" -v f="$files" -v o="$one" 'BEGIN { printf "| %d | %.2f | %.0f | %.2fx |\n", k, m, f / m, o / m }'
done
