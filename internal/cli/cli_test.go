package cli

import (
	"bytes"
	"strings"
	"testing"
)

// Invalid UTF-8 in a value is shown as its bytes (\xff), not as kong's U+FFFD; an unknown
// variable's name is shown with its escape characters written out.
func TestBadBytesAreShownAsBytes(t *testing.T) {
	t.Setenv("MEMORY_MONITOR_INTERVAL", "1\xffs")
	var out, errb bytes.Buffer
	code := Main([]string{"--dry-run", "--proc-root=../proc/testdata/proc"}, &out, &errb, "")
	if code != exitConfig || !strings.HasPrefix(errb.String(), `memory-monitor: MEMORY_MONITOR_INTERVAL="1\xffs": invalid duration`) {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	t.Setenv("MEMORY_MONITOR_INTERVAL", "60s")
	t.Setenv("MEMORY_MONITOR_\x1b[2JX", "1")
	got := unknownEnv(map[string]string{"MEMORY_MONITOR_THRESHOLD": "threshold", "MEMORY_MONITOR_INTERVAL": "interval"})
	if len(got) != 1 || strings.ContainsRune(got[0], 0x1b) || !strings.Contains(got[0], `\x1b[2JX`) {
		t.Errorf("unknown variable warning %q", got)
	}
}
