package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/report"
)

// budgetSpecs returns one budget per --budget flag, or, when they came from
// MEMORY_MONITOR_BUDGET, the variable's white-space separated list.
func budgetSpecs(values []string, fromFlags bool) []string {
	if fromFlags {
		return values
	}
	var out []string
	for _, v := range values {
		out = append(out, config.SplitBudgets(v)...)
	}
	return out
}

// budgetSummary lists the budgets for the start-up line; "" when there are none.
func budgetSummary(s *budget.Set) string {
	var out []string
	for _, r := range s.Rules() {
		out = append(out, r.String())
	}
	return strings.Join(out, ", ")
}

// listBudgets prints each budget group (`list --budgets`).
func listBudgets(cfg config.Config, r *proc.Reader, top int, stdout, stderr io.Writer) int {
	if cfg.Budgets.Empty() {
		fmt.Fprintln(stderr, "memory-monitor: list --budgets: no budget is configured (give --budget or MEMORY_MONITOR_BUDGET)")
		return exitConfig
	}
	s, err := proc.NewScanner(cfg.ProcRoot)
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		return exitFailure
	}
	defer s.Close()
	g, err := budget.NewGrouper(cfg.Budgets, budget.Options{ProcRoot: cfg.ProcRoot, CgroupRoot: cfg.CgroupRoot,
		Metric: cfg.Metric, PSS: r.PSS})
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		return exitFailure
	}
	defer g.Close()
	rules := policy.Rules{Threshold: cfg.Threshold, Self: os.Getpid(), Protect: cfg.Protect, Metric: cfg.Metric}
	rows, err := report.CollectBudgets(s, r, g, rules, top)
	if err == nil {
		err = report.WriteBudgets(stdout, rows, cfg.Metric)
	}
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		return exitFailure
	}
	return exitOK
}
