#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2016  # "A && B || fail" = both must hold; dpkg-query formats are literal
# End-to-end test of the memory-monitor package: boots Debian 12 (bookworm) with systemd
# as PID 1 in a throwaway systemd-nspawn container, installs the .deb with apt and walks
# through what an administrator does with it. See tests/e2e/README.md.
#
# usage: tests/e2e/run.sh PACKAGE.deb [UPGRADE1.deb UPGRADE2.deb]
#
# PACKAGE.deb is installed first; UPGRADE1 and UPGRADE2 must carry successively higher
# versions (`make e2e` builds all three). Without them, the upgrade packages are made by
# repacking PACKAGE.deb with a higher version number (same binary).
#
# Prints one PASS/FAIL line per scenario and ends with "N passed, M failed"; exits 1 if
# any scenario failed, 2 on a usage or setup problem.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/container.sh
source "$HERE/container.sh"
# shellcheck source=tests/e2e/budget.sh
source "$HERE/budget.sh"

UNIT=memory-monitor.service
DEFAULTS=/etc/default/memory-monitor
LOGFILE=/var/log/memory-monitor.log
MID_SIGNAL=0dd4266e9e43475fa2c798fff57e3afa
MID_OUTCOME=0e7bfcfd95304fe3b7e7af0f07c49fe2
MID_START=fa013506715a458f954941e56b86baa0
MID_RELOAD=9dcb8340472542baaa0dc202594e3511
THRESHOLD=200M
THRESHOLD_BYTES=209715200   # 200 MiB, as the man page defines M
GRACE_S=2

# A hog that grows without bound (it keeps one endless line), capped at 8 GB of address
# space and 60 s; one that ignores SIGTERM (SIG_IGN survives exec); and one that grows to
# about 300 MiB and then just waits, for the cases where it has to survive a while. Each
# grows at about 200 MiB/s (10 MiB every 50 ms), not at memory speed: the daemon stops a hog
# within a fraction of a second of crossing the threshold, and the harness must find its
# PID first.
HOG_GROW=(timeout -k 5 60 prlimit --as=8000000000 bash -c 'while head -c 10M /dev/zero; do sleep 0.05; done | exec tail')
HOG_STUBBORN=(timeout -k 5 60 prlimit --as=8000000000 bash -c 'trap "" TERM; while head -c 10M /dev/zero; do sleep 0.05; done | exec tail')
HOG_STEADY=(timeout -k 5 60 prlimit --as=8000000000 bash -c '{ for _ in $(seq 30); do head -c 10M /dev/zero; sleep 0.05; done; exec sleep 55; } | exec tail')

# ---------------------------------------------------------------------------------------
# Preconditions

if [[ $EUID -ne 0 ]]; then
	echo "e2e: needs root: it boots a Debian container with systemd-nspawn, which needs" >&2
	echo "e2e: cgroups, mounts and namespaces. Run it as root (sudo make e2e)." >&2
	exit 2
fi
missing=()
for tool in debootstrap systemd-nspawn nsenter zstd flock dpkg-deb; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
	echo "e2e: missing tools: ${missing[*]}" >&2
	echo "e2e: apt-get install -y debootstrap systemd-container zstd" >&2
	exit 2
fi
if (($# != 1 && $# != 3)); then
	echo "usage: $0 PACKAGE.deb [UPGRADE1.deb UPGRADE2.deb]" >&2
	exit 2
fi
for deb in "$@"; do
	[[ -f $deb ]] || { echo "e2e: no such package: $deb" >&2; exit 2; }
done

# ---------------------------------------------------------------------------------------
# Result bookkeeping

PASSED=0
FAILED=0
ERRORS=()
SUMMARY=()

fail() { ERRORS+=("$*"); }
info() { printf '      . %s\n' "$*"; }

now() { echo "${EPOCHREALTIME/./}"; }   # microseconds

# scenario NUMBER "title" function
scenario() {
	local num=$1 title=$2 fn=$3 t0 secs line
	# E2E_ONLY="18 21" runs those scenarios (and 1, which installs the package).
	if [[ -n ${E2E_ONLY:-} && $num != 1 && " $E2E_ONLY " != *" $num "* ]]; then
		SUMMARY+=("$(printf 'NOT RUN %2s. %s (E2E_ONLY)' "$num" "$title")")
		return
	fi
	ERRORS=()
	SCEN_CURSOR=$(journal_cursor)
	t0=$(now)
	echo "--- $num. $title"
	if kill -0 "$E2E_LEADER" 2>/dev/null; then
		"$fn"
	else
		if [[ -z ${CONTAINER_GONE:-} ]]; then
			CONTAINER_GONE=1
			echo "      the container stopped unexpectedly; end of the nspawn log:"
			tail -n 15 "$E2E_SCRATCH/nspawn.log" | sed 's/^/        | /'
		fi
		fail "the container is gone; not run"
	fi
	secs=$(awk -v d=$(($(now) - t0)) 'BEGIN { printf "%.1f", d / 1e6 }')
	if ((${#ERRORS[@]} == 0)); then
		PASSED=$((PASSED + 1))
		line=$(printf 'PASS %2s. %s (%ss)' "$num" "$title" "$secs")
	else
		FAILED=$((FAILED + 1))
		line=$(printf 'FAIL %2s. %s (%ss)' "$num" "$title" "$secs")
		local e
		for e in "${ERRORS[@]}"; do printf '      x %s\n' "$e"; done
		echo "      journal of $UNIT during this scenario (last 25 lines):"
		unit_log_after "$SCEN_CURSOR" | tail -n 25 | sed 's/^/        | /'
	fi
	echo "$line"
	SUMMARY+=("$line")
}

# ---------------------------------------------------------------------------------------
# Helpers that act inside the container

# Poll until a command succeeds; wait_for SECONDS cmd...
wait_for() {
	local limit=$1 t0
	shift
	t0=$(now)
	while ! "$@"; do
		(($(now) - t0 < limit * 1000000)) || return 1
		sleep 0.2
	done
}

prop() { e2e_exec systemctl show -p "$2" --value "$1" 2>/dev/null; }
active() { [[ $(e2e_exec systemctl is-active "$UNIT" 2>/dev/null) == active ]]; }
main_pid() { prop "$UNIT" MainPID; }

journal_cursor() {
	e2e_exec journalctl -q -n 0 --show-cursor 2>/dev/null | sed -n 's/^-- cursor: //p'
}

# The journal after CURSOR (all of this boot if empty).
# Never combine --after-cursor with matches (-u, FIELD=...): journalctl 252 then skips the
# first matching entry when the cursor's own entry does not match. Filter afterwards.
journal_after() {
	local cursor=$1
	shift
	e2e_exec journalctl --no-pager -q -b ${cursor:+--after-cursor="$cursor"} "$@" 2>/dev/null
}

# The unit's lines after CURSOR, for diagnostics.
unit_log_after() {
	journal_after "$1" -o short-precise | grep -E 'memory-monitor|e2e-hog'
}

# Entries of the daemon (_SYSTEMD_UNIT=memory-monitor.service) after CURSOR whose fields
# match every KEY=VALUE given, one per line: fields separated by \x1f, plus
# __T=<realtime in µs, hex> from the header. KEY=* only requires the field to exist.
journal_find() {
	local cursor=$1
	shift
	journal_after "$cursor" -o verbose |
		awk -v conds="_SYSTEMD_UNIT=$UNIT $*" '
		function flush(   i, n, c, k, v, ok) {
			if (rec == "") return
			ok = 1
			n = split(conds, c, " ")
			for (i = 1; i <= n; i++) {
				k = c[i]; sub(/=.*/, "", k); v = substr(c[i], length(k) + 2)
				if (!(k in f) || (v != "*" && f[k] != v)) { ok = 0; break }
			}
			if (ok) print rec
			rec = ""; delete f
		}
		/^[^ \t]/ {
			flush()
			rec = "__T=" ($0 ~ /;t=[0-9a-f]+;/ ? substr($0, match($0, /;t=[0-9a-f]+;/) + 3, RLENGTH - 4) : "0")
			f["__T"] = 1
			next
		}
		{
			line = $0; sub(/^[ \t]+/, "", line)
			k = line; sub(/=.*/, "", k)
			f[k] = substr(line, length(k) + 2)
			rec = rec "\037" line
		}
		END { flush() }'
}

# field RECORD KEY: a field's value from a journal_find line.
field() {
	local IFS=$'\x1f' kv
	for kv in $1; do
		[[ $kv == "$2="* ]] && { echo "${kv#*=}"; return 0; }
	done
	return 1
}

# realtime of a journal_find line in µs
rec_time() { echo $((16#$(field "$1" __T))); }

# Wait for the first matching journal entry; prints it.
journal_wait() {
	local limit=$1 cursor=$2 rec t0
	shift 2
	t0=$(now)
	while :; do
		rec=$(journal_find "$cursor" "$@" | head -n 1)
		[[ -n $rec ]] && { echo "$rec"; return 0; }
		if (($(now) - t0 >= limit * 1000000)); then
			[[ -n ${E2E_DEBUG:-} ]] && { echo "DEBUG journal_wait cursor=$cursor conds=$*"; journal_find "" "$@" | tr '\037' ' ' | cut -c1-200; e2e_exec journalctl -q -n 0 --show-cursor; } >&2
			return 1
		fi
		sleep 0.25
	done
}

# Edit /etc/default/memory-monitor as an administrator would: drop earlier active
# assignments of each variable, then append the new ones. "NAME=" alone removes it.
set_config() {
	local kv script=""
	for kv in "$@"; do
		script+="sed -i '/^[[:space:]]*${kv%%=*}=/d' $DEFAULTS; "
		[[ -n ${kv#*=} ]] && script+="echo '$kv' >>$DEFAULTS; "
	done
	e2e_sh "$script"
}

restart_unit() { e2e_exec systemctl restart "$UNIT" 2>&1; }

# start_hog UNIT-NAME argv...: runs the hog as a transient service (a proper unit in the
# container, bounded again by RuntimeMaxSec) and prints the pid of its tail process once
# that exists. Every hog ends up as a process named tail in the session that systemd
# opened for the service (the wrapper, its main process, is the session leader).
start_hog() {
	local name=$1 mp pid t0
	shift
	e2e_exec systemctl reset-failed "$name.service" >/dev/null 2>&1
	e2e_exec rm -f "/run/$name.status"
	# The wrapper records how the hog ended: 128+N if signal N ended it (timeout
	# re-raises the signal that ended its child).
	e2e_exec systemd-run --quiet --unit="$name" -p RuntimeMaxSec=70 -- \
		bash -c '"$@"; echo $? >"/run/'"$name"'.status"' hog "$@" || return 1
	t0=$(now)
	while (($(now) - t0 < 5000000)); do
		mp=$(prop "$name.service" MainPID)
		if [[ -n $mp && $mp != 0 ]]; then
			pid=$(e2e_exec pgrep -x -s "$mp" tail | head -n 1)
			if [[ -n $pid ]]; then echo "$pid"; return 0; fi
		fi
		sleep 0.05
	done
	return 1
}

alive() { e2e_exec test -d "/proc/$1"; }
# How a hog ended (after it is gone): "signal N", "exit N" or "unknown".
hog_end() {
	local st
	wait_for 3 e2e_exec test -s "/run/$1.status" || { echo unknown; return; }
	st=$(e2e_exec cat "/run/$1.status")
	if ((st > 128)); then echo "signal $((st - 128))"; else echo "exit $st"; fi
}
gone() { ! alive "$1"; }
stop_hog() {
	e2e_exec systemctl stop "$1.service" >/dev/null 2>&1
	e2e_exec systemctl reset-failed "$1.service" >/dev/null 2>&1
	true
}
rss_mib() { e2e_sh "awk '/^VmRSS/ { print int(\$2 / 1024) }' /proc/$1/status 2>/dev/null"; }

# The log file line for an event: log_line FILE pid=N signal=X...
log_has() {
	local file=$1
	shift
	e2e_exec cat "$file" 2>/dev/null | awk -v conds="$*" '
		BEGIN { n = split(conds, c, " ") }
		{ ok = 1; for (i = 1; i <= n; i++) if (index(" " $0 " ", " " c[i] " ") == 0) { ok = 0; break }
		  if (ok) { print; found = 1 } }
		END { exit !found }'
}

# Check a signal entry's documented fields; check_signal_entry RECORD PID SIGNAL DRYRUN
check_signal_entry() {
	local rec=$1 pid=$2 sig=$3 dry=$4 rss thr comm uid
	comm=$(field "$rec" TARGET_COMM) || fail "signal entry for pid $pid has no TARGET_COMM"
	[[ ${comm:-} == tail ]] || fail "TARGET_COMM is '${comm:-}', expected tail"
	uid=$(field "$rec" TARGET_UID) || fail "signal entry for pid $pid has no TARGET_UID"
	[[ ${uid:-} == 0 ]] || fail "TARGET_UID is '${uid:-}', expected 0"
	[[ $(field "$rec" SIGNAL) == "$sig" ]] || fail "SIGNAL is '$(field "$rec" SIGNAL)', expected $sig"
	[[ $(field "$rec" DRY_RUN) == "$dry" ]] || fail "DRY_RUN is '$(field "$rec" DRY_RUN)', expected $dry"
	thr=$(field "$rec" THRESHOLD_BYTES) || fail "signal entry has no THRESHOLD_BYTES"
	[[ ${thr:-} == "$THRESHOLD_BYTES" ]] || fail "THRESHOLD_BYTES is '${thr:-}', expected $THRESHOLD_BYTES"
	rss=$(field "$rec" RSS_BYTES) || fail "signal entry has no RSS_BYTES"
	if [[ ${rss:-x} =~ ^[0-9]+$ ]]; then
		((rss > THRESHOLD_BYTES)) || fail "RSS_BYTES $rss is not above the threshold"
	else
		fail "RSS_BYTES is '${rss:-}', not a number"
	fi
	info "journal: MESSAGE_ID=$MID_SIGNAL TARGET_PID=$pid TARGET_COMM=${comm:-} TARGET_UID=${uid:-} SIGNAL=$(field "$rec" SIGNAL) RSS_BYTES=${rss:-} THRESHOLD_BYTES=${thr:-} DRY_RUN=$(field "$rec" DRY_RUN)"
}

copy_in() { # copy_in HOSTFILE -> /root/debs/NAME inside
	mkdir -p "$E2E_ROOT/root/debs"
	cp "$1" "$E2E_ROOT/root/debs/"
	echo "/root/debs/$(basename "$1")"
}

apt_install() { # apt_install /path/in/container.deb; output in $APT_OUT
	APT_OUT=$(e2e_exec timeout 300 apt-get install -y -o Dpkg::Use-Pty=0 "$1" </dev/null 2>&1)
}

deb_version() { dpkg-deb -f "$1" Version; }

# ---------------------------------------------------------------------------------------
# Scenarios

s_install() {
	local pkg st
	pkg=$(copy_in "$DEB1")
	if ! apt_install "$pkg"; then
		fail "apt-get install $pkg failed"
		printf '%s\n' "$APT_OUT" | tail -n 20 | sed 's/^/        | /'
		return
	fi
	st=$(e2e_exec dpkg-query -W -f='${Status} ${Version}' memory-monitor 2>&1)
	[[ $st == "install ok installed $V1" ]] || fail "dpkg-query: '$st', expected 'install ok installed $V1'"
	local f
	for f in /usr/sbin/memory-monitor /usr/lib/systemd/system/$UNIT $DEFAULTS /etc/logrotate.d/memory-monitor \
		/usr/share/man/man8/memory-monitor.8.gz; do
		e2e_exec test -f "$f" || fail "$f is not installed"
	done
	if e2e_exec grep -Eq '^[[:space:]]*MEMORY_MONITOR_' "$DEFAULTS"; then
		fail "$DEFAULTS sets options; all should be commented out"
	fi
	[[ $(e2e_exec systemctl is-enabled "$UNIT" 2>&1) == enabled ]] || fail "not enabled: $(e2e_exec systemctl is-enabled "$UNIT" 2>&1)"
	wait_for 10 active || fail "not active: $(e2e_exec systemctl is-active "$UNIT" 2>&1)"
	[[ $(prop "$UNIT" Type) == notify ]] || fail "Type=$(prop "$UNIT" Type), expected notify"
	# Type=notify: "active (running)" is only reached after READY=1.
	[[ $(prop "$UNIT" SubState) == running ]] || fail "SubState=$(prop "$UNIT" SubState), expected running (READY=1)"
	local status text
	text=$(prop "$UNIT" StatusText)
	[[ -n $text ]] || fail "no STATUS= text (StatusText is empty)"
	status=$(e2e_exec systemctl status --no-pager "$UNIT" 2>&1)
	if [[ -n $text ]] && ! grep -qF "Status: \"$text\"" <<<"$status"; then
		fail "systemctl status does not show the STATUS text"
	fi
	grep -q 'Active: active (running)' <<<"$status" || fail "systemctl status: $(grep Active: <<<"$status")"
	info "$(grep -E 'Active:|Status:' <<<"$status" | sed 's/^ *//' | paste -sd ';')"
	[[ -n $(journal_find "" MESSAGE_ID=$MID_START) ]] || fail "no start entry (MESSAGE_ID=$MID_START) in the journal"
}

s_man() {
	local out err rc
	out=$(e2e_exec env MANPAGER=cat MANWIDTH=80 man memory-monitor 2>"$E2E_SCRATCH/man.err")
	rc=$?
	err=$(cat "$E2E_SCRATCH/man.err")
	((rc == 0)) || fail "man memory-monitor exited $rc: $err"
	[[ -z $err ]] || fail "man printed warnings: $err"
	grep -q '^NAME' <<<"$out" || fail "rendered page has no NAME section"
	grep -q 'memory-monitor' <<<"$out" || fail "rendered page does not mention memory-monitor"
	grep -qE '^MEMORY-MONITOR\(8\)' <<<"$out" || fail "rendered page has no MEMORY-MONITOR(8) header"
	info "$(wc -l <<<"$out") lines rendered; $(e2e_exec man -w memory-monitor 2>&1)"
}

s_hardening() {
	local want k v pid out
	for want in ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes; do
		k=${want%%=*}
		v=$(prop "$UNIT" "$k")
		[[ $v == "${want#*=}" ]] || fail "systemctl show: $k=$v, expected ${want#*=}"
	done
	info "$(e2e_exec systemctl show -p ProtectSystem -p ProtectHome -p PrivateTmp -p NoNewPrivileges -p User "$UNIT" | paste -sd ' ')"
	info "$(e2e_exec systemd-analyze security "$UNIT" --no-pager 2>/dev/null | grep -i 'overall exposure' | sed 's/^ *//')"
	pid=$(main_pid)
	if [[ -z $pid || $pid == 0 ]]; then
		fail "service has no main process"
		return
	fi
	# What the container (host side of the service) has, to compare with the service's view.
	e2e_sh 'mkdir -p /home/e2e-user && echo secret >/home/e2e-user/notes && echo host >/tmp/e2e-host-marker' ||
		fail "could not prepare /home and /tmp markers"
	local svc="nsenter -t $pid -m --"
	local d
	for d in /usr /etc; do
		if out=$(e2e_sh "$svc touch $d/.e2e-probe" 2>&1); then
			fail "$d is writable from the service's view"
			e2e_sh "$svc rm -f $d/.e2e-probe"
		elif ! grep -q 'Read-only file system' <<<"$out"; then
			fail "writing $d from the service's view failed, but not as read-only: $out"
		fi
	done
	local home
	home=$(e2e_sh "$svc find /home -mindepth 1 2>&1")
	[[ -z $home ]] || fail "/home is not empty from the service's view: $home"
	e2e_sh "$svc test -e /tmp/e2e-host-marker" && fail "/tmp is shared: the service sees /tmp/e2e-host-marker"
	e2e_sh "$svc sh -c 'echo svc >/tmp/e2e-svc-marker'" || fail "the service's private /tmp is not writable"
	e2e_exec test -e /tmp/e2e-svc-marker && fail "/tmp is shared: a file written in the service's /tmp shows in /tmp"
	e2e_sh "$svc rm -f /tmp/e2e-svc-marker; rm -rf /tmp/e2e-host-marker /home/e2e-user"
}

s_watchdog() {
	local wd pid1 pid2 n1 t1 t2 cur
	wd=$(prop "$UNIT" WatchdogUSec)
	[[ -n $wd && $wd != 0 && $wd != infinity ]] || fail "WatchdogUSec is '$wd': no watchdog"
	info "shipped WatchdogUSec=$wd; testing with a 2 s drop-in over 4 periods"
	# Shorten the period with a drop-in so that several periods fit in a few seconds.
	e2e_sh "mkdir -p /etc/systemd/system/$UNIT.d && printf '[Service]\nWatchdogSec=2s\n' >/etc/systemd/system/$UNIT.d/e2e-watchdog.conf && systemctl daemon-reload"
	cur=$(journal_cursor)
	restart_unit >/dev/null || fail "restart with WatchdogSec=2s failed"
	[[ $(prop "$UNIT" WatchdogUSec) == 2s ]] || fail "drop-in not applied: WatchdogUSec=$(prop "$UNIT" WatchdogUSec)"
	pid1=$(main_pid)
	n1=$(prop "$UNIT" NRestarts)
	sleep 1
	t1=$(prop "$UNIT" WatchdogTimestampMonotonic)
	sleep 7
	t2=$(prop "$UNIT" WatchdogTimestampMonotonic)
	pid2=$(main_pid)
	active || fail "service not active after 4 watchdog periods"
	[[ $pid1 == "$pid2" ]] || fail "main pid changed from $pid1 to $pid2 (restarted)"
	[[ $(prop "$UNIT" NRestarts) == "$n1" ]] || fail "NRestarts went from $n1 to $(prop "$UNIT" NRestarts)"
	[[ -n $t1 && -n $t2 && $t2 -gt $t1 ]] || fail "no WATCHDOG=1 seen: WatchdogTimestampMonotonic $t1 -> $t2"
	if grep -qi 'watchdog timeout' <<<"$(unit_log_after "$cur")"; then
		fail "systemd reported a watchdog timeout"
	fi
	e2e_sh "rm -rf /etc/systemd/system/$UNIT.d && systemctl daemon-reload"
	restart_unit >/dev/null || fail "restart after removing the drop-in failed"
}

# A crash or a watchdog kill (SIGABRT: the Go runtime dumps its goroutines and exits 2)
# restarts the service; a bad configuration (78) does not (scenario 7).
s_crash_restarts() {
	local pid1 pid2 n1 n2 cur out
	pid1=$(main_pid)
	n1=$(prop "$UNIT" NRestarts)
	cur=$(journal_cursor)
	out=$(e2e_exec systemctl kill -s ABRT "$UNIT" 2>&1) || { fail "systemctl kill -s ABRT failed: $out"; return; }
	# RestartSec=5s, then the new process must send READY=1.
	if ! wait_for 15 eval '[[ $(main_pid) != "$pid1" && $(main_pid) != 0 ]] && active'; then
		fail "not restarted 15 s after SIGABRT: $(e2e_exec systemctl is-active "$UNIT"), Result=$(prop "$UNIT" Result), NRestarts=$(prop "$UNIT" NRestarts)"
		return
	fi
	pid2=$(main_pid)
	n2=$(prop "$UNIT" NRestarts)
	((n2 == n1 + 1)) || fail "NRestarts went from $n1 to $n2, expected $((n1 + 1))"
	grep -q 'status=2/INVALIDARGUMENT\|code=dumped\|code=killed\|signal=ABRT' <<<"$(unit_log_after "$cur")" ||
		fail "the journal does not say how the process ended"
	info "SIGABRT: main pid $pid1 -> $pid2, NRestarts $n1 -> $n2; $(unit_log_after "$cur" | grep -m1 -oE 'Main process exited, .*' || true)"
}

s_kill() {
	local cur out pid t0 t1 rec
	set_config MEMORY_MONITOR_THRESHOLD=$THRESHOLD MEMORY_MONITOR_ALLOW_LOW_THRESHOLD=true MEMORY_MONITOR_INTERVAL=1s MEMORY_MONITOR_GRACE=${GRACE_S}s
	cur=$(journal_cursor)
	out=$(restart_unit) || { fail "systemctl restart failed: $out"; return; }
	active || fail "not active after restart"
	rec=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_START) || fail "no start entry after the restart"
	info "start entry: $(tr '\037' '\n' <<<"$rec" | grep -vE '^(_|__|MESSAGE_ID|PRIORITY|SYSLOG|CODE_|INVOCATION_ID)' | paste -sd ' ')"
	t0=$(now)
	pid=$(start_hog e2e-hog-kill "${HOG_GROW[@]}") || { fail "could not start the hog"; return; }
	if ! wait_for 15 gone "$pid"; then
		fail "hog pid $pid (RSS $(rss_mib "$pid") MiB) still alive after 15 s"
		stop_hog e2e-hog-kill
		return
	fi
	t1=$(now)
	info "hog pid $pid gone $(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1e6 }') s after start"
	local end
	end=$(hog_end e2e-hog-kill)
	[[ $end == "signal 15" ]] || fail "hog ended with $end, expected signal 15 (SIGTERM)"
	stop_hog e2e-hog-kill
	rec=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_SIGNAL TARGET_PID="$pid" SIGNAL=SIGTERM) ||
		{ fail "journalctl -u memory-monitor has no SIGTERM entry for pid $pid"; return; }
	check_signal_entry "$rec" "$pid" SIGTERM false
	# The query an administrator would type.
	[[ -n $(e2e_exec journalctl -q --no-pager -u memory-monitor MESSAGE_ID=$MID_SIGNAL TARGET_PID="$pid" -o cat) ]] ||
		fail "journalctl -u memory-monitor MESSAGE_ID=$MID_SIGNAL TARGET_PID=$pid finds nothing"
	rec=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_OUTCOME TARGET_PID="$pid" OUTCOME='*') ||
		fail "no outcome entry (MESSAGE_ID=$MID_OUTCOME) for pid $pid"
	[[ -n $rec ]] && info "outcome: OUTCOME=$(field "$rec" OUTCOME)"
	local line
	line=$(log_has $LOGFILE "pid=$pid" comm=tail signal=SIGTERM) ||
		fail "$LOGFILE has no line with pid=$pid comm=tail signal=SIGTERM"
	[[ -n $line ]] && info "log: $line"
	[[ -z $line ]] || grep -q "message_id=$MID_SIGNAL" <<<"$line" || fail "log line lacks message_id=$MID_SIGNAL"
	[[ -z $line ]] || grep -q 'rss_bytes=[0-9]' <<<"$line" || fail "log line lacks rss_bytes="
}

s_stubborn() {
	local cur pid rec_term rec_kill dt
	cur=$(journal_cursor)
	pid=$(start_hog e2e-hog-stubborn "${HOG_STUBBORN[@]}") || { fail "could not start the hog"; return; }
	if ! wait_for 20 gone "$pid"; then
		fail "SIGTERM-ignoring hog pid $pid still alive after 20 s"
		stop_hog e2e-hog-stubborn
		return
	fi
	local end
	end=$(hog_end e2e-hog-stubborn)
	[[ $end == "signal 9" ]] || fail "hog ended with $end, expected signal 9 (SIGKILL)"
	stop_hog e2e-hog-stubborn
	rec_term=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_SIGNAL TARGET_PID="$pid" SIGNAL=SIGTERM) ||
		fail "no SIGTERM entry for pid $pid"
	rec_kill=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_SIGNAL TARGET_PID="$pid" SIGNAL=SIGKILL) ||
		{ fail "no SIGKILL entry for pid $pid"; return; }
	check_signal_entry "$rec_kill" "$pid" SIGKILL false
	if [[ -n $rec_term ]]; then
		dt=$(($(rec_time "$rec_kill") - $(rec_time "$rec_term")))
		info "SIGKILL $(awk -v d=$dt 'BEGIN { printf "%.2f", d / 1e6 }') s after SIGTERM (grace ${GRACE_S}s, interval 1s)"
		# One grace period, give or take a scan interval.
		((dt >= (GRACE_S * 1000 - 300) * 1000)) || fail "SIGKILL came too early: $dt µs after SIGTERM"
		((dt <= (GRACE_S + 2) * 1000000)) || fail "SIGKILL came too late: $dt µs after SIGTERM"
	fi
	local rec
	rec=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_OUTCOME TARGET_PID="$pid" OUTCOME='*') ||
		fail "no outcome entry for pid $pid"
	[[ -n $rec ]] && info "outcome: OUTCOME=$(field "$rec" OUTCOME)"
	log_has $LOGFILE "pid=$pid" signal=SIGKILL >/dev/null || fail "$LOGFILE has no line with pid=$pid signal=SIGKILL"
}

s_dry_run() {
	local cur out pid rec
	set_config MEMORY_MONITOR_DRY_RUN=true
	cur=$(journal_cursor)
	out=$(restart_unit) || { fail "systemctl restart failed: $out"; return; }
	pid=$(start_hog e2e-hog-dry "${HOG_STEADY[@]}") || { fail "could not start the hog"; return; }
	rec=$(journal_wait 10 "$cur" MESSAGE_ID=$MID_SIGNAL TARGET_PID="$pid") ||
		fail "no would-terminate entry for pid $pid within 10 s"
	[[ -n $rec ]] && check_signal_entry "$rec" "$pid" SIGTERM true
	sleep 3 # three more scans
	alive "$pid" || fail "hog pid $pid was stopped in dry-run mode"
	info "hog pid $pid alive 3 s after the would-terminate entry, RSS $(rss_mib "$pid") MiB"
	[[ -n $(journal_find "$cur" MESSAGE_ID=$MID_SIGNAL TARGET_PID="$pid" DRY_RUN=false) ]] &&
		fail "a real signal entry (DRY_RUN=false) exists for pid $pid"
	local line
	line=$(log_has $LOGFILE "pid=$pid" dry_run=true) || fail "$LOGFILE has no line with pid=$pid dry_run=true"
	[[ -n $line ]] && info "log: $line"
	stop_hog e2e-hog-dry
	set_config MEMORY_MONITOR_DRY_RUN=
}

s_bad_config() {
	local cur out pid state lines
	set_config MEMORY_MONITOR_THRESHOLD=lots
	cur=$(journal_cursor)
	if out=$(restart_unit); then
		fail "systemctl restart succeeded with MEMORY_MONITOR_THRESHOLD=lots"
	fi
	sleep 1
	state=$(e2e_exec systemctl is-active "$UNIT")
	[[ $state != active ]] || fail "service is active with a bad value"
	[[ $(prop "$UNIT" ExecMainStatus) == 78 ]] || fail "exit status $(prop "$UNIT" ExecMainStatus), expected 78 (EX_CONFIG)"
	# RestartPreventExitStatus=78: no restart is scheduled (RestartSec=5s; wait past it).
	local n0
	n0=$(prop "$UNIT" NRestarts)
	sleep 5.5
	state=$(e2e_exec systemctl is-active "$UNIT")
	[[ $state == failed ]] || fail "state is '$state' 5.5 s after a bad configuration, expected failed (no restart)"
	[[ $(prop "$UNIT" NRestarts) == "$n0" ]] || fail "NRestarts went from $n0 to $(prop "$UNIT" NRestarts): restarted after a bad configuration"
	# What the program wrote to stderr (the journal's stdout transport) since the restart.
	local rec
	lines=$(journal_find "$cur" _TRANSPORT=stdout | while IFS= read -r rec; do field "$rec" MESSAGE; done | sort -u)
	if [[ $(grep -c . <<<"$lines") != 1 ]]; then
		fail "expected one distinct error line, got: $(paste -sd '|' <<<"$lines")"
	fi
	grep -q 'MEMORY_MONITOR_THRESHOLD' <<<"$lines" && grep -q 'lots' <<<"$lines" ||
		fail "the error does not name MEMORY_MONITOR_THRESHOLD and its value: $lines"
	info "error: $(head -n 1 <<<"$lines")"
	out=$(e2e_exec systemctl status --no-pager "$UNIT" 2>&1)
	[[ -n $lines ]] && grep -qF "$(head -n 1 <<<"$lines")" <<<"$out" ||
		fail "systemctl status does not show the error line"
	grep -q 'status=78/CONFIG' <<<"$out" || fail "systemctl status does not show status=78/CONFIG: $(grep -E 'Process:|Main PID:' <<<"$out" | paste -sd ' ')"
	info "state: $state, $(prop "$UNIT" Result), NRestarts=$(prop "$UNIT" NRestarts)"
	# Nothing is killed while the service is down.
	pid=$(start_hog e2e-hog-bad "${HOG_STEADY[@]}") || { fail "could not start the hog"; return; }
	sleep 3
	alive "$pid" || fail "hog pid $pid died while the service was failed"
	[[ -n $(journal_find "$cur" MESSAGE_ID=$MID_SIGNAL) ]] && fail "signal entries were logged by a failed service"
	# Fix the file as the admin would, restart: the service recovers and stops the hog.
	set_config MEMORY_MONITOR_THRESHOLD=$THRESHOLD
	cur=$(journal_cursor)
	out=$(restart_unit) || fail "restart after fixing the file failed: $out"
	active || fail "not active after fixing the file"
	if wait_for 10 gone "$pid"; then
		info "recovered: hog pid $pid stopped after the fix"
	else
		fail "after the fix, hog pid $pid is still alive after 10 s"
	fi
	stop_hog e2e-hog-bad
}

# The typo the floor exists for: 20MB written for 20GB. The service refuses to start,
# says why and how to confirm a low threshold on purpose, and every session survives.
s_low_threshold_typo() {
	local cur out pid lines rec
	pid=$(start_hog e2e-session timeout -k 5 60 bash -c '{ head -c 50M /dev/zero; exec sleep 55; } | exec tail') ||
		{ fail "could not start the session stand-in"; return; }
	set_config MEMORY_MONITOR_THRESHOLD=20MB MEMORY_MONITOR_ALLOW_LOW_THRESHOLD=
	cur=$(journal_cursor)
	if out=$(restart_unit); then
		fail "systemctl restart succeeded with MEMORY_MONITOR_THRESHOLD=20MB"
	fi
	sleep 1
	[[ $(prop "$UNIT" ExecMainStatus) == 78 ]] || fail "exit status $(prop "$UNIT" ExecMainStatus), expected 78"
	lines=$(journal_find "$cur" _TRANSPORT=stdout | while IFS= read -r rec; do field "$rec" MESSAGE; done | sort -u)
	grep -q 'MEMORY_MONITOR_THRESHOLD="20MB"' <<<"$lines" && grep -q 'allow-low-threshold' <<<"$lines" ||
		fail "the error does not name the value and the way to confirm it: $lines"
	info "error: $(head -n 1 <<<"$lines")"
	sleep 2
	alive "$pid" || fail "a 50 MiB process died while the threshold read 20MB"
	[[ -n $(journal_find "$cur" MESSAGE_ID=$MID_SIGNAL) ]] && fail "signals were sent with a 20MB threshold"
	set_config MEMORY_MONITOR_THRESHOLD=$THRESHOLD MEMORY_MONITOR_ALLOW_LOW_THRESHOLD=true
	out=$(restart_unit) || fail "restart after the fix failed: $out"
	active || fail "not active after the fix"
	alive "$pid" || fail "the 50 MiB process died after the fix (threshold $THRESHOLD)"
	stop_hog e2e-session
}

# reload_unit: systemctl reload, its output (and a failure's) on stdout.
reload_unit() { e2e_exec timeout 100 systemctl reload "$UNIT" 2>&1; }

# (a) systemctl reload applies a lowered threshold to the running daemon: same main PID,
# one reload entry naming the change, a hog started afterwards stopped under it.
s_reload_apply() {
	local cur out pid pid1 rec thr
	set_config MEMORY_MONITOR_THRESHOLD=2G MEMORY_MONITOR_INTERVAL=1s MEMORY_MONITOR_GRACE=${GRACE_S}s
	out=$(restart_unit) || { fail "systemctl restart failed: $out"; return; }
	active || { fail "not active after restart with a 2G threshold"; return; }
	pid1=$(main_pid)
	set_config MEMORY_MONITOR_THRESHOLD=$THRESHOLD
	out=$(e2e_exec memory-monitor check 2>&1)
	(($? < 2)) || fail "memory-monitor check found errors: $out"
	cur=$(journal_cursor)
	out=$(reload_unit) || { fail "systemctl reload failed: $out"; return; }
	[[ $(main_pid) == "$pid1" ]] || fail "main PID changed from $pid1 to $(main_pid) by the reload"
	active || fail "not active after the reload"
	rec=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_RELOAD) || { fail "no reload entry (MESSAGE_ID=$MID_RELOAD)"; return; }
	thr=$(field "$rec" THRESHOLD)
	[[ $thr == "2.0 GiB -> 200.0 MiB" ]] || fail "reload entry: THRESHOLD='$thr', expected '2.0 GiB -> 200.0 MiB'"
	info "reload entry: $(field "$rec" MESSAGE)"
	pid=$(start_hog e2e-hog-reload "${HOG_GROW[@]}") || { fail "could not start the hog"; return; }
	if ! wait_for 15 gone "$pid"; then
		fail "hog pid $pid (RSS $(rss_mib "$pid") MiB) still alive 15 s after the reload to $THRESHOLD"
		stop_hog e2e-hog-reload
		return
	fi
	[[ $(hog_end e2e-hog-reload) == "signal 15" ]] || fail "hog ended with $(hog_end e2e-hog-reload), expected signal 15"
	stop_hog e2e-hog-reload
	rec=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_SIGNAL TARGET_PID="$pid" SIGNAL=SIGTERM) ||
		{ fail "no SIGTERM entry for pid $pid"; return; }
	check_signal_entry "$rec" "$pid" SIGTERM false
	[[ $(main_pid) == "$pid1" ]] || fail "main PID changed from $pid1 to $(main_pid)"
}

# (b) A bad value makes systemctl reload fail with the line naming the variable; the
# daemon keeps its settings and keeps stopping hogs.
s_reload_bad() {
	local cur out pid pid1 rec status
	pid1=$(main_pid)
	set_config MEMORY_MONITOR_THRESHOLD=lots
	cur=$(journal_cursor)
	if out=$(reload_unit); then
		fail "systemctl reload succeeded with MEMORY_MONITOR_THRESHOLD=lots"
	fi
	active || fail "service not active after the refused reload"
	[[ $(main_pid) == "$pid1" ]] || fail "main PID changed from $pid1 to $(main_pid)"
	status=$(e2e_exec systemctl status --no-pager -n 20 "$UNIT" 2>&1)
	grep -q 'MEMORY_MONITOR_THRESHOLD="lots"' <<<"$status" ||
		fail "systemctl status does not name MEMORY_MONITOR_THRESHOLD=\"lots\": $(tail -n 5 <<<"$status" | paste -sd '|')"
	info "status: $(grep -m1 'MEMORY_MONITOR_THRESHOLD' <<<"$status" | sed 's/^ *//')"
	journal_find "$cur" _TRANSPORT=stdout | grep -q 'MEMORY_MONITOR_THRESHOLD="lots"' ||
		fail "the journal has no line naming MEMORY_MONITOR_THRESHOLD=\"lots\" since the reload"
	[[ -z $(journal_find "$cur" MESSAGE_ID=$MID_RELOAD) ]] || fail "a reload entry was logged for a refused reload"
	pid=$(start_hog e2e-hog-reload-bad "${HOG_GROW[@]}") || { fail "could not start the hog"; return; }
	if wait_for 15 gone "$pid"; then
		rec=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_SIGNAL TARGET_PID="$pid" SIGNAL=SIGTERM) &&
			check_signal_entry "$rec" "$pid" SIGTERM false || fail "no SIGTERM entry for pid $pid"
	else
		fail "hog pid $pid still alive 15 s after the refused reload"
	fi
	stop_hog e2e-hog-reload-bad
	set_config MEMORY_MONITOR_THRESHOLD=$THRESHOLD
	out=$(reload_unit) || fail "reload after fixing the file failed: $out"
}

# (c) A stop in its grace period when a reload changes the grace still ends in SIGKILL
# when the grace it started with ends.
s_reload_grace() {
	local cur out pid rec_term rec_kill dt
	cur=$(journal_cursor)
	pid=$(start_hog e2e-hog-reload-grace "${HOG_STUBBORN[@]}") || { fail "could not start the hog"; return; }
	rec_term=$(journal_wait 15 "$cur" MESSAGE_ID=$MID_SIGNAL TARGET_PID="$pid" SIGNAL=SIGTERM) ||
		{ fail "no SIGTERM for pid $pid"; stop_hog e2e-hog-reload-grace; return; }
	set_config MEMORY_MONITOR_GRACE=20s
	out=$(reload_unit) || fail "systemctl reload during the grace period failed: $out"
	if ! wait_for 20 gone "$pid"; then
		fail "SIGTERM-ignoring hog pid $pid still alive 20 s after the reload"
	fi
	[[ $(hog_end e2e-hog-reload-grace) == "signal 9" ]] || fail "hog ended with $(hog_end e2e-hog-reload-grace), expected signal 9"
	stop_hog e2e-hog-reload-grace
	rec_kill=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_SIGNAL TARGET_PID="$pid" SIGNAL=SIGKILL) ||
		{ fail "no SIGKILL entry for pid $pid"; set_config MEMORY_MONITOR_GRACE=${GRACE_S}s; reload_unit >/dev/null; return; }
	dt=$(($(rec_time "$rec_kill") - $(rec_time "$rec_term")))
	info "SIGKILL $(awk -v d=$dt 'BEGIN { printf "%.2f", d / 1e6 }') s after SIGTERM (grace ${GRACE_S}s at SIGTERM, 20s after the reload)"
	((dt >= (GRACE_S * 1000 - 300) * 1000)) || fail "SIGKILL came too early: $dt µs after SIGTERM"
	((dt <= (GRACE_S + 2) * 1000000)) || fail "SIGKILL came too late: $dt µs after SIGTERM (the reload's grace?)"
	set_config MEMORY_MONITOR_GRACE=${GRACE_S}s
	out=$(reload_unit) || fail "reload back to ${GRACE_S}s failed: $out"
}

s_logrotate() {
	local pid1 out pid rotated
	log_has $LOGFILE "signal=SIGTERM" >/dev/null || fail "$LOGFILE is empty before rotation"
	pid1=$(main_pid)
	out=$(e2e_exec logrotate -f /etc/logrotate.d/memory-monitor 2>&1) || fail "logrotate failed: $out"
	[[ -z $out ]] || fail "logrotate printed: $out"
	rotated=$(e2e_sh "ls $LOGFILE.1* 2>/dev/null | head -n 1")
	[[ -n $rotated ]] || fail "no rotated file $LOGFILE.1*"
	e2e_exec test -f $LOGFILE || fail "logrotate did not create a new $LOGFILE"
	info "after rotation: $(e2e_sh "ls -l $LOGFILE* | awk '{ print \$1, \$3, \$4, \$5, \$NF }' | paste -sd ';'")"
	sleep 0.5
	active && [[ $(main_pid) == "$pid1" ]] || fail "service restarted or died on rotation (pid $pid1 -> $(main_pid))"
	pid=$(start_hog e2e-hog-rotate "${HOG_STEADY[@]}") || { fail "could not start the hog"; return; }
	wait_for 10 gone "$pid" || fail "hog pid $pid not stopped within 10 s"
	stop_hog e2e-hog-rotate
	wait_for 5 log_has $LOGFILE "pid=$pid" signal=SIGTERM >/dev/null ||
		fail "the kill of pid $pid is not in the new $LOGFILE"
	[[ -n $rotated ]] && grep -q "pid=$pid " <<<"$(e2e_sh "zcat -f $rotated")" &&
		fail "the kill of pid $pid went into the rotated file $rotated"
}

# The fleet view: the metrics file in the service's state directory, linked into
# node_exporter's textfile directory as the README says, counts a real stop.
s_metrics() {
	local prom=/var/lib/memory-monitor/memory-monitor.prom link=/var/lib/prometheus/node-exporter
	local out pid meta sent
	set_config MEMORY_MONITOR_METRICS_FILE=$prom
	out=$(restart_unit) || { fail "systemctl restart failed: $out"; set_config MEMORY_MONITOR_METRICS_FILE=; return; }
	e2e_sh "mkdir -p $link && ln -sf $prom $link/"
	wait_for 5 e2e_exec test -s "$link/memory-monitor.prom" || fail "no metrics file behind $link/memory-monitor.prom"
	meta=$(e2e_exec stat -L -c '%U %a' "$prom" 2>/dev/null)
	[[ $meta == "memory-monitor 644" ]] || fail "metrics file is '$meta', expected memory-monitor 644 (readable by node_exporter)"
	pid=$(start_hog e2e-hog-metrics "${HOG_STEADY[@]}") || { fail "could not start the hog"; set_config MEMORY_MONITOR_METRICS_FILE=; return; }
	wait_for 10 gone "$pid" || fail "hog pid $pid not stopped within 10 s"
	stop_hog e2e-hog-metrics
	wait_for 5 e2e_sh "grep -q '^memory_monitor_stops_total{outcome=\"exited\"} [1-9]' $link/memory-monitor.prom" ||
		fail "the metrics file does not count the stop: $(e2e_sh "grep -E '^memory_monitor_(stops|signals)' $prom" | paste -sd ' ')"
	sent=$(e2e_sh "awk '/^memory_monitor_signals_sent_total\\{signal=\"SIGTERM\"\\}/ { print \$2 }' $prom")
	info "metrics: signals_sent_total{SIGTERM}=${sent:-?}, $(e2e_sh "grep -E '^memory_monitor_(scans_total|processes) ' $prom" | paste -sd ' ')"
	[[ ${sent:-0} -ge 1 ]] || fail "signals_sent_total{signal=SIGTERM} is '${sent:-}', expected >= 1"
	set_config MEMORY_MONITOR_METRICS_FILE=
	e2e_sh "rm -f $link/memory-monitor.prom"
	restart_unit >/dev/null || fail "restart without metrics failed"
	# Only now: while the daemon runs, a write between its temporary file and the rename
	# can be caught in the act.
	e2e_sh "ls -a /var/lib/memory-monitor" | grep -q '\.tmp-' && fail "temporary metrics files left in /var/lib/memory-monitor"
}

s_upgrade() {
	local pkg before after pid1 pid2 exe v
	before=$(e2e_exec sha256sum $DEFAULTS)
	e2e_exec grep -q "^MEMORY_MONITOR_THRESHOLD=$THRESHOLD" $DEFAULTS || fail "$DEFAULTS lacks the admin's edit before upgrading"
	pid1=$(main_pid)
	pkg=$(copy_in "$DEB2")
	if ! apt_install "$pkg"; then
		fail "apt-get install $pkg (upgrade to $V2) failed"
		printf '%s\n' "$APT_OUT" | tail -n 20 | sed 's/^/        | /'
		return
	fi
	grep -qiE 'Configuration file|\(Y/I/N/O/D/Z\)' <<<"$APT_OUT" && fail "dpkg asked about a configuration file"
	v=$(e2e_exec dpkg-query -W -f='${Version}' memory-monitor)
	[[ $v == "$V2" ]] || fail "installed version is $v, expected $V2"
	after=$(e2e_exec sha256sum $DEFAULTS)
	[[ $before == "$after" ]] || fail "$DEFAULTS changed during the upgrade"
	[[ -n $(e2e_sh "ls /etc/default/memory-monitor.dpkg-* 2>/dev/null") ]] && fail "dpkg left /etc/default/memory-monitor.dpkg-* files"
	wait_for 10 active || fail "service not active after the upgrade"
	pid2=$(main_pid)
	[[ $pid2 != "$pid1" ]] || fail "service was not restarted by the upgrade (main pid still $pid1)"
	exe=$(e2e_exec readlink "/proc/$pid2/exe")
	[[ $exe == /usr/sbin/memory-monitor ]] || fail "main process runs '$exe', not the new /usr/sbin/memory-monitor"
	info "$V1 -> $V2: main pid $pid1 -> $pid2, exe $exe"
	local upstream=${V2%-*} ver
	# (Repacked upgrade packages carry the old binary: nothing to compare then.)
	if [[ -z ${REPACK_DIR:-} ]] && ver=$(e2e_exec /usr/sbin/memory-monitor --version 2>&1); then
		grep -qF "$upstream" <<<"$ver" || fail "memory-monitor --version says '$ver', expected $upstream"
		info "memory-monitor --version: $ver"
	fi
	# The edit is still in effect: the start entry shows the configured threshold.
	active && e2e_exec grep -q "^MEMORY_MONITOR_THRESHOLD=$THRESHOLD" $DEFAULTS || fail "the admin's edit is gone"
}

s_disable_remove_purge() {
	local pkg out st
	out=$(e2e_exec systemctl disable "$UNIT" 2>&1) || fail "systemctl disable failed: $out"
	pkg=$(copy_in "$DEB3")
	if apt_install "$pkg"; then
		[[ $(e2e_exec dpkg-query -W -f='${Version}' memory-monitor) == "$V3" ]] || fail "upgrade to $V3 not installed"
		st=$(e2e_exec systemctl is-enabled "$UNIT" 2>&1)
		[[ $st == disabled ]] || fail "after upgrading a disabled service it is '$st'"
		info "disabled, upgraded to $V3: is-enabled=$st, is-active=$(e2e_exec systemctl is-active "$UNIT"), main process runs $(e2e_exec readlink "/proc/$(main_pid)/exe" 2>/dev/null)"
	else
		fail "apt-get install $pkg (upgrade to $V3) failed"
		printf '%s\n' "$APT_OUT" | tail -n 20 | sed 's/^/        | /'
	fi

	out=$(e2e_exec apt-get remove -y memory-monitor </dev/null 2>&1) || fail "apt-get remove failed: $(tail -n 5 <<<"$out")"
	st=$(e2e_exec systemctl is-active "$UNIT")
	[[ $st != active && $st != activating ]] || fail "service still $st after apt remove"
	e2e_exec pgrep -x memory-monitor >/dev/null && fail "a memory-monitor process is still running after apt remove"
	st=$(e2e_exec dpkg-query -W -f='${Status}' memory-monitor 2>&1)
	[[ $st == "deinstall ok config-files" ]] || fail "after remove, dpkg status is '$st'"
	e2e_exec grep -q "^MEMORY_MONITOR_THRESHOLD=$THRESHOLD" $DEFAULTS || fail "$DEFAULTS (with the edit) not kept on remove"
	e2e_exec test -f /etc/logrotate.d/memory-monitor || fail "/etc/logrotate.d/memory-monitor not kept on remove"
	info "after remove: is-active=$(e2e_exec systemctl is-active "$UNIT"), status '$st', $DEFAULTS kept"

	out=$(e2e_exec apt-get purge -y memory-monitor </dev/null 2>&1) || fail "apt-get purge failed: $(tail -n 5 <<<"$out")"
	st=$(e2e_exec dpkg-query -W -f='${Status}' memory-monitor 2>&1)
	[[ $st == *"not-installed"* || $st == *"no packages found"* ]] || fail "after purge, dpkg status is '$st'"
	local left
	left=$(e2e_sh "ls -d $DEFAULTS* /etc/logrotate.d/memory-monitor* $LOGFILE* 2>/dev/null; \
		find /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
			-name 'memory-monitor*' 2>/dev/null")
	[[ -z $left ]] || fail "left after purge: $(paste -sd ' ' <<<"$left")"
	st=$(e2e_exec systemctl is-enabled "$UNIT" 2>&1)
	[[ $st != enabled && $st != disabled ]] || fail "systemctl is-enabled still says '$st' after purge"
	info "after purge: is-enabled: ${st:-<nothing>}; no config, logs or enablement left"
}

# ---------------------------------------------------------------------------------------
# The owner's message (issue 12): self-contained, it leaves the configuration as it was.

NOTIFY_USER=e2e-alice
NOTIFY_OTHER=e2e-bob

# login_tty USER NAME: a login session of USER on a new pseudo-terminal, made as login(1)
# and sshd make one: the terminal is given to USER (chown, then the shell's mesg y; Debian's
# TTYPERM is 0600) and a PAM session with pam_systemd (runuser -l) starts on it, which
# logind records with the terminal as its TTY. login -f itself is not used: under
# script(1), Debian 13's login from util-linux never started a shell here. What the
# terminal shows goes to /run/NAME.tty. Runs as transient unit NAME.
login_tty() {
	local user=$1 name=$2
	e2e_exec systemctl reset-failed "$name.service" >/dev/null 2>&1
	e2e_exec rm -f "/run/$name.tty"
	e2e_exec systemd-run --quiet --unit="$name" -p RuntimeMaxSec=120 -- bash -c \
		"sleep 100 | script -qfc 'chown $user \$(tty) && exec runuser -l $user -c \"mesg y; echo e2e-tty-rea\"\"dy; exec sleep 100\"' /run/$name.tty >/dev/null" ||
		return 1
	wait_for 20 e2e_sh "grep -q e2e-tty-ready /run/$name.tty 2>/dev/null"
}

s_notify() {
	local cur out pid rec uid tty1 tty2 other
	if ! e2e_exec dpkg -s libpam-systemd >/dev/null 2>&1; then
		# logind puts a login in user-UID.slice only through pam_systemd.
		out=$(e2e_sh 'apt-get update -qq && apt-get install -y -qq -o Dpkg::Use-Pty=0 libpam-systemd' </dev/null 2>&1) ||
			{ fail "could not install libpam-systemd: $(tail -n 3 <<<"$out")"; return; }
	fi
	e2e_sh "id $NOTIFY_USER >/dev/null 2>&1 || useradd -m -s /bin/bash $NOTIFY_USER; id $NOTIFY_OTHER >/dev/null 2>&1 || useradd -m -s /bin/bash $NOTIFY_OTHER" ||
		{ fail "could not create the users"; return; }
	uid=$(e2e_exec id -u "$NOTIFY_USER")
	set_config MEMORY_MONITOR_THRESHOLD=$THRESHOLD MEMORY_MONITOR_INTERVAL=1s MEMORY_MONITOR_GRACE=${GRACE_S}s \
		MEMORY_MONITOR_NOTIFY=stderr,tty
	cur=$(journal_cursor)
	out=$(restart_unit) || { fail "systemctl restart failed: $out"; return; }
	rec=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_START NOTIFY=stderr,tty) || fail "the start entry does not show NOTIFY=stderr,tty"
	# The user's second terminal and another user's terminal, both allowing messages.
	login_tty "$NOTIFY_USER" e2e-tty-alice2 || { fail "no login session of $NOTIFY_USER on a second terminal"; return; }
	login_tty "$NOTIFY_OTHER" e2e-tty-bob || { fail "no login session of $NOTIFY_OTHER on a terminal"; return; }
	# SESSION UID USER [SEAT] TTY: the seat column is empty for these sessions.
	tty2=$(e2e_sh "loginctl list-sessions --no-legend | awk '\$3 == \"$NOTIFY_USER\" { for (i = 4; i <= NF; i++) if (\$i ~ /^pts/) print \$i }'")
	other=$(e2e_sh "loginctl list-sessions --no-legend | awk '\$3 == \"$NOTIFY_OTHER\" { for (i = 4; i <= NF; i++) if (\$i ~ /^pts/) print \$i }'")
	[[ -n $tty2 && -n $other ]] || fail "logind records no terminal for the login sessions: $(e2e_exec loginctl list-sessions --no-legend | paste -sd '|')"
	info "logind: $NOTIFY_USER on ${tty2:-?}, $NOTIFY_OTHER on ${other:-?}; $(e2e_exec stat -c '%n %U %A' "/dev/${tty2:-none}" 2>&1)"
	# The hog, in a real login session of the user (runuser -l), on a pseudo-terminal of
	# its own (script, run by the user, so the terminal is the user's).
	e2e_exec systemctl reset-failed e2e-hog-notify.service >/dev/null 2>&1
	e2e_exec rm -f /run/e2e-tty-alice1.tty /run/e2e-hog-notify.status
	e2e_exec systemd-run --quiet --unit=e2e-hog-notify -p RuntimeMaxSec=70 -- bash -c \
		"runuser -l $NOTIFY_USER -c \"script -qfec 'timeout -k 5 60 prlimit --as=8000000000 tail /dev/zero' /dev/null\" </dev/null >/run/e2e-tty-alice1.tty; echo \$? >/run/e2e-hog-notify.status" ||
		{ fail "could not start the hog"; return; }
	# The hog grows fast and may be gone before a poll could see it: its PID is the
	# one the daemon's entry names.
	rec=$(journal_wait 20 "$cur" MESSAGE_ID=$MID_SIGNAL TARGET_UID="$uid" SIGNAL=SIGTERM) ||
		{ fail "no SIGTERM entry for a process of $NOTIFY_USER within 20 s"; e2e_exec systemctl stop e2e-hog-notify; return; }
	pid=$(field "$rec" TARGET_PID)
	[[ $(field "$rec" TARGET_COMM) == tail ]] || fail "the SIGTERM entry is for '$(field "$rec" TARGET_COMM)', not the hog (tail)"
	wait_for 15 gone "$pid" || { fail "hog pid $pid still alive after 15 s"; e2e_exec systemctl stop e2e-hog-notify; }
	# The stop entry names the job: its login session's unit, the user's slice, its cwd.
	[[ $(field "$rec" TARGET_SLICE) == "user-$uid.slice" ]] || fail "TARGET_SLICE is '$(field "$rec" TARGET_SLICE)', expected user-$uid.slice"
	[[ $(field "$rec" TARGET_UNIT) == session-*.scope ]] || fail "TARGET_UNIT is '$(field "$rec" TARGET_UNIT)', expected a session scope"
	[[ $(field "$rec" TARGET_CWD) == "/home/$NOTIFY_USER" ]] || fail "TARGET_CWD is '$(field "$rec" TARGET_CWD)', expected /home/$NOTIFY_USER"
	info "journal: TARGET_UNIT=$(field "$rec" TARGET_UNIT) TARGET_SLICE=$(field "$rec" TARGET_SLICE) TARGET_CWD=$(field "$rec" TARGET_CWD)"
	journal_wait 5 "$cur" MESSAGE_ID=$MID_OUTCOME TARGET_PID="$pid" OUTCOME='*' >/dev/null || fail "no outcome entry for pid $pid"
	sleep 0.5 # script copies the terminal to its file
	tty1=$(e2e_exec cat /run/e2e-tty-alice1.tty 2>/dev/null | tr -d '\r')
	grep -q "^memory-monitor: stopping PID $pid (tail): resident memory .* per-process limit of 200.0 MiB; SIGTERM now, SIGKILL in ${GRACE_S} s" <<<"$tty1" ||
		fail "the hog's terminal does not show the stopping line: $(head -c 400 <<<"$tty1")"
	grep -q "^memory-monitor: PID $pid (tail) exited after SIGTERM" <<<"$tty1" ||
		fail "the hog's terminal does not show the outcome line: $(head -c 400 <<<"$tty1")"
	[[ $(grep -c "memory-monitor: stopping PID $pid " <<<"$tty1") == 1 ]] || fail "the hog's terminal shows the stopping line more than once"
	info "hog's terminal: $(grep -m1 'memory-monitor: stopping' <<<"$tty1" | cut -c1-110)..."
	out=$(e2e_exec cat /run/e2e-tty-alice2.tty 2>/dev/null | tr -d '\r')
	grep -q "memory-monitor: stopping PID $pid (tail)" <<<"$out" || fail "the user's second terminal did not get the line"
	grep -q "memory-monitor: PID $pid (tail) exited after SIGTERM" <<<"$out" || fail "the user's second terminal did not get the outcome line"
	[[ $(grep -c "memory-monitor: stopping PID $pid " <<<"$out") == 1 ]] || fail "the second terminal got the stopping line more than once"
	out=$(e2e_exec cat /run/e2e-tty-bob.tty 2>/dev/null)
	grep -q 'memory-monitor:' <<<"$out" && fail "another user's terminal got a line: $(grep -m1 'memory-monitor:' <<<"$out")"
	info "second terminal of $NOTIFY_USER got both lines; $NOTIFY_OTHER's terminal got none"
	e2e_exec systemctl stop e2e-hog-notify e2e-tty-alice2 e2e-tty-bob >/dev/null 2>&1
	e2e_exec systemctl reset-failed e2e-hog-notify e2e-tty-alice2 e2e-tty-bob >/dev/null 2>&1
	set_config MEMORY_MONITOR_NOTIFY=
	restart_unit >/dev/null || fail "restart after the scenario failed"
}

# ---------------------------------------------------------------------------------------
# Main

T_START=$SECONDS
on_exit() {
	local rc=$?
	trap - EXIT INT TERM HUP
	e2e_cleanup
	[[ -n ${REPACK_DIR:-} ]] && rm -rf "$REPACK_DIR"
	exit "$rc"
}
trap on_exit EXIT
trap 'e2e_log "interrupted; cleaning up"; exit 130' INT
trap 'e2e_log "terminated; cleaning up"; exit 143' TERM
trap 'exit 129' HUP

DEB1=$(realpath "$1")
if (($# == 3)); then
	DEB2=$(realpath "$2")
	DEB3=$(realpath "$3")
else
	# Same contents, higher versions: enough for the maintainer-script paths.
	REPACK_DIR=$(mktemp -d /var/tmp/memory-monitor-e2e-debs.XXXXXX)
	repack() {
		local out=$REPACK_DIR/$2
		rm -rf "$REPACK_DIR/x" && dpkg-deb -R "$DEB1" "$REPACK_DIR/x" &&
			sed -i "s/^Version: .*/Version: $1/" "$REPACK_DIR/x/DEBIAN/control" &&
			dpkg-deb -b -Zxz "$REPACK_DIR/x" "$out" >/dev/null && echo "$out"
	}
	base=$(deb_version "$DEB1")
	DEB2=$(repack "${base%-*}+e2e1-${base##*-}" upgrade1.deb) || e2e_die "could not repack $DEB1"
	DEB3=$(repack "${base%-*}+e2e2-${base##*-}" upgrade2.deb) || e2e_die "could not repack $DEB1"
fi
V1=$(deb_version "$DEB1")
V2=$(deb_version "$DEB2")
V3=$(deb_version "$DEB3")
dpkg --compare-versions "$V2" gt "$V1" && dpkg --compare-versions "$V3" gt "$V2" ||
	e2e_die "versions must increase: $V1, $V2, $V3"
e2e_log "packages: $V1, then $V2 and $V3 for the upgrades"

e2e_sweep_stale
e2e_ensure_rootfs
e2e_unpack
e2e_boot
e2e_log "setup took $((SECONDS - T_START)) s"

SCEN_CURSOR=""
scenario 1 "install: apt install, enabled, active, READY, STATUS" s_install
scenario 2 "man page renders" s_man
scenario 3 "hardening in force" s_hardening
scenario 11 "watchdog keeps the service up" s_watchdog
scenario 13 "a crash (SIGABRT, as the watchdog sends) restarts the service" s_crash_restarts
scenario 4 "hog over 200M is stopped, logged to journal and file" s_kill
scenario 5 "SIGTERM-ignoring hog is SIGKILLed after the grace period" s_stubborn
scenario 6 "dry run: hog survives, would-terminate logged" s_dry_run
scenario 7 "bad value fails the restart with a clear error; fix recovers" s_bad_config
scenario 17 "a 20MB typo for 20GB: refused at start, sessions survive, the reason shown" s_low_threshold_typo
scenario 14 "reload applies a lowered threshold; same PID, entry names THRESHOLD" s_reload_apply
scenario 15 "reload with a bad value fails; old settings stay and still stop a hog" s_reload_bad
scenario 16 "a stop in its grace period during a reload ends in SIGKILL on time" s_reload_grace
scenario 8 "logrotate: new kill lands in the new file" s_logrotate
scenario 12 "metrics file for node_exporter counts a real stop" s_metrics
scenario 20 "budget user:*=400M: the largest of a user's hogs, never a protected one" s_budget_users
scenario 21 "budget on a systemd-run unit stops its largest process" s_budget_unit
scenario 22 "budget in dry run: one would-stop entry, nothing stopped" s_budget_dry_run
scenario 18 "owner's message: the user's terminals get the line, another user's none" s_notify
scenario 9 "upgrade keeps the edited config, runs the new version" s_upgrade
scenario 10 "disable survives upgrade; remove keeps config; purge cleans" s_disable_remove_purge

if ((FAILED)) && [[ -n ${E2E_ARTIFACTS:-} ]]; then
	mkdir -p "$E2E_ARTIFACTS"
	e2e_exec journalctl --no-pager -b -o short-precise >"$E2E_ARTIFACTS/journal.txt" 2>&1
	e2e_exec journalctl --no-pager -b -o verbose -u "$UNIT" >"$E2E_ARTIFACTS/journal-verbose.txt" 2>&1
	cp -a "$E2E_ROOT/var/log/." "$E2E_ARTIFACTS/var-log" 2>/dev/null
	e2e_log "container journal and /var/log saved in $E2E_ARTIFACTS"
fi

echo
echo "=== memory-monitor e2e summary ($((SECONDS - T_START)) s)"
printf '%s\n' "${SUMMARY[@]}"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
