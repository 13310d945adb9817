// Package budget holds memory budgets for groups of processes: a login user's processes
// (--budget=user:PATTERN=SIZE) or a systemd unit, scope or slice of the system manager
// (--budget=unit:GLOB=SIZE). It compiles the rules, sorts processes into groups, measures
// each group (from cgroup v2's memory.stat where the memory controller covers it, from the
// members' own counters where it does not), and decides, as pure functions over literal
// values, which member to stop and when.
//
// Precedence, when several rules match one group: for a user, a rule naming the user
// (login name or uid) beats a glob, and a glob beats user:*; for a unit, a rule naming the
// unit exactly beats a glob. Among globs of the same kind the one with more literal
// (non-wildcard) characters wins, then the one written first. A group has one budget.
//
// A process can be in several groups at once: its user's, and each of its slices and its
// unit that a unit rule matches (unit:system.slice=50G and unit:gitlab-runner.service=48G
// are both measured for a runner job). Each group is judged on its own; a process already
// being stopped for one group is not stopped twice.
package budget

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/memory-monitor/memory-monitor/internal/protect"
)

// Kind is what a budget groups by.
type Kind string

// The budget kinds.
const (
	User Kind = "user"
	Unit Kind = "unit"
)

// Rule is one compiled budget.
type Rule struct {
	Kind    Kind
	Pattern string // as written: a login name, uid, glob or "*" (user); a unit glob (unit)
	Limit   uint64 // bytes
	Size    string // the limit as written, e.g. "400M" or "10%", for logs

	class int    // precedence class: higher wins
	lit   int    // literal characters, the tie-break among globs
	uid   uint64 // classExact users
}

// Precedence classes, higher first.
const (
	classAllUsers = iota // user:*
	classGlob            // user:GLOB, unit:GLOB
	classExact           // user:NAME, user:UID, unit:NAME
)

// String gives the budget as written, e.g. "user:*=400M": the BUDGET field of log entries.
func (r Rule) String() string { return string(r.Kind) + ":" + r.Pattern + "=" + r.Size }

// ParseRule compiles one KIND:PATTERN budget of limit bytes (size is the limit as written).
// lookup resolves a login name to a uid (nil: os/user, which in the static build reads
// /etc/passwd).
func ParseRule(kindPattern string, limit uint64, size string, lookup func(string) (uint64, error)) (Rule, error) {
	k, pat, ok := strings.Cut(kindPattern, ":")
	if !ok {
		return Rule{}, errors.New("not KIND:PATTERN=SIZE (e.g. user:*=16G, user:alice=32G, unit:gitlab-runner.service=48G)")
	}
	if pat == "" {
		return Rule{}, errors.New("empty pattern")
	}
	if limit == 0 {
		return Rule{}, errors.New("the size must be greater than zero")
	}
	r := Rule{Kind: Kind(k), Pattern: pat, Limit: limit, Size: size}
	if _, err := path.Match(pat, ""); err != nil {
		return Rule{}, fmt.Errorf("invalid glob: %w", err)
	}
	switch r.Kind {
	case User:
		switch {
		case pat == "*":
			r.class = classAllUsers
		case protect.HasMeta(pat):
			r.class, r.lit = classGlob, literals(pat)
		default:
			uid, err := protect.ResolveUser(pat, lookup)
			if err != nil {
				return Rule{}, err
			}
			r.class, r.uid = classExact, uid
		}
	case Unit:
		if strings.Contains(pat, "/") {
			return Rule{}, errors.New("a unit pattern is a unit, scope or slice name such as gitlab-runner.service or docker-*.scope, not a path")
		}
		if protect.HasMeta(pat) {
			r.class, r.lit = classGlob, literals(pat)
		} else {
			r.class = classExact
		}
	default:
		return Rule{}, fmt.Errorf("unknown kind %q (use user or unit)", k)
	}
	return r, nil
}

// LoginRange is the range of uids that belong to people: UID_MIN..UID_MAX of
// /etc/login.defs. user:* and user globs match only these.
type LoginRange struct{ Min, Max uint64 }

// DefaultLoginRange is Debian's when /etc/login.defs does not say.
func DefaultLoginRange() LoginRange { return LoginRange{Min: 1000, Max: 60000} }

// Contains reports whether uid is a login user's.
func (l LoginRange) Contains(uid uint64) bool { return uid >= l.Min && uid <= l.Max && uid != 0 }

// ReadLoginDefs reads UID_MIN and UID_MAX from root/etc/login.defs (root is "/" on a real
// system). A missing file or key keeps the default; a value that is not a number, or a
// range that is empty, is an error.
func ReadLoginDefs(root string) (LoginRange, error) {
	l := DefaultLoginRange()
	p := filepath.Join(root, "etc", "login.defs")
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || (fields[0] != "UID_MIN" && fields[0] != "UID_MAX") {
			continue
		}
		v, err := strconv.ParseUint(fields[1], 10, 32)
		if err != nil {
			return l, fmt.Errorf("read %s: %s %q is not a uid", p, fields[0], fields[1])
		}
		if fields[0] == "UID_MIN" {
			l.Min = v
		} else {
			l.Max = v
		}
	}
	if err := sc.Err(); err != nil {
		return l, fmt.Errorf("read %s: %w", p, err)
	}
	if l.Min > l.Max {
		return l, fmt.Errorf("read %s: UID_MIN %d is above UID_MAX %d", p, l.Min, l.Max)
	}
	return l, nil
}

// Set is the compiled budgets. A nil or empty Set has no budgets: nothing is read.
type Set struct {
	rules []Rule
	login LoginRange
	units bool // some unit rule: /proc/PID/cgroup must be read
	users bool // some user rule: the uid must be read
}

// NewSet makes a Set of rules, in the order written, with login the uids user:* covers.
func NewSet(rules []Rule, login LoginRange) *Set {
	s := &Set{rules: rules, login: login}
	for _, r := range rules {
		s.units = s.units || r.Kind == Unit
		s.users = s.users || r.Kind == User
	}
	return s
}

// Empty reports whether there is no budget: the scan then reads nothing more than without.
func (s *Set) Empty() bool { return s == nil || len(s.rules) == 0 }

// Rules returns the budgets in the order written.
func (s *Set) Rules() []Rule {
	if s == nil {
		return nil
	}
	return s.rules
}

// Login is the uid range user:* and user globs cover.
func (s *Set) Login() LoginRange { return s.login }

// HasUnits and HasUsers tell which kinds are configured, so the scan reads only what they need.
func (s *Set) HasUnits() bool { return s != nil && s.units }

// HasUsers reports whether a user budget is configured.
func (s *Set) HasUsers() bool { return s != nil && s.users }

// MatchUser returns the budget of the user uid, whose login name is name ("" when it has
// none): a rule naming it wins over a glob on the name, a glob over user:*. Globs and
// user:* match only uids in the login range, never root or a system user.
func (s *Set) MatchUser(uid uint64, name string) (Rule, bool) {
	if s == nil {
		return Rule{}, false
	}
	login := s.login.Contains(uid)
	return s.best(func(r Rule) bool {
		if r.Kind != User {
			return false
		}
		switch r.class {
		case classExact:
			return r.uid == uid
		case classGlob:
			return login && name != "" && globMatch(r.Pattern, name)
		}
		return login
	})
}

// MatchUnit returns the budget of the unit, scope or slice named unit: a rule naming it
// wins over a glob.
func (s *Set) MatchUnit(unit string) (Rule, bool) {
	if s == nil {
		return Rule{}, false
	}
	return s.best(func(r Rule) bool {
		return r.Kind == Unit && (r.class == classExact && r.Pattern == unit || r.class == classGlob && globMatch(r.Pattern, unit))
	})
}

func (s *Set) best(match func(Rule) bool) (Rule, bool) {
	var best Rule
	found := false
	for _, r := range s.rules {
		if !match(r) {
			continue
		}
		if !found || r.class > best.class || r.class == best.class && r.lit > best.lit {
			best, found = r, true
		}
	}
	return best, found
}

func globMatch(pat, s string) bool {
	ok, _ := path.Match(pat, s) // validated by ParseRule
	return ok
}

// literals counts a glob's literal characters: the more, the more specific.
func literals(pat string) int {
	n := 0
	for i := 0; i < len(pat); i++ {
		switch pat[i] {
		case '\\':
			i++
			n++
		case '*', '?':
		case '[':
			for i < len(pat) && pat[i] != ']' {
				i++
			}
		default:
			n++
		}
	}
	return n
}
