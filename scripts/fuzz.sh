#!/usr/bin/env bash
# Runs every go test -fuzz target for FUZZTIME each (default 30s). New
# failing inputs land in the package's testdata/fuzz/ and become seeds that
# plain `go test` replays from then on: fix the bug and commit them.
# Each new interesting input is minimized for at most FUZZMINIMIZETIME
# (default 2s): with the default of a minute, targets whose seeds are real
# files (HEIF) spend their whole time minimizing and run almost nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export GOTOOLCHAIN=local
fuzztime="${FUZZTIME:-30s}"
minimize="${FUZZMINIMIZETIME:-2s}"
status=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $target ($fuzztime)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg"; then
			status=1
		fi
	done
done
exit "$status"
