package config

import (
	"errors"
	"os/user"
	"strings"
	"testing"

	"github.com/memory-monitor/memory-monitor/internal/budget"
)

func budgetUsers(name string) (uint64, error) {
	if name == "alice" {
		return 1000, nil
	}
	return 0, user.UnknownUserError(name)
}

func TestLoadBudgets(t *testing.T) {
	memTotal := func() (uint64, error) { return 64 << 30, nil }
	set, err := LoadBudgets(SplitBudgets("user:*=400M\n unit:docker-*.scope=25%\tuser:alice=2G"),
		func(string) string { return "MEMORY_MONITOR_BUDGET" }, memTotal, budgetUsers, budget.DefaultLoginRange())
	if err != nil {
		t.Fatal(err)
	}
	rules := set.Rules()
	if len(rules) != 3 {
		t.Fatalf("rules %v", rules)
	}
	for i, want := range []struct {
		s     string
		limit uint64
	}{{"user:*=400M", 400 << 20}, {"unit:docker-*.scope=25%", 16 << 30}, {"user:alice=2G", 2 << 30}} {
		if rules[i].String() != want.s || rules[i].Limit != want.limit {
			t.Errorf("rule %d = %s (%d bytes), want %s (%d)", i, rules[i], rules[i].Limit, want.s, want.limit)
		}
	}
	if r, _ := set.MatchUser(1000, "alice"); r.Pattern != "alice" {
		t.Errorf("alice got %s", r)
	}

	if set, err := LoadBudgets(nil, func(f string) string { return "--" + f }, nil, nil, budget.DefaultLoginRange()); set != nil || err != nil || !set.Empty() {
		t.Errorf("no budgets: %v, %v", set, err)
	}
}

func TestLoadBudgetsErrors(t *testing.T) {
	noMem := func() (uint64, error) { return 0, errors.New("no meminfo") }
	for _, tc := range []struct{ spec, err string }{
		{"user:*", "not KIND:PATTERN=SIZE"},
		{"user:*=", "not KIND:PATTERN=SIZE"},
		{"user=4G", "not KIND:PATTERN=SIZE"},
		{"user:=4G", "empty pattern"},
		{"group:staff=4G", `unknown kind "group"`},
		{"user:*=lots", "invalid size"},
		{"user:*=0", "greater than zero"},
		{"user:*=10%", "cannot resolve a percentage: no meminfo"},
		{"user:bob=4G", `unknown user "bob"`},
		{"user:[a=4G", "invalid glob"},
		{"unit:system.slice/x.service=4G", "not a path"},
	} {
		_, err := LoadBudgets([]string{tc.spec}, func(f string) string { return "--" + f }, noMem, budgetUsers, budget.DefaultLoginRange())
		var e *Error
		if !errors.As(err, &e) || e.Option != "--budget" || e.Value != tc.spec || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v; want --budget error with the value, containing %q", tc.spec, err, tc.err)
		}
	}
	_, err := LoadBudgets([]string{"user:*=4G", "user:*=8G"}, func(f string) string { return "--" + f }, noMem, nil, budget.DefaultLoginRange())
	if err == nil || !strings.Contains(err.Error(), `--budget="user:*=8G"`) || !strings.Contains(err.Error(), "once") {
		t.Errorf("twice: %v", err)
	}
}
