package report

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// BudgetRow is one budget group for `memory-monitor list --budgets`.
type BudgetRow struct {
	Group   budget.Group
	Members []Row // the largest members by RSS, with their memory by the metric
}

// CollectBudgets scans every process once, sorts them into g's groups, measures the groups
// and reads the top largest members of each (top <= 0: all).
func CollectBudgets(s *proc.Scanner, r *proc.Reader, g *budget.Grouper, rules policy.Rules, top int) ([]BudgetRow, error) {
	g.Begin()
	if _, err := s.Scan(g.Add); err != nil {
		return nil, err
	}
	var out []BudgetRow
	for _, grp := range g.Groups() {
		row := BudgetRow{Group: grp}
		for _, m := range grp.Members {
			if top > 0 && len(row.Members) == top {
				break
			}
			in, err := r.Info(m.PID)
			if err != nil {
				continue // gone since the scan
			}
			if err := r.Measure(&in, rules.Metric); err != nil {
				continue
			}
			row.Members = append(row.Members, Row{Info: in, User: proc.UserName(in.UID),
				Memory: rules.Metric.Of(in), Protected: policy.Protected(in, rules)})
		}
		out = append(out, row)
	}
	return out, nil
}

// WriteBudgets prints each group, over-budget ones marked, with its total, how it was
// measured, its budget and its largest members.
func WriteBudgets(w io.Writer, rows []BudgetRow, metric proc.Metric) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no process is in a budget group")
		return err
	}
	for i, row := range rows {
		g := row.Group
		if i > 0 {
			fmt.Fprintln(w)
		}
		name := g.Key.String()
		if g.User != "" {
			name += " (" + g.User + ")"
		}
		state := ""
		if g.Over() {
			state = ", OVER"
		}
		shmem := ""
		if g.ShmemKnown {
			shmem = ", shmem " + config.FormatSize(g.Shmem) + " (not freed by a stop)"
		}
		fmt.Fprintf(w, "%s: %s of %s (%.1f%%%s), measured by %s, members %d%s\n", Sanitize(name),
			config.FormatSize(g.Total), Sanitize(g.Rule.String()), float64(g.Total)/float64(g.Rule.Limit)*100,
			state, g.Method, len(g.Members), shmem)
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "  PID\tUSER\t%s\tPROTECTED\tCOMMAND\n", metric.Label())
		for _, m := range row.Members {
			prot := m.Protected
			if prot == "" {
				prot = "-"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", m.Info.PID, Sanitize(m.User), config.FormatSize(m.Memory),
				Sanitize(prot), Sanitize(m.Info.Cmdline))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
