package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/memory-monitor/memory-monitor/internal/budget"
)

// SplitBudgets cuts a list of budgets as written in MEMORY_MONITOR_BUDGET: separated by
// white space (spaces, tabs or newlines), like MEMORY_MONITOR_PROTECT.
func SplitBudgets(list string) []string { return strings.Fields(list) }

// LoadBudgets validates --budget=KIND:PATTERN=SIZE values (one per flag, or the variable
// already split by SplitBudgets). SIZE is read as for --threshold; memTotal is called only
// for a percentage. lookup resolves login names (nil: os/user); login is the uid range of
// user:* (budget.ReadLoginDefs). No values give a nil Set: budgets are off and the scan
// reads nothing more. Errors are *Error naming the option as name gives it and the value.
func LoadBudgets(specs []string, name Namer, memTotal func() (uint64, error),
	lookup func(string) (uint64, error), login budget.LoginRange) (*budget.Set, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	bad := func(spec string, err error) error { return &Error{Option: name("budget"), Value: spec, Err: err} }
	var rules []budget.Rule
	seen := map[string]bool{}
	for _, spec := range specs {
		kp, size, ok := cutLast(spec, "=")
		if !ok || size == "" {
			return nil, bad(spec, errors.New("not KIND:PATTERN=SIZE (e.g. user:*=16G, user:alice=32G, unit:gitlab-runner.service=48G)"))
		}
		_, limit, err := resolveSize(size, memTotal)
		if err != nil {
			return nil, bad(spec, err)
		}
		r, err := budget.ParseRule(kp, limit, strings.TrimSpace(size), lookup)
		if err != nil {
			return nil, bad(spec, err)
		}
		if seen[kp] {
			return nil, bad(spec, fmt.Errorf("%s has a budget already (give each pattern once)", kp))
		}
		seen[kp] = true
		rules = append(rules, r)
	}
	return budget.NewSet(rules, login), nil
}

// cutLast cuts s around the last sep: a pattern never needs "=", a size never has one.
func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// DefaultCgroupRoot is where cgroup v2 is mounted on systemd hosts.
const DefaultCgroupRoot = "/sys/fs/cgroup"

// loadBudgetOptions validates --budget and --cgroup-root. The uid range of user:* is read
// from /etc/login.defs only when a budget is given.
func loadBudgetOptions(raw Raw, name Namer, memTotal func() (uint64, error)) (*budget.Set, string, error) {
	root := raw.CgroupRoot
	if root == "" {
		root = DefaultCgroupRoot
	}
	if len(raw.Budget) == 0 {
		return nil, root, nil
	}
	login, err := budget.ReadLoginDefs("/")
	if err != nil {
		return nil, "", &Error{Option: name("budget"), Value: strings.Join(raw.Budget, " "), Err: err}
	}
	set, err := LoadBudgets(raw.Budget, name, memTotal, nil, login)
	return set, root, err
}
