package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestProtectRulesFromFlagsOrList(t *testing.T) {
	// Each flag is one rule, spaces included.
	if got := protectRules([]string{`cmdline:a b`, "name:x"}, true); !slices.Equal(got, []string{"cmdline:a b", "name:x"}) {
		t.Errorf("flags: %q", got)
	}
	// The variable is a white-space separated list.
	if got := protectRules([]string{" name:sshd\tunit:postgresql@*.service\n user:backup "}, false); !slices.Equal(got,
		[]string{"name:sshd", "unit:postgresql@*.service", "user:backup"}) {
		t.Errorf("variable: %q", got)
	}
}

// list --protect names the rule that protects each process, and the built-in rule for the
// system unit, over the fixture tree of package protect.
func TestListShowsRules(t *testing.T) {
	t.Setenv("MEMORY_MONITOR_PROTECT", "")
	var out, errb bytes.Buffer
	code := run([]string{"list", "-n", "0", "--proc-root=../../internal/protect/testdata/proc",
		"--protect=name:java", "--protect=unit:postgresql@*.service"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"name:java", "unit:postgresql@*.service", "unit:ssh.service (built-in)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
	errb.Reset()
	if code := run([]string{"list", "--protect=bogus"}, &out, &errb); code != 78 ||
		!strings.HasPrefix(errb.String(), `memory-monitor: --protect="bogus": not KIND:PATTERN`) {
		t.Errorf("bad rule: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	t.Setenv("MEMORY_MONITOR_PROTECT", "name:ok cmdline:(")
	if code := run([]string{"list"}, &out, &errb); code != 78 ||
		!strings.HasPrefix(errb.String(), `memory-monitor: MEMORY_MONITOR_PROTECT="cmdline:(": invalid regular expression`) {
		t.Errorf("bad rule in the variable: exit %d, %q", code, errb.String())
	}
}
