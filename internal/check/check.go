// Package check reviews /etc/default/memory-monitor before the service reads it: it reads
// the file as systemd does (internal/envfile), has every value validated by the code the
// daemon runs at start (through Options.Validate), and warns about settings that are valid
// but cannot do what the administrator meant, such as a threshold above the machine's
// memory or a log file the hardened service cannot write.
package check

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/envfile"
	"github.com/memory-monitor/memory-monitor/internal/spell"
)

// Paths the unit (systemd/memory-monitor.service) lets the service write.
const (
	// LogDir is the only writable directory for the log file (ProtectSystem=strict,
	// ReadWritePaths=/var/log).
	LogDir = "/var/log"
	// StateDir is the service's StateDirectory=, the only place for the metrics file.
	StateDir = "/var/lib/memory-monitor"
	// ServiceUser runs the daemon (User=).
	ServiceUser = "memory-monitor"
)

// Severity is how bad a problem is.
type Severity string

// Severities, in the JSON output as written here.
const (
	Error   Severity = "error"   // the daemon would refuse to start, or systemd the file
	Warning Severity = "warning" // accepted, but does not work as it reads
)

// Problem codes: stable identifiers for configuration-management tools (the messages may
// be reworded; the codes are not).
const (
	CodeUnreadable          = "unreadable-file"
	CodeInvalidUTF8         = "invalid-utf8"
	CodeNULByte             = "nul-byte"
	CodeInvalidValue        = "invalid-value"
	CodeExportLine          = "export-line"
	CodeInvalidName         = "invalid-name"
	CodeNoEquals            = "no-equals"
	CodeCommentContinuation = "comment-continuation"
	CodeDuplicate           = "duplicate"
	CodeUnknownVariable     = "unknown-variable"
	CodeUndocumented        = "undocumented-variable"
	CodeThresholdAboveRAM   = "threshold-above-memtotal"
	CodeLogLevelHidesStart  = "log-level-hides-start"
	CodeLogFileOutside      = "log-file-outside-var-log"
	CodeLogFilePrivateTmp   = "log-file-private-tmp"
	CodeLogFileNotWritable  = "log-file-not-writable"
	CodeMetricsFileOutside  = "metrics-file-outside-state-dir"
)

// Problem is one finding, printed on one line.
type Problem struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Line     int      `json:"line,omitempty"`     // in the file; 0: not tied to a line
	Variable string   `json:"variable,omitempty"` // "" for a line without a usable name
	Value    *string  `json:"value,omitempty"`    // as the service would get it; nil: none
	Message  string   `json:"message"`
}

// Options says what to check and how the daemon would read it.
type Options struct {
	// EnvFile is the file to check.
	EnvFile string
	// Optional: a missing file is no problem (the unit's EnvironmentFile=- then uses the
	// built-in defaults), as for the default path.
	Optional bool
	// Validate checks the file's variables exactly as the daemon checks its environment
	// at start, returning the first bad value (a *config.Error naming the variable, or
	// an error whose text names it).
	Validate func(env map[string]string) (config.Config, error)
	// Known lists every MEMORY_MONITOR_* variable the daemon reads; Undocumented the
	// subset it reads without documenting them (for benchmarks and tests).
	Known, Undocumented []string
	// Prefix starts the daemon's variables ("MEMORY_MONITOR_").
	Prefix string
	// MemTotal returns the machine's memory, for the threshold warning; an error skips
	// that warning.
	MemTotal func() (uint64, error)
	// Root is the file system the service will run on ("/"), read for the service user
	// and the log file's permissions; tests give a fixture tree.
	Root fs.FS
}

// Report is the outcome of a check.
type Report struct {
	File     string    `json:"file"`
	Problems []Problem `json:"problems"`
}

// Exit statuses of `memory-monitor check`.
const (
	ExitClean    = 0
	ExitWarnings = 1
	ExitErrors   = 2
)

// ExitCode is 0 when there is nothing to report, 1 for warnings only, 2 for errors.
func (r Report) ExitCode() int {
	code := ExitClean
	for _, p := range r.Problems {
		switch p.Severity {
		case Error:
			return ExitErrors
		case Warning:
			code = ExitWarnings
		}
	}
	return code
}

// Run checks o.EnvFile. It fails only when Options are incomplete; an unreadable file is
// a problem in the report.
func Run(o Options) (Report, error) {
	if o.Validate == nil || o.EnvFile == "" {
		return Report{}, errors.New("check: EnvFile and Validate are required")
	}
	r := Report{File: o.EnvFile, Problems: []Problem{}}
	f, err := envfile.ReadFile(o.EnvFile)
	var re *envfile.RefusedError
	switch {
	case errors.Is(err, fs.ErrNotExist) && o.Optional:
		f = &envfile.File{}
	case errors.As(err, &re):
		p := Problem{Severity: Error, Code: CodeInvalidUTF8, Line: re.Line, Variable: re.Name,
			Message: "invalid UTF-8: systemd refuses the whole file and the service does not start"}
		if re.NUL {
			p.Code, p.Message = CodeNULByte, "a NUL byte: systemd refuses the whole file and the service does not start"
		}
		r.add(p)
		return r, nil
	case err != nil:
		r.add(Problem{Severity: Error, Code: CodeUnreadable, Message: err.Error()})
		return r, nil
	}
	c := &checker{o: o, f: f, env: f.Env(), r: &r}
	c.syntax()
	c.names()
	if cfg, ok := c.validate(); ok {
		c.settings(cfg)
	}

	slices.SortStableFunc(r.Problems, func(a, b Problem) int { return a.Line - b.Line })
	return r, nil
}

func (r *Report) add(p Problem) { r.Problems = append(r.Problems, p) }

type checker struct {
	o   Options
	f   *envfile.File
	env map[string]string
	r   *Report
	bad map[string]bool // variables with an invalid value
}

// problem adds a finding about the winning assignment of name.
func (c *checker) problem(sev Severity, code, name, msg string) {
	p := Problem{Severity: sev, Code: code, Variable: name, Message: msg}
	if a, ok := c.f.Last(name); ok {
		v := a.Value
		p.Line, p.Value = a.Line, &v
	}
	c.r.add(p)
}

// syntax reports the lines systemd reads differently from how they look.
func (c *checker) syntax() {
	for _, d := range c.f.Dropped {
		p := Problem{Severity: Warning, Line: d.Line}
		if name, ok := d.Exported(); ok {
			p.Code, p.Variable = CodeExportLine, name
			p.Message = fmt.Sprintf("systemd ignores this line (no \"export\" in an environment file): write %s=... instead", name)
		} else if d.Reason == envfile.ReasonNoEquals {
			p.Code, p.Message = CodeNoEquals, fmt.Sprintf("%q: systemd ignores a line without '='", d.Text)
		} else {
			p.Code, p.Message = CodeInvalidName, fmt.Sprintf("%q is not a variable name: systemd ignores the line", d.Text)
		}
		c.r.add(p)
	}
	for _, line := range c.f.ContinuedComments {
		c.r.add(Problem{Severity: Warning, Code: CodeCommentContinuation, Line: line,
			Message: "the comment on the line before ends in a backslash: systemd 252 (Debian 12) reads this line as part of that comment"})
	}
	seen := map[string]int{}
	for _, a := range c.f.Assignments {
		if first, ok := seen[a.Name]; ok {
			v := a.Value
			c.r.add(Problem{Severity: Warning, Code: CodeDuplicate, Line: a.Line, Variable: a.Name, Value: &v,
				Message: fmt.Sprintf("set again (first on line %d): the last one wins", first)})
			continue
		}
		seen[a.Name] = a.Line
	}
}

// names reports MEMORY_MONITOR_* variables the daemon does not read or does not document.
func (c *checker) names() {
	for _, name := range slices.Sorted(maps.Keys(c.env)) {
		if !strings.HasPrefix(name, c.o.Prefix) {
			continue
		}
		if slices.Contains(c.o.Undocumented, name) {
			c.problem(Warning, CodeUndocumented, name, "an undocumented setting (for benchmarks and tests); it may change or go away")
			continue
		}
		if slices.Contains(c.o.Known, name) {
			continue
		}
		var documented []string
		for _, k := range c.o.Known {
			if !slices.Contains(c.o.Undocumented, k) {
				documented = append(documented, k)
			}
		}
		msg := "unknown variable: the daemon ignores it"
		if s := spell.Closest(name, documented); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		c.problem(Warning, CodeUnknownVariable, name, msg)
	}
}

// maxRounds bounds the re-validation: each round takes one bad variable out.
const maxRounds = 64

// standIns replace a bad value that other settings are compared with, instead of the
// default: with a bad threshold, a warn threshold of 25G must not be reported as above
// the default 20G. The largest size the daemon accepts is below any other size.
var standIns = map[string]string{"THRESHOLD": "8000000T"}

// validate runs the daemon's own validation, once per bad value: the daemon stops at the
// first, so each round drops the variable it named (its default applies) and tries again.
// The variables dropped are remembered in c.bad, so that no warning is about a default
// that stands in for them.
func (c *checker) validate() (config.Config, bool) {
	env := maps.Clone(c.env)
	c.bad = map[string]bool{}
	for range maxRounds {
		cfg, err := c.o.Validate(env)
		if err == nil {
			return cfg, true
		}
		name, msg := culprit(err, env)
		if name == "" {
			c.r.add(Problem{Severity: Error, Code: CodeInvalidValue, Message: err.Error()})
			return config.Config{}, false
		}
		c.problem(Error, CodeInvalidValue, name, msg)
		if v, ok := standIns[strings.TrimPrefix(name, c.o.Prefix)]; ok && env[name] != v {
			env[name] = v
		} else {
			delete(env, name)
		}
		c.bad[name] = true
	}
	return config.Config{}, false
}

// culprit finds the variable a validation error is about, and the error without the
// NAME="value" that the report shows apart.
func culprit(err error, env map[string]string) (string, string) {
	var ce *config.Error
	if errors.As(err, &ce) {
		if _, ok := env[ce.Option]; ok {
			return ce.Option, ce.Err.Error()
		}
	}
	// An error from the command-line parser (e.g. a bad boolean) names the variable
	// somewhere in its text: take the longest name that occurs in it.
	msg, best := err.Error(), ""
	for name := range env {
		if strings.Contains(msg, name+"=") && len(name) > len(best) {
			best = name
		}
	}
	if best != "" {
		// The report shows NAME="value" itself: drop kong's copy of it, and the flag
		// name, which the file does not use.
		msg = strings.TrimSuffix(msg, fmt.Sprintf(" (from envar %s=%q)", best, env[best]))
		if strings.HasPrefix(msg, "--") {
			if _, rest, ok := strings.Cut(msg, ": "); ok {
				msg = rest
			}
		}
	}
	return best, msg
}

// settings warns about valid values that cannot work as the administrator meant.
func (c *checker) settings(cfg config.Config) {
	name := func(suffix string) string { return c.o.Prefix + suffix }
	ok := func(suffix string) bool { return !c.bad[name(suffix)] }
	if c.o.MemTotal != nil && ok("THRESHOLD") {
		if total, err := c.o.MemTotal(); err == nil && cfg.Threshold >= total {
			what := config.FormatSize(cfg.Threshold)
			if _, set := c.env[name("THRESHOLD")]; !set {
				what = "the built-in default, " + what + ","
			}
			c.problem(Warning, CodeThresholdAboveRAM, name("THRESHOLD"), fmt.Sprintf(
				"%s is at or above the machine's memory (MemTotal %s): no process can ever reach it",
				what, config.FormatSize(total)))
		}
	}
	if cfg.LogLevel > slog.LevelInfo && ok("LOG_LEVEL") {
		c.problem(Warning, CodeLogLevelHidesStart, name("LOG_LEVEL"),
			"hides the start-up line that shows the settings in force, and every stop that goes as planned (use info)")
	}
	if p := cfg.LogFile; p != "" && ok("LOG_FILE") {
		clean := filepath.Clean(p)
		switch {
		case within(clean, "/tmp") || within(clean, "/var/tmp"):
			c.problem(Warning, CodeLogFilePrivateTmp, name("LOG_FILE"),
				"the service has a private /tmp and /var/tmp (PrivateTmp=yes): nobody else would see this file; use a file under /var/log")
		case !within(clean, LogDir):
			c.problem(Warning, CodeLogFileOutside, name("LOG_FILE"),
				"the service can write only under /var/log (ProtectSystem=strict): it would log to the journal only")
		default:
			if why := c.notWritable(clean); why != "" {
				c.problem(Warning, CodeLogFileNotWritable, name("LOG_FILE"), why)
			}
		}
	}
	if p := cfg.MetricsFile; p != "" && ok("METRICS_FILE") && !within(filepath.Clean(p), StateDir) {
		c.problem(Warning, CodeMetricsFileOutside, name("METRICS_FILE"),
			"the service can write metrics only under /var/lib/memory-monitor (its StateDirectory=): the file would never be written")
	}
}

func within(path, dir string) bool {
	return strings.HasPrefix(path, dir+"/")
}
