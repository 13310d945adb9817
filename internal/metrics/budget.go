package metrics

import (
	"bytes"
	"fmt"
	"strconv"
)

// budgetKinds are the only kind labels: the cardinality stays fixed whatever the
// administrator configures (no group or user names become labels).
var budgetKinds = [...]string{"user", "unit"}

// oomSources label the kernel's OOM kills: "system" from /proc/vmstat, "budget" summed over
// the budget groups' memory.events (a subset of the system's).
var oomSources = [...]string{"system", "budget"}

// budgetMetrics are the --budget and kernel OOM values, kept with the rest under Metrics.mu.
type budgetMetrics struct {
	enabled      bool
	stops        [len(budgetKinds)]uint64
	dryRun       [len(budgetKinds)]uint64
	groups       int
	largestShare float64
	oomKills     [len(oomSources)]uint64
}

func kindIndex(kind string) (int, bool) {
	for i, k := range budgetKinds {
		if k == kind {
			return i, true
		}
	}
	return 0, false
}

// EnableBudgets makes the budget families appear in the exposition: without --budget they
// are left out.
func (m *Metrics) EnableBudgets() { m.inc(func() { m.budget.enabled = true }) }

// BudgetStop records a stop started for a group over its budget; kind is "user" or
// "unit" (anything else is ignored).
func (m *Metrics) BudgetStop(kind string) {
	m.inc(func() {
		if i, ok := kindIndex(kind); ok {
			m.budget.stops[i]++
		}
	})
}

// BudgetDryRun records a dry-run "would stop" for a group over its budget.
func (m *Metrics) BudgetDryRun(kind string) {
	m.inc(func() {
		if i, ok := kindIndex(kind); ok {
			m.budget.dryRun[i]++
		}
	})
}

// BudgetsMeasured records a measurement of every group: how many there are, and the
// largest total/budget ratio among them (1 is exactly at the budget; 0 with no group).
func (m *Metrics) BudgetsMeasured(groups int, largestShare float64) {
	m.inc(func() { m.budget.groups, m.budget.largestShare = groups, largestShare })
}

// KernelOOMKills adds n kills by the kernel's OOM killer, seen in source "system"
// (/proc/vmstat) or "budget" (the groups' memory.events).
func (m *Metrics) KernelOOMKills(source string, n uint64) {
	m.inc(func() {
		for i, s := range oomSources {
			if s == source {
				m.budget.oomKills[i] += n
			}
		}
	})
}

// formatBudget appends the budget and kernel OOM families; the caller holds m.mu.
func (m *Metrics) formatBudget(b *bytes.Buffer) {
	family := func(name, typ, help string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	family("memory_monitor_kernel_oom_kills_total", "counter",
		"Processes the kernel's OOM killer killed while the daemon ran: system from /proc/vmstat, budget from the budget groups' memory.events.")
	for i, s := range oomSources {
		fmt.Fprintf(b, "memory_monitor_kernel_oom_kills_total{source=\"%s\"} %d\n", s, m.budget.oomKills[i])
	}
	if !m.budget.enabled {
		return
	}
	family("memory_monitor_budget_stops_total", "counter", "Stops of the largest member of a group over its --budget, by budget kind.")
	for i, k := range budgetKinds {
		fmt.Fprintf(b, "memory_monitor_budget_stops_total{kind=\"%s\"} %d\n", k, m.budget.stops[i])
	}
	family("memory_monitor_budget_dry_run_decisions_total", "counter", "Group members that would have been stopped, in dry-run mode, by budget kind.")
	for i, k := range budgetKinds {
		fmt.Fprintf(b, "memory_monitor_budget_dry_run_decisions_total{kind=\"%s\"} %d\n", k, m.budget.dryRun[i])
	}
	family("memory_monitor_budget_groups", "gauge", "Budget groups measured in the last scan.")
	fmt.Fprintf(b, "memory_monitor_budget_groups %d\n", m.budget.groups)
	family("memory_monitor_budget_largest_share_ratio", "gauge", "Largest group total divided by its budget in the last scan; above 1 is over.")
	fmt.Fprintf(b, "memory_monitor_budget_largest_share_ratio %s\n", strconv.FormatFloat(m.budget.largestShare, 'g', -1, 64))
}
