package cli

import (
	"bytes"
	"strings"
	"testing"
)

// A bad --notify is a configuration error naming the flag or the variable and the value;
// nothing runs (list over a fixture tree, and the daemon in dry run over it).
func TestNotifyOption(t *testing.T) {
	t.Setenv("MEMORY_MONITOR_NOTIFY", "")
	root := "--proc-root=../protect/testdata/proc"
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"list", root, "--notify=stderr,bogus"}, "", `memory-monitor: --notify="stderr,bogus": unknown channel "bogus"`},
		{[]string{"--dry-run", root, "--notify=none,tty"}, "", `memory-monitor: --notify="none,tty": none cannot be combined`},
		{[]string{"--dry-run", root}, "tty,,stderr", `memory-monitor: MEMORY_MONITOR_NOTIFY="tty,,stderr": empty channel name at position 2`},
	} {
		t.Setenv("MEMORY_MONITOR_NOTIFY", tc.env)
		var out, errb bytes.Buffer
		if code := Main(tc.args, &out, &errb, ""); code != exitConfig || !strings.HasPrefix(errb.String(), tc.want) {
			t.Errorf("%q (env %q): exit %d, %q; want %d, %q", tc.args, tc.env, code, errb.String(), exitConfig, tc.want)
		}
	}
	var out, errb bytes.Buffer
	func() {
		defer func() { recover() }()
		Main([]string{"--help"}, &out, &errb, "")
	}()
	if h := out.String(); !strings.Contains(h, "--notify=CHANNELS") || !strings.Contains(h, "($MEMORY_MONITOR_NOTIFY)") {
		t.Errorf("--help does not show --notify:\n%s", h)
	}
}
