#!/usr/bin/env bash
# The worker's folder job against exhibit ingest of the same photos
# (make bench-worker). Builds exhibit and exhibit-bench, makes (once) a
# corpus of unique real camera photos in .bench/photos-N, then takes turns,
# BENCH_RUNS times, each into a fresh archive in a folder:
#   (a) exhibit ingest --case bench DIR
#   (b) exhibit worker with one folder job on DIR (SQLite queue, batches
#       of BENCH_BATCH), timed from its start to the log line of the batch
#       that completes the corpus.
# Prints the median of each and their ratio, for docs/performance.md.
#   BENCH_PHOTOS  corpus size (default 1000)
#   BENCH_RUNS    runs of each (default 3)
#   BENCH_BATCH   files per batch (default 100, the job's default)
#   BENCH_CONCURRENCY  jobs the worker runs at once (default 4, its default)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export GOTOOLCHAIN=local

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
runs="${BENCH_RUNS:-3}"
batch="${BENCH_BATCH:-100}"
concurrency="${BENCH_CONCURRENCY:-4}"
photos_corpus
work="$(mktemp -d "${TMPDIR:-/tmp}/exhibit-bench-worker.XXXXXX")"
trap 'pkill -f "$work/" 2>/dev/null || true; rm -rf "$work"' EXIT

fresh() { # a home folder and an archive of their own
	rm -rf "$work/home" "$work/archive"
	EXHIBIT_HOME="$work/home" .bench/exhibit init --archive "$work/archive" --insecure-no-password >/dev/null
}


ingest_run() {
	fresh
	local t0 t1
	t0="$(now)"
	EXHIBIT_HOME="$work/home" .bench/exhibit ingest --case bench "$corpus" >/dev/null
	t1="$(now)"
	sub "$t1" "$t0"
}

worker_run() {
	fresh
	cat >>"$work/home/config.yaml" <<YAML
jobs:
  - name: bench
    kind: folder
    schedule: 1h
    case: bench
    path: $corpus
    stable: 1s
    batch: $batch
YAML
	local t0 t1 log="$work/worker.log" done=0
	t0="$(now)"
	EXHIBIT_HOME="$work/home" .bench/exhibit worker --listen off --log-format json --concurrency "$concurrency" 2>"$log" &
	local pid=$!
	while ((done < files)); do
		sleep 0.05
		done="$(batched_items "$log")"
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "bench-worker: the worker exited; its log:" >&2
			tail -n 20 "$log" >&2
			exit 1
		fi
	done
	t1="$(last_batch "$log")"
	awk '/^VmHWM/ { print $2 / 1024 }' "/proc/$pid/status" >>"$work/rss" 2>/dev/null || true
	kill -TERM "$pid"
	wait "$pid" || true
	sub "$t1" "$t0"
}


ingest_times=() worker_times=()
for r in $(seq "$runs"); do
	ingest_times+=("$(ingest_run)")
	worker_times+=("$(worker_run)")
	echo "run $r: ingest ${ingest_times[-1]} s, worker ${worker_times[-1]} s" >&2
done
mi="$(printf '%s\n' "${ingest_times[@]}" | median)"
mw="$(printf '%s\n' "${worker_times[@]}" | median)"
echo "$files photos, $(nproc) cores, $(date -u +%Y-%m-%d), median of $runs; the worker's peak RSS $(sort -n "$work/rss" | tail -n 1) MiB"
echo
echo "| contender | seconds | photos/s | of ingest |"
echo "|---|---|---|---|"
awk -v f="$files" -v i="$mi" -v w="$mw" -v b="$batch" 'BEGIN {
	printf "| `exhibit ingest` (the baseline) | %.2f | %.0f | 100%% |\n", i, f / i
	printf "| `exhibit worker`, a folder job (batches of %d) | %.2f | %.0f | %.0f%% |\n", b, w, f / w, 100 * i / w
}'
