// Package report prints what the daemon sees: the processes nearest the threshold, with
// whether each is protected and why, for `memory-monitor list`.
package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// Row is one process in the table.
type Row struct {
	Info      proc.Info
	User      string
	Protected string // reason, or "" when it may be stopped
	Memory    uint64 // by the metric in use (Info.RSS for rss)
}

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
	var rows []Row
	for _, s := range all {
		if top > 0 && len(rows) == top {
			break
		}
		in, err := r.Info(s.pid)
		if err != nil {
			continue // gone since the scan, or unreadable: not worth a row
		}
		if err := r.Measure(&in, rules.Metric); err != nil {
			continue
		}
		rows = append(rows, Row{Info: in, Memory: rules.Metric.Of(in), User: proc.UserName(in.UID),
			Protected: policy.Protected(in, rules)})
	}
	if rules.Metric == proc.MetricPSS {
		slices.SortStableFunc(rows, func(a, b Row) int { return cmp.Compare(b.Memory, a.Memory) })
	}
	return rows, st.Processes, nil
}

// Write prints rows as an aligned table under a one-line summary; the memory column is
// headed by the metric's label (RSS, PSS or RSS+SWAP).
func Write(w io.Writer, rows []Row, total int, threshold uint64, metric proc.Metric) error {
	fmt.Fprintf(w, "threshold %s; %d processes, %d largest shown\n", config.FormatSize(threshold), total, len(rows))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "PID\tUSER\t%s\t%%THRESHOLD\tPROTECTED\tCOMMAND\n", metric.Label())
	for _, r := range rows {
		pct := float64(r.Memory) / float64(threshold) * 100
		prot := r.Protected
		if prot == "" {
			prot = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.1f%%\t%s\t%s\n", r.Info.PID, Sanitize(r.User),
			config.FormatSize(r.Memory), pct, Sanitize(prot), Sanitize(r.Info.Cmdline))
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
