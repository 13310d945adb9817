package sink

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/budget"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/metrics"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

func logged(t *testing.T, e event.Event) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	Log{L: slog.New(slog.NewJSONHandler(&buf, nil))}.Handle(e)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v: %q", err, buf.String())
	}
	return m
}

func testGroup() *budget.Group {
	r, err := budget.ParseRule("user:*", 400<<20, "400M", nil)
	if err != nil {
		panic(err)
	}
	return &budget.Group{Key: budget.Key{Kind: budget.User, Name: "1000"}, Rule: r, User: "alice\x1b[2J",
		Method: budget.MethodPSSSum, Total: 510 << 20, Members: make([]budget.Member, 3)}
}

// A stop for a budget names the group in its message and carries the budget's fields;
// a user name with escape sequences reaches the message only sanitized.
func TestLogGroupStopFields(t *testing.T) {
	e := event.Event{Kind: event.Signal, Time: time.Unix(100, 0), Signal: "SIGTERM", Threshold: 2 << 30,
		Proc: proc.Info{PID: 42, Comm: "hog", UID: 1000, RSS: 180 << 20}, Memory: 180 << 20, Group: testGroup()}
	m := logged(t, e)
	msg := m["msg"].(string)
	if !strings.Contains(msg, "largest member of user:1000") || !strings.Contains(msg, "over its budget user:*=400M") ||
		!strings.Contains(msg, "pss-sum") || strings.ContainsRune(msg, 0x1b) {
		t.Errorf("message %q", msg)
	}
	for k, want := range map[string]any{"budget": "user:*=400M", "group": "user:1000", "group_total_bytes": float64(510 << 20),
		"group_limit_bytes": float64(400 << 20), "group_measured": "pss-sum", "group_members": float64(3),
		"message_id": MsgAction, "pid": float64(42)} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	// The outcome of the same stop carries the fields too.
	e.Kind, e.Outcome, e.Took = event.Outcome, "exited", time.Second
	if m := logged(t, e); m["budget"] != "user:*=400M" || m["message_id"] != MsgOutcome {
		t.Errorf("outcome entry %v", m)
	}
}

func TestLogOnlyProtectedAndKernelOOM(t *testing.T) {
	m := logged(t, event.Event{Kind: event.GroupOnlyProtected, Time: time.Unix(100, 0), Group: testGroup()})
	if m["message_id"] != MsgOnlyProtected || m["level"] != "WARN" || m["group"] != "user:1000" {
		t.Errorf("only-protected entry %v", m)
	}
	m = logged(t, event.Event{Kind: event.KernelOOM, Time: time.Unix(100, 0), Budget: event.BudgetReport{
		SystemOOMKills: 2, GroupOOMKills: []event.GroupOOM{{Group: "user:1000", Kills: 1}}}})
	if m["message_id"] != MsgKernelOOM || m["oom_kills"] != float64(2) ||
		m["msg"] != "the kernel's OOM killer killed 2 processes since the last scan (user:1000: 1)" {
		t.Errorf("kernel OOM entry %v", m)
	}
}

// Stops and dry-run decisions for a budget are counted by kind, once per stop (the
// SIGKILL after the grace is not a second stop); the kernel's OOM kills by source.
func TestMetricsBudgetCounters(t *testing.T) {
	m := metrics.New("test", 2<<30, 0)
	m.EnableBudgets()
	s := NewMetrics(m, "", slog.New(slog.DiscardHandler))
	g := testGroup()
	s.Handle(event.Event{Kind: event.Signal, Signal: "SIGTERM", Group: g})
	s.Handle(event.Event{Kind: event.Signal, Signal: "SIGKILL", After: 5 * time.Second, Group: g})
	s.Handle(event.Event{Kind: event.WouldStop, Group: g})
	s.Handle(event.Event{Kind: event.GroupsMeasured, Budget: event.BudgetReport{Groups: 3, LargestShare: 1.25}})
	s.Handle(event.Event{Kind: event.KernelOOM, Budget: event.BudgetReport{SystemOOMKills: 2,
		GroupOOMKills: []event.GroupOOM{{Group: "user:1000", Kills: 1}}}})
	out := string(m.Format())
	for _, want := range []string{
		`memory_monitor_budget_stops_total{kind="user"} 1`,
		`memory_monitor_budget_dry_run_decisions_total{kind="user"} 1`,
		`memory_monitor_budget_groups 3`,
		`memory_monitor_budget_largest_share_ratio 1.25`,
		`memory_monitor_kernel_oom_kills_total{source="system"} 2`,
		`memory_monitor_kernel_oom_kills_total{source="budget"} 1`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}
