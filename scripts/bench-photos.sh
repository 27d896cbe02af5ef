#!/usr/bin/env bash
# Many-small-photos benchmarks (make bench-photos). Builds exhibit and
# exhibit-bench, makes (once) a corpus of unique real camera photos in
# .bench/photos-N, then times, as separate processes, in one run:
#   (a) metadata extraction: Go's photo.Extract (one goroutine and all cores)
#       versus `exiftool -json -n -r DIR`;
#   (b) `exhibit ingest` into a fresh local archive with every reader on
#       (photo/1, geo/1, strip/1: extract, strip, hash, sign, store) versus a
#       shell loop of `exiftool -json`, `sha256sum` and `cosign sign-blob` per
#       file, on a subset (cosign decrypts its key on every call); ingest
#       also runs over the corpus's photos under 100 KB alone.
# Prints a Markdown table for docs/performance.md.
#   BENCH_PHOTOS         corpus size (default 2000)
#   BENCH_PHOTOS_INGEST  photos ingested (default: the whole corpus)
#   BENCH_PHOTOS_LOOP    photos in the loop baseline (default 50)
#   BENCH_RUNS           runs of each extraction and ingest contender (default 3)
#   BENCH_LOOP_RUNS      runs of the loop baseline (default 1)
#   BENCH_BASELINE       a git revision: its exhibit is built and its ingest
#                        contenders take turns with this tree's (before/after)
#   COSIGN, EXIFTOOL     the programs to use (default .tools/bin/cosign, exiftool)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export GOTOOLCHAIN=local

cosign="${COSIGN:-$root/.tools/bin/cosign}"
exiftool="${EXIFTOOL:-exiftool}"
if ! command -v "$exiftool" >/dev/null; then
	echo "bench-photos: exiftool not found: install it (Debian: apt-get install libimage-exiftool-perl) or set EXIFTOOL" >&2
	exit 1
fi
if [[ ! -x "$cosign" ]]; then
	echo "bench-photos: cosign not found at $cosign: run make tools (scripts/tools.sh) or set COSIGN" >&2
	exit 1
fi
for cmd in sha256sum go; do
	if ! command -v "$cmd" >/dev/null; then
		echo "bench-photos: $cmd not found" >&2
		exit 1
	fi
done

n="${BENCH_PHOTOS:-2000}"
mkdir -p .bench
go build -o .bench/exhibit ./cmd/exhibit
go build -o .bench/exhibit-bench ./internal/cmd/exhibit-bench
.bench/exhibit-bench photos -n "$n" -out ".bench/photos-$n"
baseline=()
if [[ -n "${BENCH_BASELINE:-}" ]]; then
	rev="$(git rev-parse --short "$BENCH_BASELINE")"
	if [[ ! -x ".bench/exhibit-$rev" ]]; then
		src=".bench/src-$rev"
		rm -rf "$src" && mkdir -p "$src"
		git archive "$rev" | tar -x -C "$src"
		(cd "$src" && go build -o "$root/.bench/exhibit-$rev" ./cmd/exhibit)
		rm -rf "$src"
	fi
	baseline=(-baseline ".bench/exhibit-$rev" -baseline-label "$rev")
fi
echo "exiftool $("$exiftool" -ver), cosign $("$cosign" version 2>/dev/null | awk '/^GitVersion/ {print $2}'), $(nproc) cores, $(date -u +%Y-%m-%d)"
.bench/exhibit-bench photo-bench -exhibit .bench/exhibit -cosign "$cosign" -exiftool "$exiftool" \
	-corpus ".bench/photos-$n" -work .bench -ingest "${BENCH_PHOTOS_INGEST:-0}" \
	-loop "${BENCH_PHOTOS_LOOP:-50}" -runs "${BENCH_RUNS:-3}" -loop-runs "${BENCH_LOOP_RUNS:-1}" "${baseline[@]}"
