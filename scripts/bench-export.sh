#!/usr/bin/env bash
# Export of a disclosure package against cp -r of the same payload bytes
# (make bench-export). Builds exhibit and exhibit-bench, makes (once) a
# corpus of unique real camera photos in .bench/photos-N, ingests it into
# a fresh archive in a folder (not timed), then takes turns, BENCH_RUNS
# times:
#   (a) exhibit export --case bench (originals and working copies), and
#       the same with --working-copies-only
#   (b) cp -r of the package's data/ folder (the payload: the same bytes),
#       and the same followed by sync
#   (c) exhibit verify-export of the package
# Prints the medians, the ratios and verify-export's time per item, for
# docs/performance.md. The files are in the page cache for every
# contender (24 GiB of memory), which starts with nothing left to write
# back; nothing is synced but what export syncs (the package, before it
# is moved into place).
#   BENCH_PHOTOS  corpus size (default 1000)
#   BENCH_RUNS    runs of each (default 3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export GOTOOLCHAIN=local

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
runs="${BENCH_RUNS:-3}"
photos_corpus
work="$(mktemp -d "${TMPDIR:-/tmp}/exhibit-bench-export.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export EXHIBIT_HOME="$work/home"
.bench/exhibit init --archive "$work/archive" --insecure-no-password >/dev/null
.bench/exhibit ingest --case bench "$corpus" >/dev/null
# Each export adds to every item's custody (verified and exported events),
# which the next package carries: every export starts from this state.
cp -a "$work/archive" "$work/archive0"
cp -a "$work/home" "$work/home0"
fresh() {
	rm -rf "$work/archive" "$work/home"
	cp -a "$work/archive0" "$work/archive"
	cp -a "$work/home0" "$work/home"
}

timed() { # seconds the command took, from a clean page cache (export's
	# final syncfs would otherwise also write back what the previous
	# contender left dirty)
	local t0 t1
	sync
	t0="$(now)"
	"$@" >/dev/null
	t1="$(now)"
	sub "$t1" "$t0"
}

export_times=() wc_times=() cp_times=() cpsync_times=() cpwc_times=() check_times=()
for r in $(seq "$runs"); do
	rm -rf "$work/pkg" "$work/wc" "$work/copy" "$work/copywc" "$work/copysync"
	fresh
	export_times+=("$(timed .bench/exhibit export --case bench --out "$work/pkg" --recipient bench)")
	cp_times+=("$(timed cp -r "$work/pkg/data" "$work/copy")")
	rm -rf "$work/copysync"
	cpsync_times+=("$(timed sh -c "cp -r '$work/pkg/data' '$work/copysync' && sync")")
	fresh
	wc_times+=("$(timed .bench/exhibit export --case bench --working-copies-only --out "$work/wc" --recipient bench)")
	cpwc_times+=("$(timed cp -r "$work/wc/data" "$work/copywc")")
	check_times+=("$(timed .bench/exhibit verify-export "$work/pkg")")
	echo "run $r: export ${export_times[-1]} s, cp -r ${cp_times[-1]} s (and sync ${cpsync_times[-1]} s); working copies ${wc_times[-1]} s, cp -r ${cpwc_times[-1]} s; verify-export ${check_times[-1]} s" >&2
done
me="$(printf '%s\n' "${export_times[@]}" | median)"
mc="$(printf '%s\n' "${cp_times[@]}" | median)"
mcs="$(printf '%s\n' "${cpsync_times[@]}" | median)"
mw="$(printf '%s\n' "${wc_times[@]}" | median)"
mcw="$(printf '%s\n' "${cpwc_times[@]}" | median)"
mv="$(printf '%s\n' "${check_times[@]}" | median)"
payload="$(du -sb "$work/pkg/data" | cut -f1)"
payloadwc="$(du -sb "$work/wc/data" | cut -f1)"
echo "$files photos, $(nproc) cores, $(date -u +%Y-%m-%d), median of $runs"
echo
echo "| contender | payload | seconds | MB/s | of cp -r |"
echo "|---|---|---|---|---|"
awk -v p="$payload" -v pw="$payloadwc" -v e="$me" -v c="$mc" -v cs="$mcs" -v w="$mw" -v cw="$mcw" 'BEGIN {
	printf "| `cp -r` of the payload (the baseline) | %.0f MB | %.2f | %.0f | 100%% |\n", p / 1e6, c, p / 1e6 / c
	printf "| `cp -r` of the payload, then `sync` | %.0f MB | %.2f | %.0f | %.0f%% |\n", p / 1e6, cs, p / 1e6 / cs, 100 * c / cs
	printf "| `exhibit export` (originals and working copies) | %.0f MB | %.2f | %.0f | %.0f%% |\n", p / 1e6, e, p / 1e6 / e, 100 * c / e
	printf "| `cp -r` of the working-copies payload | %.0f MB | %.2f | %.0f | 100%% |\n", pw / 1e6, cw, pw / 1e6 / cw
	printf "| `exhibit export --working-copies-only` | %.0f MB | %.2f | %.0f | %.0f%% |\n", pw / 1e6, w, pw / 1e6 / w, 100 * cw / w
}'
awk -v v="$mv" -v f="$files" 'BEGIN { printf "\n`exhibit verify-export` of the full package: %.2f s, %.1f ms per item\n", v, 1000 * v / f }'
