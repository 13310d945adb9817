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

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// Row is one process in the table.
type Row struct {
	Info      proc.Info
	User      string
	Protected string // reason, or "" when it may be stopped
}

// Collect returns the top processes by RSS, largest first; top <= 0 means all.
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
		rows = append(rows, Row{Info: in, User: proc.UserName(in.UID), Protected: policy.Protected(in, rules)})
	}
	return rows, st.Processes, nil
}

// Write prints rows as an aligned table under a one-line summary.
func Write(w io.Writer, rows []Row, total int, threshold uint64) error {
	fmt.Fprintf(w, "threshold %s; %d processes, %d largest shown\n", config.FormatSize(threshold), total, len(rows))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	io.WriteString(tw, "PID\tUSER\tRSS\t%THRESHOLD\tPROTECTED\tCOMMAND\n")
	for _, r := range rows {
		pct := float64(r.Info.RSS) / float64(threshold) * 100
		prot := r.Protected
		if prot == "" {
			prot = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.1f%%\t%s\t%s\n", r.Info.PID, Sanitize(r.User),
			config.FormatSize(r.Info.RSS), pct, prot, Sanitize(r.Info.Cmdline))
	}
	return tw.Flush()
}

// Sanitize makes attacker-controlled text (process names, command lines) safe for one
// table cell: control characters are escaped, so a name cannot start a new line or move
// the cursor, and tabs cannot break the alignment.
func Sanitize(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) || r == ' ' {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}
