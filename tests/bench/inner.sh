#!/bin/bash
# Runs as PID 1 of a fresh PID namespace with its own /proc (see bench.sh): every process
# the daemon can see or signal here was started by this script. Writes results as
# "key value..." lines to $W/results.
#
#   inner.sh W N PROFILE   PROFILE is full or short; N the number of idle processes
set -u
W=$1 N=$2 PROFILE=$3
BH=$W/benchhelper MM=$W/memory-monitor PT=$W/proc.test BT=$W/budget.test
out() { echo "$*" >>"$W/results"; }

# N processes in all: the spawner's children plus this shell, the spawner and the tools.
mkfifo "$W/hold.$N"
"$BH" spawn $((N - 3)) <"$W/hold.$N" >"$W/spawn.$N" &
exec 7>"$W/hold.$N"
until grep -q ready "$W/spawn.$N" 2>/dev/null; do sleep 0.05; done
cleanup() { exec 7>&-; wait; }
trap cleanup EXIT

# --- CPU per scan, side by side: rounds alternate the three readers ---------------------
iter=$((300000 / N)) psiter=$((2000 / N + 3)) rounds=5
[ "$PROFILE" = short ] && iter=$((iter / 10 + 1)) psiter=2 rounds=2
for r in $(seq $rounds); do
	"$PT" -test.run='^$' -test.bench='^BenchmarkScan$' -test.benchmem -test.benchtime=${iter}x \
		| awk -v n=$N '/^BenchmarkScan/ { for (i = 1; i <= NF; i++) m[$(i+1)] = $i;
			print "go", n, m["cpu-ns/op"], m["allocs/op"], m["B/op"], m["procs/op"] }' >>"$W/results"
	echo "floor $N $("$BH" floor $iter)" >>"$W/results"
	echo "ps $N $("$BH" ps $psiter)" >>"$W/results"
	# The same scan without budgets and with user, unit and both kinds (--budget).
	"$BT" -test.run='^$' -test.bench='^BenchmarkScanBudgets$' -test.benchtime=$((iter / 4 + 1))x \
		| awk -v n=$N '/^BenchmarkScanBudgets\// { split($1, k, "[/-]"); for (i = 1; i <= NF; i++) m[$(i+1)] = $i;
			print "budget", n, k[2], m["cpu-ns/op"], m["allocs/op"] }' >>"$W/results"
done

# CPU of every thread of a process, in ns (schedstat: exact, unlike stat's ticks).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }'; }
fds() { ls /proc/"$1"/fd | wc -l; }
vmrss() { awk '/^VmRSS/ { print $2 }' /proc/"$1"/status; }
start_mm() { # log file, args...
	local log=$1
	shift
	"$MM" --log-file="$log" "$@" 2>"$log.stderr" &
	MMPID=$!
	for _ in $(seq 200); do
		grep -q 'memory-monitor starting' "$log.stderr" 2>/dev/null && break
		sleep 0.05
	done
	sleep 0.5
}
stop_mm() { kill "$MMPID"; wait "$MMPID"; }

# --- Footprint: default settings but a 1 s interval, so that it does many full scans ----
secs=20
[ "$PROFILE" = short ] && secs=3
start_mm "$W/rss.$N.log" --interval=1s
rss0=$(vmrss $MMPID) fd0=$(fds $MMPID)
sleep "$secs"
out rss "$N" "$rss0" "$(vmrss $MMPID)" "$fd0" "$(fds $MMPID)" "$secs" \
	"$(awk '/^VmHWM/ { print $2 }' /proc/$MMPID/status)"
stop_mm

# --- Idle CPU with the default settings (60 s interval), fast path on and off side by side
# (both daemons run over the same window); wakeups are voluntary context switches.
switches() { cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s }'; }
if [ "$N" = 1000 ] || [ "$PROFILE" = short ]; then
	secs=125
	[ "$PROFILE" = short ] && secs=5
	start_mm "$W/idle.$N.log"
	on=$MMPID
	start_mm "$W/idle-off.$N.log" --no-fast-path
	off=$MMPID
	sleep 1 # past start-up and the first scans
	c0=$(cpu_ns $on) d0=$(cpu_ns $off) s0=$(switches $on) r0=$(switches $off) t0=$(date +%s%N)
	sleep "$secs"
	c1=$(cpu_ns $on) d1=$(cpu_ns $off) s1=$(switches $on) r1=$(switches $off) t1=$(date +%s%N)
	out idle "$N" $((c1 - c0)) $((t1 - t0)) $((s1 - s0)) $((d1 - d0)) $((r1 - r0))
	stop_mm
	MMPID=$on
	stop_mm
fi

# --- Reaction: hogs growing at 200 MiB/s, default settings but the threshold ------------
# Each hog prints "overshoot_mib latency_ms capped" when SIGTERM reaches it.
THR=128
hog() { # cap_mib
	timeout 100 prlimit --as=$((($1 + 64) << 20)) "$BH" hog 200 "$1" "$THR"
}
if [ "$N" = 1000 ] || [ "$PROFILE" = short ]; then
	trials=10
	[ "$PROFILE" = short ] && trials=2
	start_mm "$W/react.log" --allow-low-threshold --threshold=${THR}M --grace=1s
	for i in $(seq $trials); do
		sleep "0.$((RANDOM % 10))$((RANDOM % 10))" # a random phase against the checks
		echo "fast $(hog 1024)" >>"$W/results"
	done
	stop_mm
fi
# Without the fast path a hog waits for the next full scan, up to 60 s. The trials run at
# once, each started at a random time within one interval after the first scan, so their
# phases are independent; each stops growing 256 MiB past the threshold (so their
# overshoot is censored there) and holds until SIGTERM: the latency is the measure.
if [ "$N" = 1000 ] && [ "$PROFILE" = full ]; then
	start_mm "$W/slow.log" --allow-low-threshold --threshold=${THR}M --grace=1s --no-fast-path
	slow=()
	for i in $(seq 10); do
		(sleep "$((RANDOM % 60)).$((RANDOM % 10))"; echo "slow $(hog $((THR + 256)))" >>"$W/results") &
		slow+=($!)
	done
	wait "${slow[@]}"
	sleep 0.2
	stop_mm
fi
