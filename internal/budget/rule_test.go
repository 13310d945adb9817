package budget

import (
	"os/user"
	"strings"
	"testing"
)

func users(name string) (uint64, error) {
	switch name {
	case "root":
		return 0, nil
	case "alice":
		return 1000, nil
	case "postgres":
		return 117, nil
	}
	return 0, user.UnknownUserError(name)
}

func mustSet(t *testing.T, specs ...string) *Set {
	t.Helper()
	var rules []Rule
	for i, s := range specs {
		kp, size, _ := strings.Cut(s, "=")
		r, err := ParseRule(kp, uint64(i+1)<<30, size, users)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		rules = append(rules, r)
	}
	return NewSet(rules, DefaultLoginRange())
}

// TestMatchUserPrecedence: a named user over a glob over user:*, whatever the order; the
// login range bounds the globs, never a named user.
func TestMatchUserPrecedence(t *testing.T) {
	for _, tc := range []struct {
		specs []string
		uid   uint64
		name  string
		want  string // the rule's pattern, "" for no budget
	}{
		{[]string{"user:*=1G"}, 1000, "alice", "*"},
		{[]string{"user:*=1G"}, 60000, "last", "*"},
		{[]string{"user:*=1G"}, 60001, "nobody-ish", ""},
		{[]string{"user:*=1G"}, 0, "root", ""},
		{[]string{"user:*=1G"}, 117, "postgres", ""},
		{[]string{"user:*=1G"}, 1001, "", "*"}, // no passwd entry: still a login uid
		{[]string{"user:*=1G", "user:alice=2G"}, 1000, "alice", "alice"},
		{[]string{"user:alice=2G", "user:*=1G"}, 1000, "alice", "alice"},
		{[]string{"user:*=1G", "user:1000=2G"}, 1000, "alice", "1000"},
		{[]string{"user:*=1G", "user:a*=2G"}, 1000, "alice", "a*"},
		{[]string{"user:a*=1G", "user:*=2G"}, 1000, "alice", "a*"},
		{[]string{"user:a*=1G", "user:al*=2G"}, 1000, "alice", "al*"},   // more literal characters
		{[]string{"user:al*=1G", "user:a?i*=2G"}, 1000, "alice", "al*"}, // a tie: the first written
		{[]string{"user:a*=1G", "user:alice=2G"}, 1000, "alice", "alice"},
		{[]string{"user:*=1G", "user:root=2G"}, 0, "root", "root"}, // named: even root
		{[]string{"user:p*=1G"}, 117, "postgres", ""},              // a glob never reaches a system user
		{[]string{"user:postgres=1G", "user:p*=2G"}, 117, "postgres", "postgres"},
		{[]string{"unit:user-1000.slice=1G"}, 1000, "alice", ""},
	} {
		r, ok := mustSet(t, tc.specs...).MatchUser(tc.uid, tc.name)
		if got := map[bool]string{true: r.Pattern}[ok]; got != tc.want {
			t.Errorf("%v: uid %d %q got %q, want %q", tc.specs, tc.uid, tc.name, got, tc.want)
		}
	}
}

func TestMatchUnitPrecedence(t *testing.T) {
	for _, tc := range []struct {
		specs []string
		unit  string
		want  string
	}{
		{[]string{"unit:docker-*.scope=1G"}, "docker-0123.scope", "docker-*.scope"},
		{[]string{"unit:docker-*.scope=1G"}, "docker.service", ""},
		{[]string{"unit:docker-*.scope=1G", "unit:docker-0123.scope=2G"}, "docker-0123.scope", "docker-0123.scope"},
		{[]string{"unit:*.scope=1G", "unit:session-*.scope=2G"}, "session-4.scope", "session-*.scope"},
		{[]string{"unit:session-*.scope=2G", "unit:*.scope=1G"}, "session-4.scope", "session-*.scope"},
		{[]string{"unit:*=1G", "unit:gitlab-runner.service=2G"}, "gitlab-runner.service", "gitlab-runner.service"},
		{[]string{"user:*=1G"}, "gitlab-runner.service", ""},
	} {
		r, ok := mustSet(t, tc.specs...).MatchUnit(tc.unit)
		if got := map[bool]string{true: r.Pattern}[ok]; got != tc.want {
			t.Errorf("%v: %q got %q, want %q", tc.specs, tc.unit, got, tc.want)
		}
	}
}

func TestReadLoginDefs(t *testing.T) {
	for _, tc := range []struct {
		root string
		want LoginRange
		err  string
	}{
		{"testdata/etc-custom", LoginRange{2000, 2999}, ""},
		{"testdata/nothing-here", DefaultLoginRange(), ""},
		{"testdata/etc-bad", DefaultLoginRange(), `UID_MIN "1000x" is not a uid`},
	} {
		got, err := ReadLoginDefs(tc.root)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want error %q", tc.root, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.root, got, err, tc.want)
		}
	}
	if !(LoginRange{2000, 2999}).Contains(2000) || (LoginRange{0, 10}).Contains(0) {
		t.Error("Contains: the range is inclusive and never holds root")
	}
}
