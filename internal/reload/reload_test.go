package reload

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/config"
)

// validate is the daemon's validation in small: defaults overridden by env, config.Load.
func validate(env map[string]string) (config.Config, error) {
	get := func(name, def string) string {
		if v, ok := env["MEMORY_MONITOR_"+name]; ok {
			return v
		}
		return def
	}
	raw := config.Raw{
		Threshold: get("THRESHOLD", "20G"), Interval: get("INTERVAL", "60s"), Grace: get("GRACE", "5s"),
		LogLevel: get("LOG_LEVEL", "info"), ProcRoot: "/proc", WarnThreshold: get("WARN_THRESHOLD", "off"),
		Protect:           strings.Fields(get("PROTECT", "")),
		Budget:            config.SplitBudgets(get("BUDGET", "")),
		AllowLowThreshold: get("ALLOW_LOW_THRESHOLD", "") == "true",
	}
	name := func(flag string) string {
		return "MEMORY_MONITOR_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
	}
	return config.Load(raw, name, func() (uint64, error) { return 64 << 30, nil })
}

// socketPath is short: a Unix socket path has at most 107 bytes, and t.TempDir can be
// longer than that.
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, SocketName)
}

// start runs a server with apply on a fresh socket until the test ends.
func start(t *testing.T, apply Applier, allow []uint32) *Server {
	t.Helper()
	s, err := Listen(ServerOptions{Path: socketPath(t), Validate: validate, Apply: apply, AllowUIDs: allow})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func TestReloadApplies(t *testing.T) {
	got := make(chan config.Config, 1)
	s := start(t, func(c config.Config) error { got <- c; return nil }, nil)
	fi, err := os.Stat(s.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if err := Send(context.Background(), s.Path(), map[string]string{"MEMORY_MONITOR_THRESHOLD": "200M", "MEMORY_MONITOR_ALLOW_LOW_THRESHOLD": "true"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	select {
	case c := <-got:
		if c.Threshold != 200<<20 {
			t.Errorf("applied threshold %d, want 200 MiB", c.Threshold)
		}
	default:
		t.Fatal("Send returned without the settings applied")
	}
}

func TestReloadRefusesBadValue(t *testing.T) {
	applied := false
	s := start(t, func(config.Config) error { applied = true; return nil }, nil)
	err := Send(context.Background(), s.Path(), map[string]string{"MEMORY_MONITOR_THRESHOLD": "lots"})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `MEMORY_MONITOR_THRESHOLD="lots": invalid size`) {
		t.Errorf("Send = %v; want a refusal naming the variable and value", err)
	}
	// A second, good request still works: one bad reload does not break the server.
	if err := Send(context.Background(), s.Path(), nil); err != nil {
		t.Errorf("Send after a refusal: %v", err)
	}
	if !applied {
		t.Error("the good request was not applied")
	}
}

func TestReloadApplyRefuses(t *testing.T) {
	s := start(t, func(config.Config) error { return errors.New("the log file cannot change while running") }, nil)
	err := Send(context.Background(), s.Path(), nil)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "cannot change while running") {
		t.Errorf("Send = %v", err)
	}
}

// TestReloadWaitsForApply: the reply comes only after Apply has returned, so systemctl
// reload returns when the settings are in force.
func TestReloadWaitsForApply(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s := start(t, func(config.Config) error {
		close(entered)
		<-release
		return nil
	}, nil)
	done := make(chan error, 1)
	go func() { done <- Send(context.Background(), s.Path(), nil) }()
	<-entered
	select {
	case err := <-done:
		t.Fatalf("Send returned (%v) while Apply was still running", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestReloadRefusesOtherUsers(t *testing.T) {
	applied := false
	other := uint32(os.Geteuid() + 4242)
	s := start(t, func(config.Config) error { applied = true; return nil }, []uint32{other})
	err := Send(context.Background(), s.Path(), nil)
	if err == nil || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "may not reload") {
		t.Errorf("Send from a user not allowed = %v", err)
	}
	if applied {
		t.Error("applied a request from a user not allowed")
	}
}

func TestReloadBadRequests(t *testing.T) {
	applied := 0
	s := start(t, func(config.Config) error { applied++; return nil }, nil)
	for _, req := range []string{"not json\n", `{"version": 99, "env": {}}` + "\n"} {
		conn, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte(req))
		var r Reply
		if err := json.NewDecoder(conn).Decode(&r); err != nil || r.OK || r.Refused || r.Error == "" {
			t.Errorf("request %q: reply %+v, %v", req, r, err)
		}
		conn.Close()
	}
	if applied != 0 {
		t.Errorf("applied %d bad requests", applied)
	}
}

// TestSendCancelled: a client whose context ends while the daemon is still applying
// gives up with the context's error.
func TestSendCancelled(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s := start(t, func(config.Config) error { close(entered); <-release; return nil }, nil)
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Send(ctx, s.Path(), nil) }()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("Send after its context ended = %v, want context.Canceled while waiting for the answer", err)
	}
}

func TestSendNoDaemon(t *testing.T) {
	err := Send(context.Background(), socketPath(t), nil)
	if err == nil || !strings.Contains(err.Error(), "is the daemon running?") {
		t.Errorf("Send without a daemon = %v", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := socketPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // leaves the socket file behind, as a killed daemon does
	s, err := Listen(ServerOptions{Path: path, Validate: validate, Apply: func(config.Config) error { return nil }})
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	s.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	// Anything else at the path is not ours to remove.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(ServerOptions{Path: path, Validate: validate, Apply: func(config.Config) error { return nil }}); err == nil {
		t.Error("Listen replaced a regular file")
	}
}

func TestServeEndsWithContext(t *testing.T) {
	s, err := Listen(ServerOptions{Path: socketPath(t), Validate: validate, Apply: func(config.Config) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Serve: %v", err)
	}
}

func TestDiff(t *testing.T) {
	old, err := validate(map[string]string{"MEMORY_MONITOR_THRESHOLD": "2G"})
	if err != nil {
		t.Fatal(err)
	}
	same, _ := validate(map[string]string{"MEMORY_MONITOR_THRESHOLD": "2GiB"})
	if d := Diff(old, same); len(d) != 0 {
		t.Errorf("2G -> 2GiB: %v, want no change", d)
	}
	changed, err := validate(map[string]string{"MEMORY_MONITOR_THRESHOLD": "200M", "MEMORY_MONITOR_GRACE": "1s", "MEMORY_MONITOR_ALLOW_LOW_THRESHOLD": "true",
		"MEMORY_MONITOR_WARN_THRESHOLD": "100M", "MEMORY_MONITOR_PROTECT": "user:root", "MEMORY_MONITOR_BUDGET": "user:*=8G unit:ci-*.service=16G"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range Diff(old, changed) {
		got = append(got, c.String())
	}
	want := []string{
		"THRESHOLD 2.0 GiB -> 200.0 MiB",
		"GRACE 5s -> 1s",
		`PROTECT "` + rulesOf(old) + `" -> "user:root, ` + rulesOf(old) + `"`,
		`BUDGET "" -> "user:*=8G unit:ci-*.service=16G"`,
		"WARN_THRESHOLD off -> 100.0 MiB",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Diff =\n%q\nwant\n%q", got, want)
	}
}

func rulesOf(c config.Config) string {
	var out []string
	for _, r := range c.Protect.Rules() {
		out = append(out, r.String())
	}
	return strings.Join(out, ", ")
}
