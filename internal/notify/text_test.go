package notify

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/memory-monitor/memory-monitor/internal/proc"
)

const gib = 1 << 30

func TestSanitize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"python3", "python3"},
		{"", ""},
		{"naïve café", "naïve café"},
		{"\x1b[2J", `\x1b[2J`},
		{"\x1b]0;owned\x07", `\x1b]0;owned\x07`},
		{"a\rb\nc\td", `a\x0db\x0ac\x09d`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\u009b31m`}, // CSI as one C1 character
		{"osc\u009d0;x\u009c", `osc\u009d0;x\u009c`},
		{"\xff\xfebad", `\xff\xfebad`}, // invalid UTF-8
		{"\xc2", `\xc2`},               // truncated sequence
		{`back\x1b`, `back\\x1b`},      // a literal backslash cannot forge an escape
		{"rtl\u202eevil", `rtl\u202eevil`},
		{"line\u2028sep", `line\u2028sep`},
		{"nul\x00", `nul\x00`},
	} {
		got := Sanitize(c.in)
		if got != c.want {
			t.Errorf("Sanitize(%q) = %q, want %q", c.in, got, c.want)
		}
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] == 0x7f {
				t.Errorf("Sanitize(%q) = %q keeps control byte %#x", c.in, got, got[i])
			}
		}
		if !utf8.ValidString(got) {
			t.Errorf("Sanitize(%q) = %q is not valid UTF-8", c.in, got)
		}
	}
}

func TestTexts(t *testing.T) {
	py := Target{PID: 4242, Name: "python3"}
	rss := Measure{What: MetricWords(proc.MetricRSS), Bytes: 213 * gib / 10, Limit: 20 * gib}
	group := Measure{What: "resident memory", Bytes: 41 * gib, Limit: 40 * gib, Group: "user alice"}
	for _, c := range []struct{ name, got, want string }{
		{"stop", StopLine(py, rss, 5*time.Second),
			"memory-monitor: stopping PID 4242 (python3): resident memory 21.3 GiB is over this machine's per-process limit of 20.0 GiB; SIGTERM now, SIGKILL in 5 s if it is still running. See: man memory-monitor\n"},
		{"stop without grace", StopLine(py, rss, 0),
			"memory-monitor: stopping PID 4242 (python3): resident memory 21.3 GiB is over this machine's per-process limit of 20.0 GiB; SIGKILL now. See: man memory-monitor\n"},
		{"group stop", StopLine(py, group, 1500*time.Millisecond),
			"memory-monitor: stopping PID 4242 (python3), the largest process of user alice, whose processes together use 41.0 GiB of resident memory, over the budget of 40.0 GiB; SIGTERM now, SIGKILL in 1.5 s if it is still running. See: man memory-monitor\n"},
		{"dry run", WouldStopLine(py, rss),
			"memory-monitor: would stop PID 4242 (python3): resident memory 21.3 GiB is over this machine's per-process limit of 20.0 GiB (dry run: no signal is sent). See: man memory-monitor\n"},
		{"warn", WarnLine(py, Measure{What: "resident memory", Bytes: 165 * gib / 10, Limit: 16 * gib}, 20*gib),
			"memory-monitor: warning: PID 4242 (python3): resident memory 16.5 GiB is over this machine's per-process warning level of 16.0 GiB; it will be stopped at 20.0 GiB. See: man memory-monitor\n"},
		{"group warn", WarnLine(py, Measure{What: "resident memory", Bytes: 33 * gib, Limit: 32 * gib, Group: "unit build.service"}, 40*gib),
			"memory-monitor: warning: PID 4242 (python3): the processes of unit build.service together use 33.0 GiB of resident memory, over the warning level of 32.0 GiB; it will be stopped at 40.0 GiB. See: man memory-monitor\n"},
		{"exited", OutcomeLine(py, Outcome{Result: Exited, After: 1234 * time.Millisecond}),
			"memory-monitor: PID 4242 (python3) exited after SIGTERM (1.2 s).\n"},
		{"killed", OutcomeLine(py, Outcome{Result: Killed, After: 5 * time.Second}),
			"memory-monitor: PID 4242 (python3) was killed with SIGKILL (5 s after the first signal).\n"},
		{"gone", OutcomeLine(py, Outcome{Result: Gone}),
			"memory-monitor: PID 4242 (python3) had already exited; nothing was sent.\n"},
		{"failed", OutcomeLine(py, Outcome{Result: Failed}),
			"memory-monitor: PID 4242 (python3) could not be stopped; the administrator's log has the reason.\n"},
	} {
		if c.got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, c.got, c.want)
		}
	}
}

func TestMetricWords(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range []proc.Metric{proc.MetricRSS, proc.MetricPSS, proc.MetricSwap} {
		w := MetricWords(m)
		if w == "" || seen[w] {
			t.Errorf("MetricWords(%v) = %q: empty or not distinct", m, w)
		}
		seen[w] = true
	}
}

// TestHostileLine: whatever a process calls itself, every line is one line of valid
// UTF-8 with no control byte, at most PIPE_BUF long, and keeps its fixed text.
func TestHostileLine(t *testing.T) {
	names := []string{
		"\x1b[2J\x1b[H",
		"\x1b]0;pwned\x07\x1b]8;;http://x/\x1b\\",
		"ok\rmemory-monitor: fake line",
		"two\nlines",
		strings.Repeat("\x1b", 10000),
		strings.Repeat("é", 5000),
		strings.Repeat("\xff", 3000),
	}
	for _, n := range names {
		tg := Target{PID: 1, Name: n}
		m := Measure{What: "resident memory", Bytes: 2 * gib, Limit: gib, Group: "user " + n}
		for _, line := range []string{
			StopLine(tg, m, time.Second), WouldStopLine(tg, m), WarnLine(tg, m, 3*gib),
			OutcomeLine(tg, Outcome{Result: Killed}),
		} {
			if len(line) > MaxLine {
				t.Errorf("line of %d bytes for name %.20q", len(line), n)
			}
			if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
				t.Errorf("not one line for name %.20q: %.80q", n, line)
			}
			body := strings.TrimSuffix(line, "\n")
			for i := 0; i < len(body); i++ {
				if body[i] < 0x20 || body[i] == 0x7f {
					t.Fatalf("control byte %#x in line for name %.20q: %.80q", body[i], n, line)
				}
			}
			if !utf8.ValidString(line) {
				t.Errorf("invalid UTF-8 for name %.20q", n)
			}
			if !strings.HasPrefix(line, "memory-monitor: ") {
				t.Errorf("line lost its prefix: %.80q", line)
			}
			if strings.Contains(line, "\u009b") || strings.Contains(line, "\u009d") {
				t.Errorf("C1 control in line: %.80q", line)
			}
		}
		if got := StopLine(tg, Measure{What: "resident memory", Bytes: 2 * gib, Limit: gib}, time.Second); !strings.HasSuffix(got, "See: man memory-monitor\n") {
			t.Errorf("fixed text cut off for name %.20q: %q", n, got)
		}
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second:         "5 s",
		1234 * time.Millisecond: "1.2 s",
		300 * time.Millisecond:  "0.3 s",
		0:                       "0 s",
		90 * time.Second:        "90 s",
	} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%v) = %q, want %q", d, got, want)
		}
	}
}
