package event

// The budget kinds, in the const block of event.go:
//
//   - GroupWarn: a group crossed its warning level (budget.WarnLimit); Event.Group is set.
//   - GroupOnlyProtected: a group is over its budget and every member is protected;
//     reported once per episode. Event.Group is set.
//   - GroupsMeasured: a full scan measured the budget groups (Event.Budget.Groups,
//     LargestShare).
//   - KernelOOM: the kernel's OOM killer killed processes since the last scan
//     (Event.Budget.SystemOOMKills, GroupOOMKills).
//
// Signal, WouldStop and Outcome events of a stop made for a budget carry Event.Group.

// BudgetReport is what GroupsMeasured and KernelOOM report.
type BudgetReport struct {
	Groups       int     // groups measured
	LargestShare float64 // the largest total/budget among them; above 1 is over

	SystemOOMKills uint64     // /proc/vmstat oom_kill since the last look
	GroupOOMKills  []GroupOOM // groups whose memory.events oom_kill went up
}

// GroupOOM is a budget group's OOM kills since the last look.
type GroupOOM struct {
	Group string // budget.Key.String()
	Kills uint64
}
