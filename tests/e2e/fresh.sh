#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted snippets run inside the container
# Fresh-machine test: README's two commands, verbatim, on a Debian that has never seen Go.
#
# usage: tests/e2e/fresh.sh            (as root; E2E_SUITE=bookworm by default)
#
# Boots a throwaway Debian (the e2e root filesystem: minbase + systemd, no Go, no gcc, no
# make) with systemd-nspawn, copies a clean copy of this checkout (tracked and untracked
# files that .gitignore does not exclude: no bin/, no dist/) into the home of a normal user
# who may use sudo, installs only what README says a fresh machine needs first
# (`apt-get install make git sudo`), then runs the commands of README's "Two commands"
# block as that user, exactly as written there. Checks: both succeed; the service is
# enabled and active; the tests ran (the summary line says N passed, 0 failed); nothing in
# the checkout belongs to root; the user's own `make clean` still works.
#
# Nothing is cached but the root filesystem tarball: apt's packages, the Go toolchain and
# the modules are downloaded inside the container every time, so a pass shows that a new
# machine gets everything from apt and the Go module proxy alone. The only change to the
# image is the CA certificates of this host (see the comment at copy_ca).
#
# Prints PASS/FAIL lines and ends with "N passed, M failed"; exit 1 on a failed check,
# 2 on a setup problem.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
E2E_SUITE=${E2E_SUITE:-bookworm}
# shellcheck source=tests/e2e/container.sh
source "$HERE/container.sh"

if [[ $EUID -ne 0 ]]; then
	echo "fresh: needs root (it boots a container with systemd-nspawn): sudo $0" >&2
	exit 2
fi
for tool in debootstrap systemd-nspawn nsenter zstd flock git tar; do
	command -v "$tool" >/dev/null || { echo "fresh: missing tool: $tool" >&2; exit 2; }
done

NEWUSER=newcomer
HOMEDIR=/home/$NEWUSER
CHECKOUT=$HOMEDIR/memory-monitor
PASSED=0 FAILED=0
check() { # check "what" command...
	if "${@:2}"; then
		PASSED=$((PASSED + 1)); echo "PASS $1"
	else
		FAILED=$((FAILED + 1)); echo "FAIL $1"
	fi
}

T_START=$SECONDS
trap 'rc=$?; trap - EXIT; e2e_cleanup; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

e2e_sweep_stale
e2e_ensure_rootfs
e2e_unpack

# This host reaches the Internet through a TLS-intercepting proxy whose CA it trusts; a real
# machine needs nothing of the sort. The files are put where ca-certificates picks them up
# when apt installs it (with Go, for the module proxy); the product does nothing special.
copy_ca() {
	local f n=0
	mkdir -p "$E2E_ROOT/usr/local/share/ca-certificates"
	for f in /usr/local/share/ca-certificates/*.crt; do
		[[ -f $f ]] || continue
		cp "$f" "$E2E_ROOT/usr/local/share/ca-certificates/" && n=$((n + 1))
	done
	e2e_log "copied $n CA certificate(s) of this host into the image"
}
copy_ca

# A clean copy of the checkout, as `git clone` would give (plus uncommitted edits).
mkdir -p "$E2E_ROOT$CHECKOUT"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
	tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$E2E_ROOT$CHECKOUT" -xf - ||
	e2e_die "could not copy the checkout"
if [[ -d $REPO/.git || -f $REPO/.git ]]; then
	# make deb's SOURCE_DATE_EPOCH comes from git log; a clone has history.
	git -C "$REPO" bundle create "$E2E_SCRATCH/repo.bundle" HEAD >/dev/null 2>&1 &&
		git -C "$E2E_ROOT$CHECKOUT" init -q 2>/dev/null &&
		git -C "$E2E_ROOT$CHECKOUT" fetch -q "$E2E_SCRATCH/repo.bundle" HEAD 2>/dev/null &&
		git -C "$E2E_ROOT$CHECKOUT" update-ref HEAD FETCH_HEAD 2>/dev/null &&
		git -C "$E2E_ROOT$CHECKOUT" reset -q 2>/dev/null || e2e_log "note: no git history copied"
fi

e2e_boot
e2e_log "setup took $((SECONDS - T_START)) s"

# The commands in README's "Two commands" block, comments stripped.
mapfile -t COMMANDS < <(awk '/^## Two commands/ { sec = 1; next } /^## / { sec = 0 }
	sec && /^```/ { if (inblk) exit; inblk = 1; next }
	sec && inblk { sub(/[[:space:]]+#.*/, ""); if ($0 != "") print }' "$REPO/README.md")
((${#COMMANDS[@]} == 2)) || e2e_die "README's \"Two commands\" block has ${#COMMANDS[@]} commands, expected 2"
e2e_log "README's commands: ${COMMANDS[0]} ; ${COMMANDS[1]}"

LOG=$E2E_SCRATCH/fresh.log
t0=$SECONDS
E2E_CMD_TIMEOUT=600 e2e_sh "apt-get update -qq && apt-get install -y -qq make git sudo >/dev/null" >>"$LOG" 2>&1 ||
	{ tail -n 20 "$LOG"; e2e_die "apt-get install make git sudo failed"; }
e2e_sh "useradd -m -s /bin/bash $NEWUSER && echo '$NEWUSER ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/$NEWUSER &&
	chown -R $NEWUSER: $HOMEDIR" || e2e_die "could not create user $NEWUSER"
e2e_log "make, git, sudo and user $NEWUSER ready ($((SECONDS - t0)) s)"
check "no Go on the fresh machine" e2e_sh '! command -v go && ! ls -d /usr/lib/go* /usr/local/go 2>/dev/null'

# run_as_user N: README command N in the checkout, as the user, in a login shell.
run_as_user() {
	local cmd=$1 out rc t0=$SECONDS
	e2e_log "as $NEWUSER: $cmd"
	E2E_CMD_TIMEOUT=1500 e2e_exec runuser -l "$NEWUSER" -c "cd $CHECKOUT && $cmd" </dev/null >"$E2E_SCRATCH/cmd.out" 2>&1
	rc=$?
	cat "$E2E_SCRATCH/cmd.out" >>"$LOG"
	e2e_log "'$cmd' exited $rc after $((SECONDS - t0)) s; its ensure-go and summary lines:"
	grep -E '^(ensure-go|make(\[[0-9]+\])?: |make test|Skipped|  SKIP|[0-9]+ passed)|^(ok|FAIL|---)' "$E2E_SCRATCH/cmd.out" |
		grep -v '^ok ' | tail -n 40 | sed 's/^/        | /' >&2
	((rc == 0)) || { tail -n 30 "$E2E_SCRATCH/cmd.out" | sed 's/^/        ! /' >&2; }
	return "$rc"
}

check "README command 1: ${COMMANDS[0]}" run_as_user "${COMMANDS[0]}"
check "service enabled and active" e2e_sh '[ "$(systemctl is-enabled memory-monitor)" = enabled ] &&
	for i in $(seq 50); do [ "$(systemctl is-active memory-monitor)" = active ] && exit 0; sleep 0.2; done; exit 1'
check "installed binary is static and reports a version" e2e_sh '/usr/sbin/memory-monitor --version'
check "nothing owned by root in the checkout after command 1" e2e_sh "[ -z \"\$(find $CHECKOUT -user root -print -quit)\" ]"

cp "$E2E_SCRATCH/cmd.out" "$E2E_SCRATCH/install.out"
check "README command 2: ${COMMANDS[1]}" run_as_user "${COMMANDS[1]}"
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$E2E_SCRATCH/cmd.out" | tail -n 1)
e2e_log "test summary: ${summary:-none}"
tests_ran() { [[ $summary =~ ^([0-9]+)\ passed,\ 0\ failed ]] && ((BASH_REMATCH[1] >= 50)); }
check "the tests ran (at least 50 passed, none failed): ${summary:-no summary line}" tests_ran
check "nothing owned by root in the checkout after command 2" e2e_sh "[ -z \"\$(find $CHECKOUT -user root -print -quit)\" ] ||
	{ find $CHECKOUT -user root | head; exit 1; }"
check "the user's own make clean works" e2e_exec runuser -l "$NEWUSER" -c "cd $CHECKOUT && make clean && ! test -e bin"

if ((FAILED)) && [[ -n ${E2E_ARTIFACTS:-} ]]; then
	mkdir -p "$E2E_ARTIFACTS" && cp "$LOG" "$E2E_ARTIFACTS/fresh.log"
fi
echo
echo "=== fresh $E2E_SUITE machine: README's two commands ($((SECONDS - T_START)) s)"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
