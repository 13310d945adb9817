#!/bin/bash
# `make bench` (full) and `make bench-short` (short): measures the daemon side by side in
# one run, inside PID namespaces (so that it can see and signal only what this bench
# started): CPU per scan against a raw floor reader and ps at 100, 1,000 and 5,000
# processes; its footprint; idle CPU against earlyoom; and its reaction to hogs by growth
# rate and threshold. Prints one table. Needs root, gcc, unshare, prlimit, timeout.
# Absolute times depend on the machine (and its load, printed with the table); the ratios
# are the result.
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

# earlyoom, with the arguments its Debian package gives it (EARLYOOM_ARGS in
# /etc/default/earlyoom). Where it is not installed, its package is fetched with apt and
# unpacked into $W, not installed: installing it would start its service on this machine,
# outside any namespace, free to kill any process when memory runs low (as the hogs below
# make it). If neither works, the idle table goes without it, and says so.
earlyoom_setup() {
	local bin defaults
	if command -v earlyoom >/dev/null && [ -r /etc/default/earlyoom ]; then
		bin=$(command -v earlyoom) defaults=/etc/default/earlyoom
	else
		(cd "$W" && apt-get download -q earlyoom >/dev/null 2>&1) || return 1
		dpkg-deb -x "$W"/earlyoom_*.deb "$W/eo" || return 1
		bin=$W/eo/usr/bin/earlyoom defaults=$W/eo/etc/default/earlyoom
	fi
	local args
	args=$(sh -c '. "$1"; echo "$EARLYOOM_ARGS"' sh "$defaults")
	echo "$bin $args" >"$W/earlyoom.args"
	echo "earlyoom $("$bin" -v 2>&1 | head -1 | awk '{ print $2 }') $args" >>"$W/results"
}
earlyoom_setup || echo "bench: earlyoom not available (neither installed nor fetched with apt-get download): the idle table goes without it" >&2

# inner N PARTS: one PID namespace of N processes running the named parts of inner.sh.
inner() {
	echo "bench: $1 processes: $2..." >&2
	timeout 3600 unshare --pid --fork --mount-proc --kill-child bash tests/bench/inner.sh "$W" "$1" "$PROFILE" "$2"
}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$PROFILE" = short ]; then
	inner 100 scan,idle,react
else
	inner 100 scan
	inner 1000 scan,idle,react
	inner 5000 scan,idle
fi
load1=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "memory-monitor bench ($PROFILE) on $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); load average at start $load0, at end $load1"
awk -f tests/bench/report.awk "$W/results"
