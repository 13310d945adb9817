package sink

import (
	"fmt"
	"strings"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/report"
)

// MESSAGE_IDs of the budget entries (see budget.MsgOnlyProtected, budget.MsgKernelOOM).
// Stops made for a budget keep MsgAction and MsgOutcome, with the group's fields added.
const (
	MsgOnlyProtected = budget.MsgOnlyProtected
	MsgKernelOOM     = budget.MsgKernelOOM
)

// handleBudget logs the entries that only budgets make, and the first signal of a stop
// made for a budget, whose message names the group rather than the threshold. It
// reports whether it logged e.
func (s Log) handleBudget(l logAt, e event.Event) bool {
	switch e.Kind {
	case event.Signal:
		if e.Group == nil || e.After > 0 {
			return false // SIGKILL after the grace: the usual message, with the group's fields
		}
		verb := "terminating"
		if e.Signal == "SIGKILL" {
			verb = "killing"
		}
		l.Warn(fmt.Sprintf("%s %s: the largest member of %s", verb, who(e), groupOver(*e.Group)),
			append(procAttrs(e), "signal", e.Signal, "dry_run", false, "message_id", MsgAction)...)
	case event.WouldStop:
		if e.Group == nil {
			return false
		}
		l.Warn(fmt.Sprintf("dry run: would terminate %s: the largest member of %s", who(e), groupOver(*e.Group)),
			append(procAttrs(e), "signal", e.Signal, "dry_run", true, "message_id", MsgAction)...)
	case event.GroupWarn:
		l.Warn(fmt.Sprintf("%s is over its warning level of %s", groupName(*e.Group), config.FormatSize(e.Warn)),
			append(groupAttrs(e.Group), "warn_threshold_bytes", e.Warn, "message_id", MsgWarn)...)
	case event.GroupOnlyProtected:
		l.Warn(fmt.Sprintf("%s; only protected members remain, none is stopped", groupOver(*e.Group)),
			append(groupAttrs(e.Group), "message_id", MsgOnlyProtected)...)
	case event.GroupsMeasured:
	case event.KernelOOM:
		b := e.Budget
		var groups []string
		var inGroups uint64
		for _, g := range b.GroupOOMKills {
			groups = append(groups, fmt.Sprintf("%s: %d", g.Group, g.Kills))
			inGroups += g.Kills
		}
		msg := fmt.Sprintf("the kernel's OOM killer killed %d processes since the last scan", max(b.SystemOOMKills, inGroups))
		if len(groups) > 0 {
			msg += " (" + report.Sanitize(strings.Join(groups, ", ")) + ")"
		}
		l.Warn(msg, "oom_kills", b.SystemOOMKills, "group_oom_kills", strings.Join(groups, ", "), "message_id", MsgKernelOOM)
	default:
		return false
	}
	return true
}

// groupName is "user:1000 (alice)" or "unit:gitlab-runner.service", sanitized.
func groupName(g budget.Group) string {
	n := g.Key.String()
	if g.User != "" {
		n += " (" + g.User + ")"
	}
	return report.Sanitize(n)
}

// groupOver is "user:1000 (alice), 540 MiB (rss-sum) over its budget user:*=400M".
func groupOver(g budget.Group) string {
	return fmt.Sprintf("%s, %s (%s) over its budget %s", groupName(g), config.FormatSize(g.Total), g.Method,
		report.Sanitize(g.Rule.String()))
}

// groupAttrs are the group's fields (budget.Group.Attrs) for an entry.
func groupAttrs(g *budget.Group) []any {
	if g == nil {
		return nil
	}
	var out []any
	for _, a := range g.Attrs() {
		out = append(out, a)
	}
	return out
}

// handleBudget counts what only budgets make; it reports whether e is fully counted.
func (s *Metrics) handleBudget(e event.Event) bool {
	switch e.Kind {
	case event.Signal:
		if e.Group != nil && e.After == 0 {
			s.m.BudgetStop(string(e.Group.Key.Kind))
		}
	case event.WouldStop:
		if e.Group != nil {
			s.m.BudgetDryRun(string(e.Group.Key.Kind))
			return true
		}
	case event.GroupsMeasured:
		s.m.BudgetsMeasured(e.Budget.Groups, e.Budget.LargestShare)
		return true
	case event.KernelOOM:
		s.m.KernelOOMKills("system", e.Budget.SystemOOMKills)
		var n uint64
		for _, g := range e.Budget.GroupOOMKills {
			n += g.Kills
		}
		s.m.KernelOOMKills("budget", n)
		s.write()
		return true
	case event.GroupWarn, event.GroupOnlyProtected:
		return true
	}
	return false
}
