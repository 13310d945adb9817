# shellcheck shell=bash
# Budget scenarios for tests/e2e/run.sh (sourced; uses its helpers): real login sessions
# (runuser -l, so logind puts them in user-UID.slice) and a transient service. The
# containers have no memory controller in cgroup v2, so every group is measured from its
# members (rss-sum, then pss-sum): the fallback path, end to end.

MID_ONLY_PROTECTED=ec1fc65760eb43bbac9b011013ad51ba
BUDGET_USERS='user:*=400M unit:e2e-budget-*.service=300M'
BUDGET_LIMIT_USER=419430400 # 400 MiB
BUDGET_LIMIT_UNIT=314572800 # 300 MiB

# budget_setup: libpam-systemd (for logind sessions), two login users, the hog script, and
# the budgets with a per-process threshold (2G) that no hog reaches.
budget_setup() {
	local out
	if ! e2e_exec dpkg -s libpam-systemd >/dev/null 2>&1; then
		out=$(e2e_exec timeout 300 apt-get install -y -o Dpkg::Use-Pty=0 libpam-systemd </dev/null 2>&1) ||
			out=$(e2e_exec timeout 300 bash -c 'apt-get update -q && apt-get install -y -o Dpkg::Use-Pty=0 libpam-systemd' </dev/null 2>&1) ||
			{ fail "apt-get install libpam-systemd failed: $(tail -n 3 <<<"$out" | paste -sd '|')"; return 1; }
	fi
	e2e_sh 'id e2ea >/dev/null 2>&1 || useradd -m -s /bin/bash e2ea; id e2eb >/dev/null 2>&1 || useradd -m -s /bin/bash e2eb'
	# e2e-budget-hog MiB [NAME]: a steady hog of about MiB resident (tail holding one endless
	# line), bounded by timeout and prlimit; NAME runs a copy of tail under that name.
	cat >"$E2E_ROOT/usr/local/bin/e2e-budget-hog" <<-'EOF'
		#!/bin/bash
		prog=tail
		[ -n "${2:-}" ] && prog=/usr/local/bin/$2
		exec timeout -k 5 60 prlimit --as=8000000000 bash -c '{ head -c "$1"M /dev/zero; exec sleep 55; } | exec "$2"' hog "$1" "$prog"
	EOF
	chmod 755 "$E2E_ROOT/usr/local/bin/e2e-budget-hog"
	e2e_sh 'cp /usr/bin/tail /usr/local/bin/keepme'
	e2e_sh "sed -i '/^[[:space:]]*MEMORY_MONITOR_BUDGET=/d' $DEFAULTS; echo \"MEMORY_MONITOR_BUDGET='$BUDGET_USERS'\" >>$DEFAULTS"
	set_config MEMORY_MONITOR_THRESHOLD=2G MEMORY_MONITOR_INTERVAL=1s MEMORY_MONITOR_GRACE=${GRACE_S}s \
		MEMORY_MONITOR_PROTECT=name:keepme
}

budget_teardown() {
	e2e_sh 'pkill -KILL -u e2ea; pkill -KILL -u e2eb; true'
	stop_hog e2e-budget-job
	e2e_sh "sed -i '/^[[:space:]]*MEMORY_MONITOR_BUDGET=/d' $DEFAULTS"
	set_config MEMORY_MONITOR_PROTECT= MEMORY_MONITOR_DRY_RUN= \
		MEMORY_MONITOR_THRESHOLD=$THRESHOLD MEMORY_MONITOR_INTERVAL=1s MEMORY_MONITOR_GRACE=${GRACE_S}s
	restart_unit >/dev/null
}

# user_hog USER MiB [NAME]: starts a hog in a login session of USER and prints the pid of
# its tail (or NAME) once it is resident.
user_hog() {
	local user=$1 size=$2 comm=${3:-tail} pid t0
	e2e_exec runuser -l "$user" -c "setsid -f /usr/local/bin/e2e-budget-hog $size ${3:-} >/dev/null 2>&1 </dev/null" ||
		return 1
	t0=$(now)
	while (($(now) - t0 < 10000000)); do
		pid=$(e2e_exec pgrep -n -u "$user" -x "$comm")
		if [[ -n $pid ]] && (($(rss_mib "$pid") >= size - 5)); then
			echo "$pid"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# budget_fields RECORD GROUP LIMIT: the budget fields of a journal entry.
budget_fields() {
	local rec=$1 group=$2 limit=$3 m total
	[[ $(field "$rec" GROUP) == "$group" ]] || fail "GROUP is '$(field "$rec" GROUP)', expected $group"
	[[ $(field "$rec" GROUP_LIMIT_BYTES) == "$limit" ]] || fail "GROUP_LIMIT_BYTES is '$(field "$rec" GROUP_LIMIT_BYTES)', expected $limit"
	m=$(field "$rec" GROUP_MEASURED)
	[[ $m == rss-sum || $m == pss-sum ]] || fail "GROUP_MEASURED is '$m', expected rss-sum or pss-sum (no memory controller here)"
	total=$(field "$rec" GROUP_TOTAL_BYTES)
	[[ $total =~ ^[0-9]+$ ]] && ((total > limit)) || fail "GROUP_TOTAL_BYTES '$total' is not over $limit"
	[[ -n $(field "$rec" BUDGET) ]] || fail "no BUDGET field"
	info "journal: BUDGET=$(field "$rec" BUDGET) GROUP=$group GROUP_TOTAL_BYTES=$total GROUP_LIMIT_BYTES=$limit GROUP_MEASURED=$m GROUP_MEMBERS=$(field "$rec" GROUP_MEMBERS)"
}

# user:*=400M: user A's three hogs of about 180, 170 and 160 MiB lose exactly the largest
# (SIGTERM); the others live on, under the budget then. User B's two of 150 MiB are
# untouched. Then a protected hog, the largest of A's, is never chosen.
s_budget_users() {
	local cur out a1 a2 a3 b1 b2 uid rec n keep other
	budget_setup || return
	cur=$(journal_cursor)
	out=$(restart_unit) || { fail "systemctl restart failed: $out"; return; }
	rec=$(journal_wait 5 "$cur" MESSAGE_ID=$MID_START) || fail "no start entry after the restart"
	[[ $(field "$rec" BUDGETS) == "user:*=400M, unit:e2e-budget-*.service=300M" ]] ||
		fail "start entry BUDGETS is '$(field "$rec" BUDGETS)'"
	uid=$(e2e_exec id -u e2ea)
	b1=$(user_hog e2eb 150) && b2=$(user_hog e2eb 150) || { fail "could not start user B's hogs"; budget_teardown; return; }
	a1=$(user_hog e2ea 180) && a2=$(user_hog e2ea 170) || { fail "could not start user A's hogs"; budget_teardown; return; }
	e2e_exec grep -q "user.slice/user-$uid.slice/session-" "/proc/$a1/cgroup" ||
		fail "hog not in a login session: $(e2e_exec cat "/proc/$a1/cgroup")"
	a3=$(user_hog e2ea 160) || { fail "could not start user A's third hog"; budget_teardown; return; }
	rec=$(journal_wait 10 "$cur" MESSAGE_ID=$MID_SIGNAL SIGNAL=SIGTERM GROUP=user:"$uid") ||
		{ fail "no SIGTERM for user A's group within 10 s"; budget_teardown; return; }
	[[ $(field "$rec" TARGET_PID) == "$a1" ]] || fail "stopped pid $(field "$rec" TARGET_PID), expected the largest, $a1"
	budget_fields "$rec" "user:$uid" $BUDGET_LIMIT_USER
	wait_for 10 gone "$a1" || fail "the largest hog $a1 is still alive"
	sleep 4 # four more scans
	for p in "$a2" "$a3" "$b1" "$b2"; do alive "$p" || fail "hog $p was stopped too"; done
	n=$(journal_find "$cur" MESSAGE_ID=$MID_SIGNAL | grep -c .)
	((n == 1)) || fail "$n signal entries, expected exactly one"
	journal_find "$cur" MESSAGE_ID=$MID_OUTCOME GROUP=user:"$uid" TARGET_PID="$a1" | grep -q . ||
		fail "no outcome entry with the group's fields for $a1"
	info "user A: $a1 (180 MiB) stopped; $a2, $a3 alive; user B: $b1, $b2 alive"

	e2e_sh 'pkill -KILL -u e2ea; pkill -KILL -u e2eb; true'
	wait_for 5 e2e_sh '! pgrep -u e2ea -x tail >/dev/null' || fail "user A's hogs outlived pkill -KILL"
	cur=$(journal_cursor)
	# The unprotected one first, at its size before the pair goes over the budget: the
	# daemon may stop it the moment the protected one grows past 250 MiB.
	other=$(user_hog e2ea 150) && keep=$(user_hog e2ea 300 keepme) ||
		{ fail "could not start the protected pair"; budget_teardown; return; }
	rec=$(journal_wait 10 "$cur" MESSAGE_ID=$MID_SIGNAL SIGNAL=SIGTERM GROUP=user:"$uid") ||
		fail "no SIGTERM for the group with a protected member within 10 s"
	[[ -z $rec || $(field "$rec" TARGET_PID) == "$other" ]] || fail "stopped pid $(field "$rec" TARGET_PID), expected $other (not the protected $keep)"
	sleep 3
	alive "$keep" || fail "the protected hog $keep was stopped"
	info "protected keepme $keep (300 MiB) alive; $other stopped"
	budget_teardown
}

# unit:e2e-budget-*.service=300M: a systemd-run service with two hogs (200 and 150 MiB)
# loses its largest process.
s_budget_unit() {
	local cur out rec pids big small p
	budget_setup || return
	cur=$(journal_cursor)
	out=$(restart_unit) || { fail "systemctl restart failed: $out"; return; }
	e2e_exec systemctl reset-failed e2e-budget-job.service >/dev/null 2>&1
	e2e_exec systemd-run --quiet --unit=e2e-budget-job -p RuntimeMaxSec=70 -- \
		bash -c '/usr/local/bin/e2e-budget-hog 200 & sleep 3; /usr/local/bin/e2e-budget-hog 150 & wait' ||
		{ fail "systemd-run failed"; budget_teardown; return; }
	rec=$(journal_wait 15 "$cur" MESSAGE_ID=$MID_SIGNAL SIGNAL=SIGTERM GROUP=unit:e2e-budget-job.service) ||
		{ fail "no SIGTERM for the unit's group within 15 s"; budget_teardown; return; }
	budget_fields "$rec" unit:e2e-budget-job.service $BUDGET_LIMIT_UNIT
	big=$(field "$rec" TARGET_PID)
	pids=$(e2e_exec cat /sys/fs/cgroup/system.slice/e2e-budget-job.service/cgroup.procs)
	for p in $pids; do
		[[ $(e2e_exec cat "/proc/$p/comm" 2>/dev/null) == tail ]] && small=$p
	done
	wait_for 10 gone "$big" || fail "the unit's largest process $big is still alive"
	sleep 3
	[[ -n ${small:-} ]] && alive "$small" || fail "the unit's smaller hog is gone too"
	(($(journal_find "$cur" MESSAGE_ID=$MID_SIGNAL | grep -c .) == 1)) || fail "more than one signal entry"
	info "unit: $big stopped, ${small:-?} alive"
	budget_teardown
}

# Dry run: one would-stop entry for the group, nothing stopped, over several scans.
s_budget_dry_run() {
	local cur out uid a b rec n
	budget_setup || return
	set_config MEMORY_MONITOR_DRY_RUN=true
	cur=$(journal_cursor)
	out=$(restart_unit) || { fail "systemctl restart failed: $out"; return; }
	uid=$(e2e_exec id -u e2ea)
	a=$(user_hog e2ea 250) && b=$(user_hog e2ea 200) || { fail "could not start the hogs"; budget_teardown; return; }
	rec=$(journal_wait 10 "$cur" MESSAGE_ID=$MID_SIGNAL DRY_RUN=true GROUP=user:"$uid") ||
		fail "no would-stop entry for the group within 10 s"
	[[ -z $rec ]] || budget_fields "$rec" "user:$uid" $BUDGET_LIMIT_USER
	sleep 4
	alive "$a" && alive "$b" || fail "a hog was stopped in dry-run mode"
	n=$(journal_find "$cur" MESSAGE_ID=$MID_SIGNAL | grep -c .)
	((n == 1)) || fail "$n would-stop entries, expected one"
	[[ -z $(journal_find "$cur" MESSAGE_ID=$MID_SIGNAL DRY_RUN=false) ]] || fail "a real signal was sent in dry run"
	budget_teardown
}
