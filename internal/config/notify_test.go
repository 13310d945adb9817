package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNotify(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Notify
	}{
		{"", Notify{Stderr: true}},
		{"  ", Notify{Stderr: true}},
		{"stderr", Notify{Stderr: true}},
		{"tty", Notify{TTY: true}},
		{"stderr,tty", Notify{Stderr: true, TTY: true}},
		{" TTY , Stderr ", Notify{Stderr: true, TTY: true}},
		{"stderr,stderr", Notify{Stderr: true}},
		{"none", Notify{}},
		{"NONE", Notify{}},
	} {
		got, err := ParseNotify(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseNotify(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if again, err := ParseNotify(got.String()); err != nil || again != got {
			t.Errorf("ParseNotify(%q.String() = %q) = %+v, %v", c.in, got.String(), again, err)
		}
	}
	if !(Notify{}).Off() || (Notify{TTY: true}).Off() {
		t.Error("Off is wrong")
	}
}

func TestLoadNotifyErrorsNameTheOption(t *testing.T) {
	for _, c := range []struct {
		in, option, wantErr string
	}{
		{"stdout", "--notify", `unknown channel "stdout"`},
		{"stderr,", "MEMORY_MONITOR_NOTIFY", "empty channel name at position 2"},
		{",tty", "--notify", "empty channel name at position 1"},
		{"none,tty", "MEMORY_MONITOR_NOTIFY", "none cannot be combined"},
		{"stderr;tty", "--notify", `unknown channel "stderr;tty"`},
		{"wall", "--notify", "use stderr, tty or none"},
	} {
		name := func(flag string) string {
			if strings.HasPrefix(c.option, "--") {
				return "--" + flag
			}
			return "MEMORY_MONITOR_" + strings.ToUpper(flag)
		}
		_, err := LoadNotify(c.in, name)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("LoadNotify(%q) = %v, want a *config.Error", c.in, err)
		}
		msg := err.Error()
		if ce.Option != c.option || ce.Value != c.in || !strings.Contains(msg, c.option) ||
			!strings.Contains(msg, c.in) || !strings.Contains(msg, c.wantErr) {
			t.Errorf("LoadNotify(%q) error %q (option %q), want %s and %q", c.in, msg, ce.Option, c.option, c.wantErr)
		}
	}
}
