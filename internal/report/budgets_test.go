package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

func TestBudgetsTable(t *testing.T) {
	const procRoot = "../budget/testdata/proc"
	s, err := proc.NewScanner(procRoot)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := proc.NewReader(procRoot)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := budget.ParseRule("unit:gitlab-runner.service", 500<<20, "500M", nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := budget.NewGrouper(budget.NewSet([]budget.Rule{rule}, budget.DefaultLoginRange()),
		budget.Options{ProcRoot: procRoot, CgroupRoot: "../budget/testdata/cgroup-v2"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	rows, err := CollectBudgets(s, r, g, policy.Rules{Threshold: 20 << 30, Self: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || len(rows[0].Members) != 1 || rows[0].Members[0].Info.PID != 1006 {
		t.Fatalf("rows %+v", rows)
	}
	var b bytes.Buffer
	if err := WriteBudgets(&b, rows, proc.MetricRSS); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"unit:gitlab-runner.service: 720.0 MiB of unit:gitlab-runner.service=500M (144.0%, OVER), measured by cgroup, members 2, shmem 0 B",
		"PID", "RSS", "1006", "710.0 MiB", "cc1plus --x",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "1005") {
		t.Errorf("more members than asked:\n%s", out)
	}
}

// TestWriteBudgetsSanitizes: a command line cannot add lines to the table.
func TestWriteBudgetsSanitizes(t *testing.T) {
	rows := []BudgetRow{{
		Group: budget.Group{Key: budget.Key{Kind: budget.User, Name: "1000"}, User: "alice", Method: budget.MethodPSSSum,
			Total: 300 << 20, Members: []budget.Member{{PID: 7}}, Rule: mustRule(t, "user:*", 400<<20, "400M")},
		Members: []Row{{Info: proc.Info{PID: 7, Cmdline: "x\nunit:evil: 0 B of"}, User: "alice", Memory: 300 << 20}},
	}}
	var b bytes.Buffer
	if err := WriteBudgets(&b, rows, proc.MetricPSS); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "user:1000 (alice): 300.0 MiB of user:*=400M (75.0%), measured by pss-sum, members 1") ||
		!strings.Contains(lines[2], `x\nunit:evil`) {
		t.Errorf("table:\n%s", b.String())
	}
	b.Reset()
	if err := WriteBudgets(&b, nil, proc.MetricRSS); err != nil || !strings.Contains(b.String(), "no process") {
		t.Errorf("empty: %q %v", b.String(), err)
	}
}

func mustRule(t *testing.T, kp string, limit uint64, size string) budget.Rule {
	t.Helper()
	r, err := budget.ParseRule(kp, limit, size, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
