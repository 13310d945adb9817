package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"python3 train.py":        "python3 train.py",
		"x\nlevel=ERROR msg=fake": `x\nlevel=ERROR msg=fake`,
		"tab\there":               `tab\there`,
		"bell\a\x1b[2J":           `bell\a\x1b[2J`,
		"naïve ☃":                 "naïve ☃",
		"bad\xffutf8":             `bad\xffutf8`,
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCollectOrdersAndLimits(t *testing.T) {
	const fixture = "../proc/testdata/proc"
	s, err := proc.NewScanner(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := proc.NewReader(fixture)
	if err != nil {
		t.Fatal(err)
	}
	rows, total, err := Collect(s, r, policy.Rules{Threshold: 20 << 30, Self: 4242}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if total != 9 || len(rows) != 3 {
		t.Fatalf("total %d, rows %d; want 9 and 3", total, len(rows))
	}
	for i, want := range []struct {
		pid  int
		prot string
	}{{200, policy.ReasonOOMNever}, {1, policy.ReasonInit}, {3, policy.ReasonKernelThread}} {
		if rows[i].Info.PID != want.pid || rows[i].Protected != want.prot {
			t.Errorf("row %d: pid %d protected %q, want %d %q", i, rows[i].Info.PID, rows[i].Protected, want.pid, want.prot)
		}
	}
	var b bytes.Buffer
	if err := Write(&b, rows, total, 20<<30, proc.MetricRSS); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "threshold 20.0 GiB; 9 processes, 3 largest shown") {
		t.Errorf("table:\n%s", b.String())
	}
}
