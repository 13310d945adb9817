#!/bin/bash
# `make bench` (full) and `make bench-short` (short): measures the daemon against a raw
# floor reader and ps, side by side in the same run, inside PID namespaces holding 100,
# 1,000 and 5,000 processes, and prints one table. Needs root, gcc, unshare, prlimit.
# Absolute times depend on the machine; the ratios are the result.
set -euo pipefail
PROFILE=${1:-full}
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then
	echo "bench: needs root (each run is confined to its own PID namespace)" >&2
	exit 1
fi
W=$(mktemp -d /tmp/mm-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"

gcc -O2 -Wall -o "$W/benchhelper" tests/bench/benchhelper.c
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$W/memory-monitor" ./cmd/memory-monitor
go test -c -o "$W/proc.test" ./internal/proc
go test -c -o "$W/budget.test" ./internal/budget
: >"$W/results"

Ns="100 1000 5000"
[ "$PROFILE" = short ] && Ns="100"
for n in $Ns; do
	echo "bench: $n processes..." >&2
	timeout 900 unshare --pid --fork --mount-proc --kill-child bash tests/bench/inner.sh "$W" "$n" "$PROFILE"
done

echo
echo "memory-monitor bench ($PROFILE) on $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
awk -f tests/bench/report.awk "$W/results"
