// Package report prints what the daemon sees: the processes nearest the threshold, with
// whether each is protected and why, for `memory-monitor list`.
package report

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/protect"
)

// Row is one process in the table.
type Row struct {
	Info      proc.Info
	User      string
	Protected string // reason, or "" when it may be stopped
	Memory    uint64 // by the metric in use (Info.RSS for rss)

	// MemoryUnknown is set when the metric could not be read (PSS of another user's
	// process without root): Memory is then the RSS the row was chosen by, and the table
	// says the metric is unknown rather than leaving the process out.
	MemoryUnknown string
	// Err is set for a process that could not be read at all after the scan listed it
	// (it exited, mostly): the row still appears, so that nothing is dropped silently.
	Err error
}

// UnknownNeedsRoot is what the table shows for what only root may read: the protection of
// another user's process when an exe rule would need its executable, or its PSS.
const UnknownNeedsRoot = "unknown (needs root)"

// Collect returns the top processes by rules.Metric, largest first; top <= 0 means all.
// With MetricPSS the processes are chosen by RSS and only those shown have their PSS read
// (smaps_rollup is expensive); with MetricSwap every process's VmSwap is read first.
func Collect(s *proc.Scanner, r *proc.Reader, rules policy.Rules, top int) ([]Row, int, error) {
	type sample struct {
		pid int
		rss uint64
	}
	var all []sample
	st, err := s.Scan(func(pid int, rss uint64) { all = append(all, sample{pid, rss}) })
	if err != nil {
		return nil, 0, err
	}
	if rules.Metric == proc.MetricSwap {
		for i := range all {
			if _, swap, err := r.Swap(all[i].pid); err == nil {
				all[i].rss += swap
			}
		}
	}
	slices.SortFunc(all, func(a, b sample) int {
		return cmp.Or(cmp.Compare(b.rss, a.rss), cmp.Compare(a.pid, b.pid))
	})
	daemonExe := r.SelfExe()
	var rows []Row
	for _, s := range all {
		if top > 0 && len(rows) == top {
			break
		}
		in, err := r.Info(s.pid)
		if err != nil {
			rows = append(rows, Row{Info: proc.Info{PID: s.pid}, Memory: s.rss, Err: err})
			continue
		}
		row := Row{Info: in, User: proc.UserName(in.UID), Protected: protection(in, rules, daemonExe)}
		if err := r.Measure(&in, rules.Metric); err != nil {
			row.Memory, row.MemoryUnknown = in.RSS, "unknown"
			if errors.Is(err, fs.ErrPermission) {
				row.MemoryUnknown = UnknownNeedsRoot
			}
		} else {
			row.Info, row.Memory = in, rules.Metric.Of(in)
		}
		rows = append(rows, row)
	}
	if rules.Metric == proc.MetricPSS {
		slices.SortStableFunc(rows, func(a, b Row) int { return cmp.Compare(b.Memory, a.Memory) })
	}
	return rows, st.Processes, nil
}

// protection is the PROTECTED cell's reason for p: what the daemon decides, except that
// the running daemon (the same executable, run by root from PID 1, in this mount
// namespace) is marked as itself, and that a process whose executable only root may
// read is "unknown (needs root)" when an exe rule could protect it, instead of a guess.
func protection(p proc.Info, rules policy.Rules, daemonExe string) string {
	if why := policy.Protected(p, rules); why != "" {
		return why
	}
	if daemonExe != "" && p.Exe == daemonExe && p.ExeVerified && p.UID == 0 && p.PPID == 1 {
		return policy.ReasonSelf
	}
	if p.ExeUnreadable {
		for _, r := range rules.Protect.Rules() {
			if r.Kind == protect.Exe {
				return UnknownNeedsRoot
			}
		}
	}
	return ""
}

// Write prints rows as an aligned table under a one-line summary; the memory column is
// headed by the metric's label (RSS, PSS or RSS+SWAP).
func Write(w io.Writer, rows []Row, total int, threshold uint64, metric proc.Metric) error {
	fmt.Fprintf(w, "threshold %s; %d processes, %d largest shown\n", config.FormatSize(threshold), total, len(rows))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "PID\tUSER\t%s\t%%THRESHOLD\tPROTECTED\tCOMMAND\n", metric.Label())
	for _, r := range rows {
		if r.Err != nil {
			what := "(could not be read: " + r.Err.Error() + ")"
			if proc.IsGone(r.Err) {
				what = "(exited while listed)"
			}
			fmt.Fprintf(tw, "%d\t?\t?\t?\t?\t%s\n", r.Info.PID, Sanitize(what))
			continue
		}
		mem, pct := config.FormatSize(r.Memory), fmt.Sprintf("%.1f%%", float64(r.Memory)/float64(threshold)*100)
		if r.MemoryUnknown != "" {
			mem, pct = r.MemoryUnknown, "?"
		}
		prot := r.Protected
		if prot == "" {
			prot = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Info.PID, Sanitize(r.User),
			mem, pct, Sanitize(prot), Sanitize(r.Info.Cmdline))
	}
	return tw.Flush()
}

// Sanitize makes attacker-controlled text (process names, command lines) safe for one
// table cell: control characters and invalid UTF-8 are escaped, so a name cannot start a
// new line or move the cursor, and tabs cannot break the alignment.
func Sanitize(s string) string {
	safe := func(r rune, size int) bool {
		return (unicode.IsPrint(r) || r == ' ') && !(r == utf8.RuneError && size == 1)
	}
	clean := true
	for i := 0; i < len(s) && clean; {
		r, size := utf8.DecodeRuneInString(s[i:])
		clean = safe(r, size)
		i += size
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case safe(r, size):
			b.WriteString(s[i : i+size])
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}
