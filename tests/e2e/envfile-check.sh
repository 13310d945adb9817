#!/usr/bin/env bash
# Records how the real systemd of Debian 12 reads EnvironmentFile= files, so that the
# table tests of internal/envfile compare the parser with systemd itself rather than with
# what its manual suggests.
#
# usage: tests/e2e/envfile-check.sh [--update]
#
# Boots the cached Debian 12 root filesystem (tests/e2e/container.sh), runs
#   systemd-run --wait --pipe -p EnvironmentFile=CASE env -0
# for every internal/envfile/testdata/cases/*.env and records, per case, in
# internal/envfile/testdata/systemd252/:
#   CASE.out     the T_* variables the command saw, NUL-separated, in systemd's order
#   CASE.status  systemd-run's exit status
#   CASE.log     what PID 1 logged about the unit (without the routine start/stop lines)
# Without --update the fresh results are compared with the recorded ones (exit 1 on a
# difference); with it they replace them. Needs root, like tests/e2e/run.sh.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/e2e/container.sh
source "$HERE/container.sh"

CASES=$REPO/internal/envfile/testdata/cases
RECORDED=$REPO/internal/envfile/testdata/systemd252

update=0
case ${1:-} in
--update) update=1 ;;
"") ;;
*) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac
if [[ $EUID -ne 0 ]]; then
	echo "envfile-check: needs root (it boots a container with systemd-nspawn)" >&2
	exit 2
fi
for tool in debootstrap systemd-nspawn nsenter zstd flock; do
	command -v "$tool" >/dev/null || { echo "envfile-check: missing $tool (apt-get install -y debootstrap systemd-container zstd)" >&2; exit 2; }
done

trap 'e2e_cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

e2e_sweep_stale
e2e_ensure_rootfs
e2e_unpack
e2e_boot

mkdir -p "$E2E_ROOT/root/envcases"
cp "$CASES"/*.env "$E2E_ROOT/root/envcases/"
out=$E2E_SCRATCH/results
mkdir -p "$out"
e2e_exec systemctl --version | head -n 1 >"$out/VERSION"
e2e_log "systemd in the container: $(cat "$out/VERSION")"

for f in "$CASES"/*.env; do
	name=$(basename "$f" .env)
	unit=envcase-$name
	e2e_exec systemd-run --wait --pipe --quiet --unit="$unit" \
		--property=EnvironmentFile=/root/envcases/"$name".env /usr/bin/env -0 </dev/null \
		>"$out/$name.raw" 2>"$out/$name.err"
	echo $? >"$out/$name.status"
	# Only the variables of the case: the service also gets PATH, INVOCATION_ID and so on.
	awk 'BEGIN { RS = "\0"; ORS = "\0" } /^[Tt]_/' "$out/$name.raw" >"$out/$name.out"
	rm -f "$out/$name.raw"
	e2e_exec journalctl --no-pager -o cat -u "$unit.service" |
		grep -v -e '^Started ' -e ': Deactivated successfully' -e ': Consumed ' -e '^Starting ' \
			-e '^Finished ' >"$out/$name.log" || true
	rm -f "$out/$name.err"
done

if ((update)); then
	mkdir -p "$RECORDED"
	rm -f "$RECORDED"/*
	cp "$out"/* "$RECORDED"/
	e2e_log "recorded $(ls "$CASES"/*.env | wc -l) cases in $RECORDED"
	exit 0
fi
if diff -r "$RECORDED" "$out" >&2; then
	e2e_log "PASS: systemd reads every case as recorded"
	exit 0
fi
e2e_log "FAIL: systemd reads some cases differently from the recording (diff above)"
exit 1
