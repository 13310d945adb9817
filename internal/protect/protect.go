// Package protect holds the administrator's never-kill rules (--protect=KIND:PATTERN and
// the built-in set). Rules are compiled once at start, so a malformed one stops the daemon
// before it scans anything; matching is pure over a proc.Info and reads no files, so each
// rule kind is tested with fixture /proc trees.
//
// A rule is KIND:PATTERN:
//
//	name:GLOB      the kernel's short process name (comm, at most 15 characters)
//	exe:GLOB       the executable's absolute path (/proc/PID/exe), only where that path
//	               is the file the process runs as PID 1's mount namespace sees it
//	cmdline:REGEXP the command line, arguments joined by single spaces (unanchored)
//	user:USER      the real user, by login name or numeric uid
//	unit:GLOB      the systemd unit or slice the process belongs to (/proc/PID/cgroup)
//
// Globs are shell globs matching the whole text (*, ?, [...], \ quotes the next character);
// in exe patterns * does not cross a /.
package protect

import (
	"errors"
	"fmt"
	"os/user"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// Kind is what a rule matches.
type Kind string

// The rule kinds.
const (
	Name    Kind = "name"
	Exe     Kind = "exe"
	Cmdline Kind = "cmdline"
	User    Kind = "user"
	Unit    Kind = "unit"
)

// commLen is the longest process name the kernel keeps (TASK_COMM_LEN - 1).
const commLen = 15

// Defaults returns the built-in rules, used unless --default-protect=false is given: the
// processes whose death takes the machine or the way into it down. They are unit rules,
// because only root can place a process in a system unit, while any user can give a
// process any name or command line, or start /usr/sbin/sshd with a library preloaded.
// (PID 1, kernel threads, the daemon itself, zombies and oom_score_adj -1000 are protected
// always, outside these rules.)
func Defaults() []string {
	return []string{
		"unit:systemd-journald.service",
		"unit:systemd-udevd.service",
		"unit:systemd-logind.service",
		"unit:dbus.service",
		"unit:dbus-broker.service",
		"unit:ssh.service",
		"unit:sshd.service",
	}
}

// Rule is one compiled rule.
type Rule struct {
	Kind    Kind
	Pattern string
	Builtin bool // from Defaults, not from the administrator

	re  *regexp.Regexp // cmdline
	uid uint64         // user
}

// String gives the rule as written, marked "(built-in)" for the defaults; it is the
// reason shown in logs and in `memory-monitor list`.
func (r Rule) String() string {
	s := string(r.Kind) + ":" + r.Pattern
	if r.Builtin {
		s += " (built-in)"
	}
	return s
}

// Error is a rule that cannot be compiled.
type Error struct {
	Rule string // the rule as written
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("rule %q: %v", e.Rule, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// Options change how rules are compiled.
type Options struct {
	// LookupUser resolves a login name to a uid; nil uses os/user (with the static,
	// cgo-free build: /etc/passwd only).
	LookupUser func(name string) (uint64, error)
	// NoDefaults leaves the built-in rules out.
	NoDefaults bool
}

// Set is a compiled list of rules. The zero value and nil protect nothing.
type Set struct {
	rules []Rule
}

// Split cuts a list of rules as written in MEMORY_MONITOR_PROTECT: rules are separated by
// white space (spaces, tabs or newlines). A command-line regexp that needs a space writes
// \s or \x20.
func Split(list string) []string {
	return strings.Fields(list)
}

// Compile parses the administrator's rules, then adds the built-in ones unless
// o.NoDefaults. The first bad rule is returned as an *Error.
func Compile(specs []string, o Options) (*Set, error) {
	s := &Set{}
	for _, spec := range specs {
		r, err := Parse(spec, o.LookupUser)
		if err != nil {
			return nil, err
		}
		s.rules = append(s.rules, r)
	}
	if !o.NoDefaults {
		for _, spec := range Defaults() {
			r, err := Parse(spec, o.LookupUser)
			if err != nil {
				return nil, fmt.Errorf("built-in %w", err)
			}
			r.Builtin = true
			s.rules = append(s.rules, r)
		}
	}
	return s, nil
}

// Parse compiles one KIND:PATTERN rule. lookup resolves user names (nil: os/user).
func Parse(spec string, lookup func(string) (uint64, error)) (Rule, error) {
	bad := func(err error) (Rule, error) { return Rule{}, &Error{Rule: spec, Err: err} }
	k, pat, ok := strings.Cut(spec, ":")
	if !ok {
		return bad(errors.New("not KIND:PATTERN (e.g. name:sshd, unit:ssh.service, user:backup)"))
	}
	r := Rule{Kind: Kind(k), Pattern: pat}
	if pat == "" {
		return bad(errors.New("empty pattern"))
	}
	switch r.Kind {
	case Name:
		if err := checkGlob(pat); err != nil {
			return bad(err)
		}
		if !hasMeta(pat) && len(unquote(pat)) > commLen {
			return bad(fmt.Errorf("process names are at most %d characters (the kernel cuts them): "+
				"use name:%s or an exe: or unit: rule", commLen, unquote(pat)[:commLen]))
		}
	case Exe:
		if err := checkGlob(pat); err != nil {
			return bad(err)
		}
		if !strings.HasPrefix(pat, "/") {
			return bad(errors.New("an exe pattern is an absolute path, e.g. exe:/usr/sbin/sshd"))
		}
	case Cmdline:
		re, err := regexp.Compile(pat)
		if err != nil {
			return bad(fmt.Errorf("invalid regular expression: %w", err))
		}
		r.re = re
	case User:
		uid, err := resolveUser(pat, lookup)
		if err != nil {
			return bad(err)
		}
		r.uid = uid
	case Unit:
		if err := checkGlob(pat); err != nil {
			return bad(err)
		}
		if strings.Contains(pat, "/") {
			return bad(errors.New("a unit pattern is a unit or slice name such as ssh.service or system.slice, not a path"))
		}
	default:
		return bad(fmt.Errorf("unknown kind %q (use name, exe, cmdline, user or unit)", k))
	}
	return r, nil
}

func checkGlob(pat string) error {
	if _, err := path.Match(pat, ""); err != nil {
		return fmt.Errorf("invalid glob: %w", err)
	}
	return nil
}

// hasMeta reports whether a glob has unquoted wildcards.
func hasMeta(pat string) bool {
	for i := 0; i < len(pat); i++ {
		switch pat[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// unquote removes the backslashes of a glob without wildcards.
func unquote(pat string) string {
	if !strings.Contains(pat, `\`) {
		return pat
	}
	var b strings.Builder
	for i := 0; i < len(pat); i++ {
		if pat[i] == '\\' && i+1 < len(pat) {
			i++
		}
		b.WriteByte(pat[i])
	}
	return b.String()
}

func resolveUser(name string, lookup func(string) (uint64, error)) (uint64, error) {
	if uid, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uid, nil
	}
	if lookup == nil {
		lookup = lookupUser
	}
	uid, err := lookup(name)
	var unknown user.UnknownUserError
	switch {
	case errors.As(err, &unknown):
		return 0, fmt.Errorf("unknown user %q (a user not in /etc/passwd can be given by numeric uid)", name)
	case err != nil:
		return 0, fmt.Errorf("look up user %q: %w", name, err)
	}
	return uid, nil
}

func lookupUser(name string) (uint64, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %q has a non-numeric uid %q", name, u.Uid)
	}
	return uid, nil
}

// Rules returns the compiled rules, the administrator's first.
func (s *Set) Rules() []Rule {
	if s == nil {
		return nil
	}
	return s.rules
}

// Match returns the first rule that protects p.
func (s *Set) Match(p proc.Info) (Rule, bool) {
	if s == nil || len(s.rules) == 0 {
		return Rule{}, false
	}
	var units []string
	unitsRead := false
	for _, r := range s.rules {
		switch r.Kind {
		case Name:
			if globMatch(r.Pattern, p.Comm) {
				return r, true
			}
		case Exe:
			// A path means what the administrator meant only if it leads to the file
			// the process runs as the host sees it: in a mount namespace of their own
			// (unshare -Urm) users can mount a tmpfs over /usr and run anything under
			// any path there (proc.Info.ExeVerified).
			if p.Exe != "" && p.ExeVerified && globMatch(r.Pattern, p.Exe) {
				return r, true
			}
		case Cmdline:
			if p.Cmdline != "" && r.re.MatchString(p.Cmdline) {
				return r, true
			}
		case User:
			if p.UID == r.uid {
				return r, true
			}
		case Unit:
			if !unitsRead {
				units, unitsRead = Units(p.Cgroup), true
			}
			for _, u := range units {
				if globMatch(r.Pattern, u) {
					return r, true
				}
			}
		}
	}
	return Rule{}, false
}

func globMatch(pat, s string) bool {
	ok, _ := path.Match(pat, s) // validated by Parse
	return ok
}
