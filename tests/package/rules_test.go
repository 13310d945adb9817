package pkgtest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAlertRules: the example alerting rules shipped under /usr/share/doc are valid for
// Prometheus (promtool comes with Debian's prometheus package) and use only metrics the
// daemon writes.
func TestAlertRules(t *testing.T) {
	promtool := need(t, "promtool")
	rules := filepath.Join(repoRoot(t), "debian", "examples", "memory-monitor.rules.yml")
	out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
