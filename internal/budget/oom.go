package budget

import "path/filepath"

// ReadVMStatOOMKills reads oom_kill from procRoot/vmstat: processes the kernel's OOM
// killer has killed since boot. ok is false on kernels without the counter (before 4.13).
func ReadVMStatOOMKills(procRoot string) (n uint64, ok bool) {
	return keyValue(filepath.Join(procRoot, "vmstat"), "oom_kill")
}

// OOMCounter follows one kernel OOM-kill counter (the system's, or a group's
// memory.events) between looks. The zero value has seen nothing.
type OOMCounter struct {
	last uint64
	seen bool
}

// Observe takes the counter's value now and returns how many kills happened since the
// last look: one warning is due when it is above zero. The first look only sets the
// baseline (kills before the daemon started are not news). A counter that went down
// belongs to a cgroup made anew (a user who logged out and in): its whole value is new.
func (c OOMCounter) Observe(v uint64) (OOMCounter, uint64) {
	switch {
	case !c.seen:
		return OOMCounter{last: v, seen: true}, 0
	case v < c.last:
		return OOMCounter{last: v, seen: true}, v
	}
	return OOMCounter{last: v, seen: true}, v - c.last
}
