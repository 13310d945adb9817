package metrics

import "testing"

func TestBudgetMetrics(t *testing.T) {
	m := New("v", 20<<30, 0)
	fams := parse(t, m.Format())
	if fams["memory_monitor_budget_stops_total"] != nil {
		t.Error("budget families without --budget")
	}
	if got := value(t, fams, "memory_monitor_kernel_oom_kills_total", map[string]string{"source": "system"}); got != 0 {
		t.Errorf("oom kills %v", got)
	}

	m.EnableBudgets()
	m.BudgetStop("user")
	m.BudgetStop("user")
	m.BudgetStop("unit")
	m.BudgetStop("alice") // not a kind: no new label
	m.BudgetDryRun("unit")
	m.BudgetsMeasured(3, 1.25)
	m.KernelOOMKills("system", 2)
	m.KernelOOMKills("budget", 1)
	m.KernelOOMKills("system", 1)
	fams = parse(t, m.Format())
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"memory_monitor_budget_stops_total", map[string]string{"kind": "user"}, 2},
		{"memory_monitor_budget_stops_total", map[string]string{"kind": "unit"}, 1},
		{"memory_monitor_budget_dry_run_decisions_total", map[string]string{"kind": "unit"}, 1},
		{"memory_monitor_budget_dry_run_decisions_total", map[string]string{"kind": "user"}, 0},
		{"memory_monitor_budget_groups", nil, 3},
		{"memory_monitor_budget_largest_share_ratio", nil, 1.25},
		{"memory_monitor_kernel_oom_kills_total", map[string]string{"source": "system"}, 3},
		{"memory_monitor_kernel_oom_kills_total", map[string]string{"source": "budget"}, 1},
	} {
		if got := value(t, fams, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if n := len(fams["memory_monitor_budget_stops_total"].GetMetric()); n != 2 {
		t.Errorf("%d stop series, want 2 (one per kind)", n)
	}
	var nilM *Metrics
	nilM.BudgetStop("user")
	nilM.KernelOOMKills("system", 1)
	nilM.EnableBudgets()
}
