# shellcheck shell=bash
# Container machinery for the end-to-end test: a cached Debian root filesystem (11, 12
# or 13; bookworm by default), booted with systemd as PID 1 under systemd-nspawn, entered with nsenter,
# and torn down completely (processes, cgroups, mounts, files) on every exit path.
#
# Sourced by tests/e2e/run.sh; it defines functions and a few globals and runs nothing.
#
# Environment (all optional):
#   E2E_CACHE    where the root filesystem tarball is cached (/var/cache/memory-monitor-e2e)
#   E2E_WORKDIR  parent of the per-run scratch directory (/var/tmp)
#   E2E_MIRROR   Debian mirror for debootstrap (default: the host's apt sources)
#   E2E_SUITE    Debian release to boot: bullseye, bookworm (default) or trixie
#   E2E_KEEP     if 1, keep the scratch directory (not the running container) for inspection

E2E_CACHE=${E2E_CACHE:-/var/cache/memory-monitor-e2e}
E2E_WORKDIR=${E2E_WORKDIR:-/var/tmp}
E2E_SUITE=${E2E_SUITE:-bookworm}   # bullseye (11), bookworm (12) or trixie (13)

# Packages added to the minimal base. Bumping this list (or the layout of the rootfs
# preparation below) changes the cache key, so the tarball is rebuilt automatically.
# adduser: a dependency of the package, so that apt needs no network to install it.
E2E_INCLUDE=systemd,systemd-sysv,dbus,man-db,apt,procps,logrotate,util-linux,adduser
E2E_ROOTFS_REV=1

# Set while a container exists; read by e2e_cleanup.
E2E_SCRATCH=""      # per-run directory: rootfs copy, nspawn log
E2E_ROOT=""         # the container's root directory
E2E_NAME=""         # machine name, also used for the cgroups
E2E_NSPAWN_PID=""   # systemd-nspawn, as seen from the host
E2E_LEADER=""       # the container's PID 1 (systemd), as seen from the host
E2E_CG_UNIFIED=""   # our cgroup in the host's cgroup2 tree
E2E_CG_SYSTEMD=""   # our cgroup in the host's name=systemd v1 tree

e2e_log() { printf '[e2e %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
e2e_die() { e2e_log "error: $*"; exit 1; }

# The first Debian mirror in the host's apt sources (deb822 or one-line format).
e2e_mirror() {
	if [[ -n ${E2E_MIRROR:-} ]]; then echo "$E2E_MIRROR"; return; fi
	local m=""
	if [[ -r /etc/apt/sources.list ]]; then
		m=$(awk '$1 == "deb" && $0 ~ /debian/ && $0 !~ /security/ {
			for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
	fi
	if [[ -z $m ]]; then
		m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
			/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /debian/ && $i !~ /security/) { print $i; exit } }')
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

e2e_cache_tarball() {
	local key
	key=$(printf '%s|%s|%s' "$E2E_SUITE" "$E2E_INCLUDE" "$E2E_ROOTFS_REV" | sha256sum | cut -c1-12)
	echo "$E2E_CACHE/$E2E_SUITE-$key.tar.zst"
}

# Build the cached root filesystem unless it is there already. A lock keeps two runs
# from building it at once; the tarball appears atomically (rename) when complete.
e2e_ensure_rootfs() {
	local tarball mirror tmp start
	tarball=$(e2e_cache_tarball)
	mkdir -p "$E2E_CACHE"
	exec {lockfd}>"$E2E_CACHE/.lock"
	flock "$lockfd"
	if [[ -s $tarball ]]; then
		flock -u "$lockfd"
		exec {lockfd}>&-
		return 0
	fi
	mirror=$(e2e_mirror)
	start=$SECONDS
	e2e_log "building the $E2E_SUITE root filesystem with debootstrap from $mirror (about 100 s, once)"
	tmp=$(mktemp -d "$E2E_CACHE/build.XXXXXX")
	# Removed again below; a crash leaves only a build.* directory that the next
	# successful build sweeps away.
	if ! debootstrap --variant=minbase --include="$E2E_INCLUDE" "$E2E_SUITE" "$tmp/root" "$mirror" \
		>"$tmp/debootstrap.log" 2>&1; then
		tail -n 30 "$tmp/debootstrap.log" >&2
		rm -rf "$tmp"
		flock -u "$lockfd"
		e2e_die "debootstrap failed (log above)"
	fi
	# Make the image boot cleanly and quietly as a container.
	rm -f "$tmp/root/etc/machine-id" "$tmp/root/var/lib/dbus/machine-id"
	: >"$tmp/root/etc/machine-id"
	echo "mm-e2e" >"$tmp/root/etc/hostname"
	# Persistent journal, so entries survive a daemon restart without any flush delay.
	mkdir -p "$tmp/root/var/log/journal"
	# apt inside the container: no recommends, no interactive questions.
	printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
		>"$tmp/root/etc/apt/apt.conf.d/90e2e"
	rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*_Packages
	tar --numeric-owner --xattrs --acls -C "$tmp/root" -cf - . | zstd -q -T0 -3 -o "$tmp/rootfs.tar.zst"
	mv "$tmp/rootfs.tar.zst" "$tarball"
	rm -rf "$tmp"
	# Sweep leftovers of interrupted builds and tarballs of older cache keys.
	find "$E2E_CACHE" -mindepth 1 -maxdepth 1 \( -name 'build.*' -o \( -name "$E2E_SUITE-*.tar.zst" ! -path "$tarball" \) \) \
		-exec rm -rf {} +
	flock -u "$lockfd"
	exec {lockfd}>&-
	e2e_log "root filesystem cached as $tarball ($(du -h "$tarball" | cut -f1), $((SECONDS - start)) s)"
}

# Remove what an earlier run left behind when it was killed outright (SIGKILL, power
# loss): its cgroups and scratch directory carry the pid of that run's harness; if that
# process is gone, kill what is still in the cgroups and delete the rest.
e2e_sweep_stale() {
	local cg owner dir
	for cg in /sys/fs/cgroup/unified/sandbox-mm-e2e-* /sys/fs/cgroup/systemd/sandbox-mm-e2e-* \
		/sys/fs/cgroup/sandbox-mm-e2e-*; do
		[[ -d $cg ]] || continue
		owner=${cg##*-}
		kill -0 "$owner" 2>/dev/null && continue
		e2e_log "removing the leftovers of an interrupted run (harness pid $owner)"
		# Runs before this run's own container exists, so the globals are free to use.
		E2E_NAME=mm-e2e-$owner E2E_CG_UNIFIED="" E2E_CG_SYSTEMD="" E2E_NSPAWN_PID="" E2E_LEADER="" E2E_SCRATCH=""
		case $cg in
		/sys/fs/cgroup/systemd/*) E2E_CG_SYSTEMD=$cg ;;
		*) E2E_CG_UNIFIED=$cg ;;
		esac
		e2e_cleanup
	done
	for dir in "$E2E_WORKDIR"/memory-monitor-e2e.*; do
		[[ -f $dir/owner ]] || continue
		owner=$(cat "$dir/owner")
		kill -0 "$owner" 2>/dev/null && continue
		awk -v p="$dir/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null || true; done
		rm -rf --one-file-system "$dir"
	done
}

# Create a fresh scratch copy of the cached rootfs.
e2e_unpack() {
	local tarball
	tarball=$(e2e_cache_tarball)
	mkdir -p "$E2E_WORKDIR"
	E2E_SCRATCH=$(mktemp -d "$E2E_WORKDIR/memory-monitor-e2e.XXXXXX")
	E2E_ROOT=$E2E_SCRATCH/root
	echo $$ >"$E2E_SCRATCH/owner"
	mkdir "$E2E_ROOT"
	zstd -q -d -c "$tarball" | tar --numeric-owner --xattrs --acls -C "$E2E_ROOT" -xf -
	# A machine id of its own: not a "first boot", no systemd-firstboot questions.
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$E2E_ROOT/etc/machine-id"
	echo >>"$E2E_ROOT/etc/machine-id"
}

# Boot the unpacked rootfs. nspawn runs in cgroups of its own in both host hierarchies
# so that nothing it creates lands at the root of the host trees and so that cleanup
# can find (and kill) every process it left behind.
e2e_boot() {
	local deadline state
	E2E_NAME="mm-e2e-$$"
	E2E_CG_UNIFIED=/sys/fs/cgroup/unified/sandbox-$E2E_NAME
	E2E_CG_SYSTEMD=/sys/fs/cgroup/systemd/sandbox-$E2E_NAME
	[[ -d /sys/fs/cgroup/unified ]] || E2E_CG_UNIFIED=""
	[[ -d /sys/fs/cgroup/systemd ]] || E2E_CG_SYSTEMD=""
	if [[ -z $E2E_CG_UNIFIED && -f /sys/fs/cgroup/cgroup.controllers ]]; then
		E2E_CG_UNIFIED=/sys/fs/cgroup/sandbox-$E2E_NAME   # pure cgroup2 host
	fi
	local cg
	for cg in "$E2E_CG_UNIFIED" "$E2E_CG_SYSTEMD"; do
		[[ -n $cg ]] && mkdir -p "$cg"
	done
	(
		for cg in "$E2E_CG_UNIFIED" "$E2E_CG_SYSTEMD"; do
			[[ -n $cg ]] && echo "$BASHPID" >"$cg/cgroup.procs"
		done
		export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
		# A session of its own: a Ctrl-C meant for the harness must not reach nspawn (which
		# would tear the container down under the running checks); the harness's trap
		# powers the container off instead. (No fork: this subshell leads no group.)
		exec setsid systemd-nspawn --quiet --register=no --keep-unit --boot \
			--machine="$E2E_NAME" --directory="$E2E_ROOT" --console=read-only \
			</dev/null >"$E2E_SCRATCH/nspawn.log" 2>&1
	) &
	E2E_NSPAWN_PID=$!
	e2e_log "booting container $E2E_NAME (nspawn pid $E2E_NSPAWN_PID)"

	# The container's PID 1 is the process in our cgroup whose innermost PID is 1.
	deadline=$((SECONDS + 30))
	while [[ -z $E2E_LEADER ]]; do
		kill -0 "$E2E_NSPAWN_PID" 2>/dev/null || { cat "$E2E_SCRATCH/nspawn.log" >&2; e2e_die "systemd-nspawn exited during boot"; }
		((SECONDS < deadline)) || e2e_die "no container PID 1 after 30 s"
		E2E_LEADER=$(e2e_find_leader)
		[[ -n $E2E_LEADER ]] || sleep 0.1
	done

	deadline=$((SECONDS + 60))
	while :; do
		state=$(e2e_exec systemctl is-system-running 2>/dev/null) || true
		case $state in
		running) break ;;
		degraded)
			e2e_log "container is degraded; failed units:"
			e2e_exec systemctl --failed --no-legend >&2 || true
			break ;;
		esac
		((SECONDS < deadline)) || { cat "$E2E_SCRATCH/nspawn.log" >&2; e2e_die "container not running after 60 s (state: ${state:-none})"; }
		sleep 0.2
	done
	e2e_log "container up: PID 1 is host pid $E2E_LEADER, system state $state"
}

e2e_find_leader() {
	local pid nspid
	for pid in $(e2e_cgroup_pids); do
		[[ $pid == "$E2E_NSPAWN_PID" ]] && continue
		nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/$pid/status" 2>/dev/null)
		[[ $nspid == 1 ]] || continue
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) == systemd ]] || continue
		echo "$pid"
		return
	done
}

# Every pid in our cgroups (both trees, all descendants).
e2e_cgroup_pids() {
	local cg
	for cg in "$E2E_CG_UNIFIED" "$E2E_CG_SYSTEMD"; do
		[[ -n $cg && -d $cg ]] || continue
		find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null
	done | sort -un
}

# Run a command inside the container: all its namespaces, a clean environment.
e2e_exec() {
	timeout --kill-after=5 "${E2E_CMD_TIMEOUT:-300}" nsenter --target "$E2E_LEADER" --all -- \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive SYSTEMD_PAGER= PAGER=cat \
		"$@"
}

# Shell snippet inside the container.
e2e_sh() { e2e_exec bash -c "$1"; }

# Tear everything down. Safe to call more than once and from any state.
e2e_cleanup() {
	local deadline pids pid
	if [[ -n $E2E_NSPAWN_PID ]] && kill -0 "$E2E_NSPAWN_PID" 2>/dev/null; then
		if [[ -n $E2E_LEADER ]] && kill -0 "$E2E_LEADER" 2>/dev/null; then
			timeout 10 nsenter --target "$E2E_LEADER" --all -- systemctl poweroff --no-block >/dev/null 2>&1 || true
		fi
		deadline=$((SECONDS + 15))
		while kill -0 "$E2E_NSPAWN_PID" 2>/dev/null && ((SECONDS < deadline)); do
			# A finished nspawn can linger as a zombie until we reap it.
			if [[ $(awk '{ print $3 }' "/proc/$E2E_NSPAWN_PID/stat" 2>/dev/null) == Z ]]; then break; fi
			sleep 0.1
		done
		if kill -0 "$E2E_NSPAWN_PID" 2>/dev/null && [[ $(awk '{ print $3 }' "/proc/$E2E_NSPAWN_PID/stat" 2>/dev/null) != Z ]]; then
			e2e_log "container did not power off in time; killing it"
			kill -KILL "$E2E_NSPAWN_PID" 2>/dev/null || true
		fi
		wait "$E2E_NSPAWN_PID" 2>/dev/null || true
	fi
	# Anything still in our cgroups (a crashed nspawn leaves the container behind).
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		pids=$(e2e_cgroup_pids)
		[[ -z $pids ]] && break
		if [[ -n $E2E_CG_UNIFIED && -f $E2E_CG_UNIFIED/cgroup.kill ]]; then
			echo 1 >"$E2E_CG_UNIFIED/cgroup.kill" 2>/dev/null || true
		fi
		for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
		sleep 0.2
	done
	[[ -n $(e2e_cgroup_pids) ]] && e2e_log "warning: processes left in $E2E_CG_UNIFIED $E2E_CG_SYSTEMD: $(e2e_cgroup_pids | tr '\n' ' ')"
	local cg
	for cg in "$E2E_CG_UNIFIED" "$E2E_CG_SYSTEMD"; do
		[[ -n $cg && -d $cg ]] || continue
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[[ -d $cg ]] && e2e_log "warning: could not remove cgroup $cg"
	done
	# Mounts under the scratch directory (nspawn normally takes its own with it).
	if [[ -n $E2E_SCRATCH ]]; then
		local m
		awk -v p="$E2E_SCRATCH/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null || true; done
		if [[ ${E2E_KEEP:-0} == 1 ]]; then
			e2e_log "kept $E2E_SCRATCH (E2E_KEEP=1)"
		else
			rm -rf --one-file-system "$E2E_SCRATCH"
		fi
	fi
	# nspawn's lock files for this image (stale only after a crash).
	rm -f /run/systemd/nspawn/locks/*"$E2E_NAME"* 2>/dev/null || true
	E2E_NSPAWN_PID="" E2E_LEADER="" E2E_SCRATCH="" E2E_CG_UNIFIED="" E2E_CG_SYSTEMD=""
}
