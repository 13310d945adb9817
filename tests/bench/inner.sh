#!/bin/bash
# Runs as PID 1 of a fresh PID namespace with its own /proc (see bench.sh): every process
# the daemon can see or signal here was started by this script. Writes results as
# "key value..." lines to $W/results.
#
#   inner.sh W N PROFILE PARTS
#     PROFILE  full or short
#     N        the number of processes in the namespace (idle children of a spawner)
#     PARTS    comma-separated: scan (CPU per scan, footprint), idle (idle CPU against
#              earlyoom), react (reaction to hogs by growth rate and threshold)
set -u
W=$1 N=$2 PROFILE=$3 PARTS=$4
BH=$W/benchhelper MM=$W/memory-monitor PT=$W/proc.test BT=$W/budget.test
out() { echo "$*" >>"$W/results"; }
part() { case ",$PARTS," in *",$1,"*) return 0 ;; esac; return 1; }

# N processes in all: the spawner's children plus this shell, the spawner and the tools.
mkfifo "$W/hold.$N"
"$BH" spawn $((N - 3)) <"$W/hold.$N" >"$W/spawn.$N" &
exec 7>"$W/hold.$N"
until grep -q ready "$W/spawn.$N" 2>/dev/null; do sleep 0.05; done
cleanup() { exec 7>&-; wait; }
trap cleanup EXIT

# CPU of every thread of a process, in ns (schedstat: exact, unlike stat's ticks).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }'; }
# utime+stime from /proc/PID/stat, in clock ticks (the field numbers count from after comm).
cpu_ticks() { sed 's/.*) //' /proc/"$1"/stat | awk '{ print $12 + $13 }'; }
switches() { cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s }'; }
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

if part scan; then
	# --- CPU per scan, side by side: rounds alternate the three readers -----------------
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

	# --- Footprint: default settings but a 1 s interval, so that it does many full scans
	secs=20
	[ "$PROFILE" = short ] && secs=3
	start_mm "$W/rss.$N.log" --interval=1s
	rss0=$(vmrss $MMPID) fd0=$(fds $MMPID)
	sleep "$secs"
	out rss "$N" "$rss0" "$(vmrss $MMPID)" "$fd0" "$(fds $MMPID)" "$secs" \
		"$(awk '/^VmHWM/ { print $2 }' /proc/$MMPID/status)"
	stop_mm
fi

if part idle; then
	# --- Idle CPU, default settings (60 s interval), side by side over the same window:
	# the daemon, the daemon without its fast path, and earlyoom with its Debian defaults
	# (bench.sh finds or unpacks it and writes its path and arguments to $W/earlyoom.args).
	# Ten intervals: the daemon reads every process at least every tenth one and may
	# reuse the readings in between (nothing changes here), so a window of ten is an
	# hour's mix. The daemon starts last, so that its first scan lists everything that
	# stays (a process new since then would make the next scan read every process), and
	# the window is waited out with a shell builtin, not a sleep process.
	secs=${BENCH_IDLE_SECS:-600}
	[ "$PROFILE" = short ] && secs=5
	eo=
	if [ -s "$W/earlyoom.args" ]; then
		read -r -a eoargs <"$W/earlyoom.args"
		"${eoargs[@]}" >"$W/earlyoom.$N.log" 2>&1 &
		eo=$!
	fi
	start_mm "$W/idle-off.$N.log" --no-fast-path
	off=$MMPID
	start_mm "$W/idle.$N.log"
	on=$MMPID
	sleep 1 # past start-up and the first scans
	mkfifo "$W/never.$N"
	c0=$(cpu_ns $on) d0=$(cpu_ns $off) s0=$(switches $on) r0=$(switches $off)
	k0=$(cpu_ticks $on) l0=$(cpu_ticks $off)
	e0=0 ek0=0 es0=0
	[ -n "$eo" ] && e0=$(cpu_ns $eo) ek0=$(cpu_ticks $eo) es0=$(switches $eo)
	t0=$(date +%s%N)
	read -r -t "$secs" _ <>"$W/never.$N" || true
	c1=$(cpu_ns $on) d1=$(cpu_ns $off) s1=$(switches $on) r1=$(switches $off)
	k1=$(cpu_ticks $on) l1=$(cpu_ticks $off)
	e1=0 ek1=0 es1=0
	[ -n "$eo" ] && e1=$(cpu_ns $eo) ek1=$(cpu_ticks $eo) es1=$(switches $eo)
	t1=$(date +%s%N)
	if [ -n "$eo" ]; then
		out idle "$N" $((t1 - t0)) $((c1 - c0)) $((k1 - k0)) $((s1 - s0)) \
			$((d1 - d0)) $((l1 - l0)) $((r1 - r0)) $((e1 - e0)) $((ek1 - ek0)) $((es1 - es0)) "$(getconf CLK_TCK)"
		kill "$eo"
		wait "$eo"
	else
		out idle "$N" $((t1 - t0)) $((c1 - c0)) $((k1 - k0)) $((s1 - s0)) \
			$((d1 - d0)) $((l1 - l0)) $((r1 - r0)) - - - "$(getconf CLK_TCK)"
	fi
	stop_mm # the daemon, started last
	MMPID=$off
	stop_mm
fi

# --- Reaction ----------------------------------------------------------------------------
# Each hog prints "overshoot_mib latency_ms capped crossed_ns rate_mib pid" when SIGTERM
# reaches it. The overshoot and the latency reported are the daemon's own: rss_bytes and
# time= of its SIGTERM log line, less the threshold and the hog's crossing time.
# mm_term LOG PID: "rss_bytes time_ns" of the SIGTERM entry for PID, empty if none.
mm_term() {
	local line
	line=$(grep -F "msg=\"terminating PID $2 " "$1" | grep -F 'signal=SIGTERM' | head -1)
	[ -n "$line" ] || return 0
	local t rss
	t=${line#time=}
	t=${t%% *}
	rss=${line#* rss_bytes=}
	rss=${rss%% *}
	echo "$rss $(date -d "$t" +%s%N)"
}
# record KEY THR_MIB LOG HOGLINE: one "react" line, or "react KEY THR miss" when the hog
# was not stopped.
record() {
	local key=$1 thr=$2 log=$3 h=$4
	local ho hl capped crossed rate pid
	read -r ho hl capped crossed rate pid <<<"$h"
	if [ -z "${pid:-}" ]; then
		out react "$key" "$thr" miss
		return
	fi
	local mt rss tns
	mt=$(mm_term "$log" "$pid")
	if [ -z "$mt" ]; then
		out react "$key" "$thr" miss
		return
	fi
	read -r rss tns <<<"$mt"
	local lat=-1
	[ "$crossed" != 0 ] && lat=$(((tns - crossed) / 1000000))
	out react "$key" "$thr" $(((rss >> 20) - thr)) "$lat" "$ho" "$rate" "$capped"
}
# hog RATE THR_MIB [LEAD_MIB]: one bounded hog growing to 1.5 GiB past the threshold; its line.
hog() {
	local cap=$(($2 + 1536))
	local secs=60
	[ "$1" -gt 0 ] && secs=$((cap / $1 + 30))
	timeout "$secs" prlimit --as=$(((cap + 64) << 20)) "$BH" hog "$1" "$cap" "$2" "${3:-0}"
}
phase() { sleep "0.$((RANDOM % 10))$((RANDOM % 10))"; } # a random phase against the checks
settle() { sleep 1.5; } # the next hog starts after the freed memory is back and scanned

if part react; then
	trials=${BENCH_TRIALS:-10}
	rates="200 1024 0"
	thrs="2048 16384"
	if [ "$PROFILE" = short ]; then
		trials=1 rates="0" thrs="2048"
	fi
	# By growth rate and threshold, default settings but the threshold. Above 2 GiB the hog
	# touches all but the last 2 GiB (4 GiB at 1 GiB/s) unpaced, then grows at the rate:
	# the fast path paces by the growth it measured at the previous check, so the unpaced
	# lead-in only shortens the bench, and the threshold's room still counts in full.
	for thr in $thrs; do
		for rate in $rates; do
			lead=0
			if [ "$thr" -gt 2048 ] && [ "$rate" -gt 0 ]; then
				lead=2048
				[ "$rate" -ge 1024 ] && lead=4096
			fi
			echo "bench: reaction, $rate MiB/s (0: unpaced), threshold $thr MiB, $trials trials..." >&2
			log=$W/react.$rate.$thr.log
			start_mm "$log" --threshold=${thr}M
			for i in $(seq $trials); do
				phase
				record "rate$rate" "$thr" "$log" "$(hog "$rate" "$thr" "$lead")"
				settle
			done
			stop_mm
		done
	done

	# The masked hog: 200 MiB/s while two processes under the threshold give back
	# 125 MiB/s each, which cancels its growth in any level of used memory.
	thr=2048
	echo "bench: reaction, masked hog and hog after a kill, $trials trials each..." >&2
	log=$W/react.masked.log
	start_mm "$log" --threshold=${thr}M
	for i in $(seq $trials); do
		fpids=() fjobs=()
		for f in 1 2; do
			: >"$W/freer.$f"
			timeout 60 prlimit --as=$(((1536 + 64) << 20)) "$BH" freer 1536 125 >"$W/freer.$f" &
			fjobs+=($!)
		done
		for f in 1 2; do
			until grep -q ready "$W/freer.$f" 2>/dev/null; do sleep 0.02; done
			fpids+=("$(awk '/ready/ { print $2 }' "$W/freer.$f")")
		done
		sleep 1.5 # their allocation is seen and scanned: the frees start from a settled state
		kill -USR1 "${fpids[@]}"
		record masked "$thr" "$log" "$(hog 200 "$thr")"
		kill "${fpids[@]}" 2>/dev/null
		wait "${fjobs[@]}"
		settle
	done
	stop_mm

	# A 1.5 GiB/s hog started the moment the previous (unpaced) one got its SIGTERM: the
	# GiBs that one gives back while exiting cancel the new growth in any level.
	log=$W/react.after.log
	start_mm "$log" --threshold=${thr}M
	mkfifo "$W/first"
	for i in $(seq $trials); do
		phase
		hog 0 "$thr" >"$W/first" &
		first=$!
		read -r _ <"$W/first"
		record after "$thr" "$log" "$(hog 1536 "$thr")"
		wait "$first"
		settle
	done
	stop_mm
fi
