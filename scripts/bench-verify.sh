#!/usr/bin/env bash
# Verify throughput (make bench-verify): ingests BENCH_ITEMS small files
# (random bytes, BENCH_KB KiB each) into a fresh local archive, then times,
# in the same run, BENCH_RUNS times each:
#   - exhibit verify --all by a verifier holding only the trust file
#     (read-only: no log key, nothing appended),
#   - exhibit verify --all by the operator (one verified event per run),
#   - sha256sum over every stored object (originals, metadata documents,
#     bundles, records, pointers, log tiles): the floor of re-reading them.
# Prints a Markdown table for docs/performance.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export GOTOOLCHAIN=local
items="${BENCH_ITEMS:-4000}" kb="${BENCH_KB:-16}" runs="${BENCH_RUNS:-3}"
work="$root/.bench/verify"
rm -rf "$work"
mkdir -p "$work/files" "$work/verifier"
go build -o "$work/exhibit" ./cmd/exhibit
export EXHIBIT_HOME="$work/home" EXHIBIT_PASSWORD=bench-passphrase
python3 - "$work/files" "$items" "$kb" <<'EOF'
import os, sys
folder, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    with open(os.path.join(folder, "f%05d.bin" % i), "wb") as f:
        f.write(os.urandom(kb * 1024))
EOF
"$work/exhibit" init --archive "$work/archive" --operator bench >/dev/null
"$work/exhibit" ingest --case bench "$work/files" >/dev/null
cp "$work/home/trust.json" "$work/trust.json"
bytes="$(du -sb --apparent-size "$work/archive/objects" "$work/archive/items" "$work/archive/log" | awk '{s+=$1} END {print s}')"
objects="$(find "$work/archive/objects" "$work/archive/items" "$work/archive/log" -type f | wc -l)"

calc() { python3 -c "print($1)"; }
# best of runs, in seconds
best() {
	local best="" t
	TIMEFORMAT=%R
	for _ in $(seq "$runs"); do
		sync
		t="$({ time "$@" >/dev/null; } 2>&1 | tail -1)"
		if [[ -z "$best" ]] || [[ "$(calc "$t < $best")" == True ]]; then best="$t"; fi
	done
	echo "$best"
}
hash_all() {
	find "$work/archive/objects" "$work/archive/items" "$work/archive/log" -type f -print0 | xargs -0 -P 2 -n 256 sha256sum
}
t_read="$(best "$work/exhibit" verify --home "$work/verifier" --archive "$work/archive" --trust "$work/trust.json" --all)"
t_logged="$(best "$work/exhibit" verify --all)"
t_sum="$(best hash_all)"
mb="$(calc "$bytes / 1e6")"
row() { printf '| %s | %s s | %.0f items/s | %.1f MB/s |\n' "$1" "$2" "$(calc "$items / $2")" "$(calc "$mb / $2")"; }
echo "$items items of $kb KiB; $objects stored objects, $(printf '%.1f' "$mb") MB; best of $runs; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo
echo "| contender | time | items | bytes |"
echo "|---|---|---|---|"
row "exhibit verify --all, trust file only (read-only)" "$t_read"
row "exhibit verify --all, operator (one verified event per run)" "$t_logged"
row "sha256sum of every stored object (2 processes)" "$t_sum"
