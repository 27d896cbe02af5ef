# Shared by the worker's benchmarks (bench-worker.sh, bench-scale.sh);
# sourced, not run, from the repository's root.

# photos_corpus builds exhibit and exhibit-bench into .bench, makes (once)
# the corpus of BENCH_PHOTOS (default 1000) unique real camera photos, and
# sets corpus (its folder) and files (how many it holds).
photos_corpus() {
	local n="${BENCH_PHOTOS:-1000}"
	mkdir -p .bench
	go build -o .bench/exhibit ./cmd/exhibit
	go build -o .bench/exhibit-bench ./internal/cmd/exhibit-bench
	.bench/exhibit-bench photos -n "$n" -out ".bench/photos-$n" >/dev/null
	corpus="$PWD/.bench/photos-$n"
	files="$(find "$corpus" -type f | wc -l)"
}

# batched_items LOG... sums the items of the folder batches the workers'
# JSON logs say finished.
batched_items() {
	cat "$@" | awk -F'"items":' '/"kind":"folder-batch"/ && /"run finished"/ { split($2, a, ","); s += a[1] } END { print s + 0 }'
}

# last_batch LOG... is the Unix time (seconds, fraction) of the last
# finished folder batch.
last_batch() {
	date -d "$(cat "$@" | awk -F'"time":"' '/"kind":"folder-batch"/ && /"run finished"/ { split($2, a, "\""); print a[1] }' | sort | tail -n 1)" +%s.%N
}

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
