#!/usr/bin/env bash
# End-to-end test of `memory-monitor check` against the real service: for each file, what
# check predicts (exit status, the warning's code) must be what systemd 252 and the
# hardened unit then do with that file. Boots the cached Debian 12 root filesystem
# (tests/e2e/container.sh), installs the freshly built binary and the unit the way the
# package does (service user, log file), and runs the service in dry-run mode only.
#
# usage: tests/e2e/check-e2e.sh        (needs root and Go, like tests/e2e/run.sh)
#
# Prints PASS/FAIL per case and exits 1 if any failed.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/e2e/container.sh
source "$HERE/container.sh"

if [[ $EUID -ne 0 ]]; then
	echo "check-e2e: needs root (it boots a container with systemd-nspawn)" >&2
	exit 2
fi
GO=$(command -v go || echo /usr/local/go/bin/go)
[[ -x $GO ]] || { echo "check-e2e: needs go" >&2; exit 2; }

trap 'e2e_cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

e2e_sweep_stale
e2e_ensure_rootfs
e2e_unpack
(cd "$REPO" && CGO_ENABLED=0 "$GO" build -o "$E2E_ROOT/usr/sbin/memory-monitor" ./cmd/memory-monitor) ||
	e2e_die "go build failed"
cp "$REPO/systemd/memory-monitor.service" "$E2E_ROOT/etc/systemd/system/"
e2e_boot
# What postinst does: the system user, and the log file it may write.
e2e_sh 'adduser --quiet --system --group --no-create-home --home /nonexistent memory-monitor &&
	(umask 027 && : >/var/log/memory-monitor.log) && chown memory-monitor:adm /var/log/memory-monitor.log &&
	systemctl daemon-reload' || e2e_die "setting up the service user failed"

UNIT=memory-monitor.service
DEFAULTS=/etc/default/memory-monitor
failures=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }

# Every file runs the daemon in dry run with a threshold no process in the container
# reaches: nothing can be signalled.
SAFE=$'MEMORY_MONITOR_DRY_RUN=true\nMEMORY_MONITOR_THRESHOLD=8G\n'

# check_case NAME EXPECTED_STATUS CODE CONTENT: write CONTENT (after the safe lines) to
# /etc/default/memory-monitor, run check, require its status and (if CODE is not -) the
# code in its JSON output; then restart the service with the file, leaving the journal
# for the caller's assertions.
check_case() {
	local name=$1 want=$2 code=$3 content=$4 out status
	printf '%s%s\n' "$SAFE" "$content" >"$E2E_ROOT$DEFAULTS"
	out=$(e2e_exec memory-monitor check --format=json)
	status=$?
	if [[ $status != "$want" ]]; then
		fail "$name" "check exited $status, want $want: $out"
		return 1
	fi
	if [[ $code != - ]] && ! grep -q "\"code\": \"$code\"" <<<"$out"; then
		fail "$name" "check did not report $code: $out"
		return 1
	fi
	e2e_sh "systemctl stop $UNIT; systemctl reset-failed $UNIT" >/dev/null 2>&1
	CURSOR=$(e2e_exec journalctl -q -n 0 --show-cursor 2>/dev/null | sed -n 's/^-- cursor: //p')
	e2e_exec systemctl start "$UNIT" >/dev/null 2>&1
	return 0
}

# The journal since the case's start, every field (the daemon's attributes are fields:
# GRACE=3s). No -u with --after-cursor: journalctl 252 may then skip an entry.
journal() { e2e_exec journalctl --no-pager -q -b --after-cursor="$CURSOR" -o verbose 2>/dev/null; }

# journal_has PATTERN...: every extended regexp matches some line, within 10 s (journald
# may store an entry a little after the daemon wrote it).
journal_has() {
	local deadline=$((SECONDS + 10)) j p ok
	while :; do
		j=$(journal) ok=1
		for p in "$@"; do grep -Eq -- "$p" <<<"$j" || { ok=0; break; }; done
		((ok)) && return 0
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# 1. A clean file: check exits 0 and the service runs with it.
if check_case clean 0 - 'MEMORY_MONITOR_GRACE=3s'; then
	if [[ $(e2e_exec systemctl is-active "$UNIT") == active ]] && journal_has '^    GRACE=3s$'; then
		pass clean
	else
		fail clean "the service did not start with grace=3s: $(journal | grep MESSAGE= | tail -5)"
	fi
fi

# 2. export: check warns; systemd drops the line, so the service keeps the default grace.
if check_case export 1 export-line 'export MEMORY_MONITOR_GRACE=3s'; then
	if journal_has '^    GRACE=5s$' "Ignoring invalid environment assignment 'export MEMORY_MONITOR_GRACE=3s'"; then
		pass export
	else
		fail export "expected the default grace and systemd's warning: $(journal | grep MESSAGE= | tail -5)"
	fi
fi

# 3. A log file the service user cannot create: check warns; the service cannot open it.
if check_case log-not-writable 1 log-file-not-writable 'MEMORY_MONITOR_LOG_FILE=/var/log/elsewhere.log'; then
	if journal_has 'MESSAGE=log file unavailable' '^    PATH=/var/log/elsewhere.log$|elsewhere.log' && [[ ! -e $E2E_ROOT/var/log/elsewhere.log ]]; then
		pass log-not-writable
	else
		fail log-not-writable "expected 'log file unavailable': $(journal | grep MESSAGE= | tail -5)"
	fi
fi

# 4. A log file in /tmp: check warns; the service writes into its private /tmp only.
if check_case log-private-tmp 1 log-file-private-tmp 'MEMORY_MONITOR_LOG_FILE=/tmp/mm.log'; then
	if journal_has '^    LOG_FILE=/tmp/mm.log$' && [[ $(e2e_exec systemctl is-active "$UNIT") == active && ! -e $E2E_ROOT/tmp/mm.log ]]; then
		pass log-private-tmp
	else
		fail log-private-tmp "the service is not active, or /tmp/mm.log is visible outside it"
	fi
fi

# 5. A log file outside /var/log: check warns; ProtectSystem=strict keeps the service out.
if check_case log-outside 1 log-file-outside-var-log 'MEMORY_MONITOR_LOG_FILE=/srv/mm.log'; then
	if journal_has 'MESSAGE=log file unavailable' && [[ ! -e $E2E_ROOT/srv/mm.log ]]; then
		pass log-outside
	else
		fail log-outside "expected 'log file unavailable': $(journal | grep MESSAGE= | tail -5)"
	fi
fi

# 6. A bad value: check exits 2 with the daemon's own message, and the service fails to
#    start with the same line.
if check_case bad-value 2 invalid-value 'MEMORY_MONITOR_INTERVAL=50ms'; then
	text=$(e2e_exec memory-monitor check)
	if grep -q 'MEMORY_MONITOR_INTERVAL="50ms": must be at least 100ms$' <<<"$text" &&
		journal_has 'MEMORY_MONITOR_INTERVAL="50ms": must be at least 100ms' &&
		[[ $(e2e_exec systemctl is-active "$UNIT") != active ]]; then
		pass bad-value
	else
		fail bad-value "check: $text; journal: $(journal | grep MESSAGE= | tail -5)"
	fi
fi

# 7. The shipped defaults file (only comments) is clean.
cp "$REPO/debian/memory-monitor.default" "$E2E_ROOT$DEFAULTS"
if out=$(e2e_exec memory-monitor check --env-file="$DEFAULTS" --format=json); [[ $out == *'"problems": []'* ]] ||
	[[ $out == *'"code": "threshold-above-memtotal"'* && $out != *'"severity": "error"'* ]]; then
	pass shipped-defaults
else
	fail shipped-defaults "$out"
fi

e2e_exec systemctl stop "$UNIT" >/dev/null 2>&1
echo "$((7 - failures)) passed, $failures failed"
((failures == 0))
