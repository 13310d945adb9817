// Package policy holds the daemon's decisions as pure functions over process snapshots,
// so every rule is table-tested with literal structs and no /proc at all.
package policy

import (
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/protect"
)

// Reasons a process over the threshold is spared. They are shown in logs and in the
// PROTECTED column of `memory-monitor list`.
const (
	ReasonInit         = "pid 1"
	ReasonKernelThread = "kernel thread"
	ReasonSelf         = "memory-monitor itself"
	ReasonZombie       = "zombie"
	ReasonOOMNever     = "oom_score_adj -1000"
)

// Rules are the inputs a decision depends on besides the process itself.
type Rules struct {
	Threshold uint64 // bytes; a process strictly above it is over
	Self      int    // the daemon's own PID
	Protect   *protect.Set
	Metric    proc.Metric // what Threshold is compared with; RSS when zero
}

// Protected returns why p must never be killed, or "" when it may be: one of the Reason
// constants, or the --protect rule (or built-in rule) that matches. It does not look at
// memory, so `list` can show protection for every process.
func Protected(p proc.Info, r Rules) string {
	switch {
	case p.PID == 1:
		return ReasonInit
	case p.KernelThread:
		return ReasonKernelThread
	case p.PID == r.Self:
		return ReasonSelf
	case p.Zombie():
		return ReasonZombie
	case p.OOMScoreAdj == -1000:
		return ReasonOOMNever
	}
	if rule, ok := r.Protect.Match(p); ok {
		return rule.String()
	}
	return ""
}
