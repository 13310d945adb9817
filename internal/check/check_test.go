package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/memory-monitor/memory-monitor/internal/config"
)

const prefix = "MEMORY_MONITOR_"

var known = []string{
	prefix + "THRESHOLD", prefix + "INTERVAL", prefix + "GRACE", prefix + "LOG_FILE",
	prefix + "LOG_LEVEL", prefix + "WARN_THRESHOLD", prefix + "METRICS_FILE", prefix + "FAST_PATH",
}

// validate stands in for the CLI's validation (the CLI scripts run the real one): the
// daemon's defaults, overridden by env, through config.Load; a bad FAST_PATH fails the way
// the command-line parser fails.
func validate(env map[string]string) (config.Config, error) {
	get := func(name, def string) string {
		if v, ok := env[prefix+name]; ok {
			return v
		}
		return def
	}
	if v, ok := env[prefix+"FAST_PATH"]; ok && v != "true" && v != "false" {
		return config.Config{}, fmt.Errorf("--fast-path: bool value must be true or false but got %q (from envar %sFAST_PATH=%q)", v, prefix, v)
	}
	raw := config.Raw{
		Threshold: get("THRESHOLD", "20G"), Interval: get("INTERVAL", "60s"), Grace: get("GRACE", "5s"),
		LogFile: get("LOG_FILE", "/var/log/memory-monitor.log"), LogLevel: get("LOG_LEVEL", "info"), ProcRoot: "/proc",
		WarnThreshold: get("WARN_THRESHOLD", "off"), MetricsFile: get("METRICS_FILE", ""),
	}
	name := func(flag string) string { return prefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_")) }
	return config.Load(raw, name, func() (uint64, error) { return 64 << 30, nil })
}

// fixtureRoot is a file system with the service user (uid 4242, not the test's) and a
// /var/log where only root may create files; the log file exists and is writable only if
// mode allows it to others.
func fixtureRoot(t *testing.T, logMode os.FileMode) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nmemory-monitor:x:4242:4242::/nonexistent:/usr/sbin/nologin\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nadm:x:4:memory-monitor\nmemory-monitor:x:4242:\n"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "var/log"), 0o755))
	must(os.Chmod(filepath.Join(root, "var/log"), 0o755))
	if logMode != 0 {
		p := filepath.Join(root, "var/log/memory-monitor.log")
		must(os.WriteFile(p, nil, 0o600))
		must(os.Chmod(p, logMode))
	}
	return root
}

func run(t *testing.T, content string, root string) Report {
	t.Helper()
	return runMem(t, content, root, 32<<30)
}

func runMem(t *testing.T, content string, root string, memTotal uint64) Report {
	t.Helper()
	path := filepath.Join(t.TempDir(), "memory-monitor")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if root == "" {
		root = fixtureRoot(t, 0o666)
	}
	rep, err := Run(Options{
		EnvFile: path, Validate: validate, Known: known, Undocumented: []string{prefix + "FAST_PATH"},
		Prefix: prefix, MemTotal: func() (uint64, error) { return memTotal, nil }, Root: os.DirFS(root),
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func codes(r Report) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, string(p.Severity)+" "+p.Code+" "+p.Variable)
	}
	return out
}

func TestRunFindings(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
		exit       int
	}{
		{"clean", "# nothing but a comment\nMEMORY_MONITOR_THRESHOLD=8G\n", nil, 0},
		{"empty", "", nil, 0},
		{"other variables are not ours", "GOMAXPROCS=2\nFOO=1\n", nil, 0},
		{"every bad value", "MEMORY_MONITOR_THRESHOLD=lots\nMEMORY_MONITOR_INTERVAL=1ms\nMEMORY_MONITOR_GRACE=-1s\n",
			[]string{"error invalid-value MEMORY_MONITOR_THRESHOLD", "error invalid-value MEMORY_MONITOR_INTERVAL", "error invalid-value MEMORY_MONITOR_GRACE"}, 2},
		{"parser error names the variable", "MEMORY_MONITOR_FAST_PATH=maybe\n",
			[]string{"error invalid-value MEMORY_MONITOR_FAST_PATH", "warning undocumented-variable MEMORY_MONITOR_FAST_PATH"}, 2},
		{"a bad threshold is not compared with", "MEMORY_MONITOR_THRESHOLD=lots\nMEMORY_MONITOR_WARN_THRESHOLD=25G\n",
			[]string{"error invalid-value MEMORY_MONITOR_THRESHOLD"}, 2},
		{"a bad threshold and a bad warn threshold", "MEMORY_MONITOR_THRESHOLD=lots\nMEMORY_MONITOR_WARN_THRESHOLD=many\n",
			[]string{"error invalid-value MEMORY_MONITOR_THRESHOLD", "error invalid-value MEMORY_MONITOR_WARN_THRESHOLD"}, 2},
		{"warn threshold at the threshold is the daemon's error", "MEMORY_MONITOR_THRESHOLD=8G\nMEMORY_MONITOR_WARN_THRESHOLD=8G\n",
			[]string{"error invalid-value MEMORY_MONITOR_WARN_THRESHOLD"}, 2},
		{"threshold at MemTotal", "MEMORY_MONITOR_THRESHOLD=32G\n", []string{"warning threshold-above-memtotal MEMORY_MONITOR_THRESHOLD"}, 1},
		{"threshold above MemTotal", "MEMORY_MONITOR_THRESHOLD=512G\n", []string{"warning threshold-above-memtotal MEMORY_MONITOR_THRESHOLD"}, 1},
		{"no memtotal warning for a bad threshold", "MEMORY_MONITOR_THRESHOLD=512X\n", []string{"error invalid-value MEMORY_MONITOR_THRESHOLD"}, 2},
		{"log level warn", "MEMORY_MONITOR_LOG_LEVEL=warn\n", []string{"warning log-level-hides-start MEMORY_MONITOR_LOG_LEVEL"}, 1},
		{"log level error", "MEMORY_MONITOR_LOG_LEVEL=error\n", []string{"warning log-level-hides-start MEMORY_MONITOR_LOG_LEVEL"}, 1},
		{"log level debug is fine", "MEMORY_MONITOR_LOG_LEVEL=debug\n", nil, 0},
		{"log file in /tmp", "MEMORY_MONITOR_LOG_FILE=/tmp/mm.log\n", []string{"warning log-file-private-tmp MEMORY_MONITOR_LOG_FILE"}, 1},
		{"log file in /var/tmp", "MEMORY_MONITOR_LOG_FILE=/var/tmp/mm.log\n", []string{"warning log-file-private-tmp MEMORY_MONITOR_LOG_FILE"}, 1},
		{"log file outside /var/log", "MEMORY_MONITOR_LOG_FILE=/srv/mm.log\n", []string{"warning log-file-outside-var-log MEMORY_MONITOR_LOG_FILE"}, 1},
		{"log file sneaking out of /var/log", "MEMORY_MONITOR_LOG_FILE=/var/log/../../etc/mm.log\n", []string{"warning log-file-outside-var-log MEMORY_MONITOR_LOG_FILE"}, 1},
		{"no log file", "MEMORY_MONITOR_LOG_FILE=\n", nil, 0},
		{"metrics file outside the state directory", "MEMORY_MONITOR_METRICS_FILE=/var/lib/prometheus/node-exporter/mm.prom\n",
			[]string{"warning metrics-file-outside-state-dir MEMORY_MONITOR_METRICS_FILE"}, 1},
		{"metrics file in the state directory", "MEMORY_MONITOR_METRICS_FILE=/var/lib/memory-monitor/mm.prom\n", nil, 0},
		{"export line", "export MEMORY_MONITOR_THRESHOLD=10G\n", []string{"warning export-line MEMORY_MONITOR_THRESHOLD"}, 1},
		{"invalid name", "MEMORY-MONITOR-GRACE=1\n", []string{"warning invalid-name "}, 1},
		{"no equals", "MEMORY_MONITOR_THRESHOLD\n", []string{"warning no-equals "}, 1},
		{"comment continues", "# see \\\nMEMORY_MONITOR_THRESHOLD=8G\n", []string{"warning comment-continuation "}, 1},
		{"duplicate", "MEMORY_MONITOR_THRESHOLD=8G\nMEMORY_MONITOR_THRESHOLD=9G\n", []string{"warning duplicate MEMORY_MONITOR_THRESHOLD"}, 1},
		{"unknown variable", "MEMORY_MONITOR_TRESHOLD=8G\nMEMORY_MONITOR_COLOUR=red\n",
			[]string{"warning unknown-variable MEMORY_MONITOR_COLOUR", "warning unknown-variable MEMORY_MONITOR_TRESHOLD"}, 1},
		{"undocumented variable", "MEMORY_MONITOR_FAST_PATH=false\n", []string{"warning undocumented-variable MEMORY_MONITOR_FAST_PATH"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := run(t, tc.file, "")
			got := codes(rep)
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("problems = %q, want %q", got, want)
			}
			if rep.ExitCode() != tc.exit {
				t.Errorf("exit code %d, want %d", rep.ExitCode(), tc.exit)
			}
		})
	}
}

func TestRunDefaultThresholdAboveMemTotal(t *testing.T) {
	rep := runMem(t, "MEMORY_MONITOR_GRACE=5s\n", "", 16<<30)
	if len(rep.Problems) != 1 || rep.Problems[0].Code != CodeThresholdAboveRAM || rep.Problems[0].Line != 0 ||
		rep.Problems[0].Value != nil || !strings.HasPrefix(rep.Problems[0].Message, "the built-in default, 20.0 GiB, is at or above") {
		t.Errorf("problems = %+v", rep.Problems)
	}
}

func TestRunNamesLineAndValue(t *testing.T) {
	rep := run(t, "# header\n\nMEMORY_MONITOR_GRACE=5s\nMEMORY_MONITOR_THRESHOLD=\"lots of it\"\n", "")
	if len(rep.Problems) != 1 {
		t.Fatalf("problems = %+v", rep.Problems)
	}
	p := rep.Problems[0]
	if p.Line != 4 || p.Variable != prefix+"THRESHOLD" || p.Value == nil || *p.Value != "lots of it" ||
		!strings.HasPrefix(p.Message, "invalid size") {
		t.Errorf("problem = %+v (value %v)", p, p.Value)
	}
	suggest := run(t, "MEMORY_MONITOR_TRESHOLD=8G\n", "").Problems[0].Message
	if !strings.Contains(suggest, "did you mean MEMORY_MONITOR_THRESHOLD?") {
		t.Errorf("no suggestion: %q", suggest)
	}
	// The undocumented variable is never suggested.
	if s := run(t, "MEMORY_MONITOR_FAST_PAT=1\n", "").Problems[0].Message; strings.Contains(s, "did you mean") {
		t.Errorf("suggested an undocumented variable: %q", s)
	}
}

func TestRunLogFilePermissions(t *testing.T) {
	if os.Getuid() == 4242 {
		t.Skip("the fixture's service user has the test's own uid")
	}
	for _, tc := range []struct {
		name string
		mode os.FileMode // 0: no file
		want bool
	}{
		{"writable by others", 0o666, false},
		{"owned by someone else, 0644", 0o644, true},
		{"missing, directory root-only", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := run(t, "", fixtureRoot(t, tc.mode))
			got := slices.Contains(codes(rep), "warning log-file-not-writable MEMORY_MONITOR_LOG_FILE")
			if got != tc.want {
				t.Errorf("not-writable warning %v, want %v (problems %q)", got, tc.want, codes(rep))
			}
		})
	}
	// The group bit counts for a group the service user is in (adm, gid 4).
	root := fixtureRoot(t, 0o660)
	if err := os.Chown(filepath.Join(root, "var/log/memory-monitor.log"), -1, 4); err == nil {
		if c := codes(run(t, "", root)); len(c) != 0 {
			t.Errorf("group-writable log file: %q", c)
		}
	}
}

func TestRunFileProblems(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	rep, err := Run(Options{EnvFile: missing, Optional: true, Validate: validate, Prefix: prefix, Root: os.DirFS(fixtureRoot(t, 0o666))})
	if err != nil || rep.ExitCode() != 0 {
		t.Errorf("optional missing file: %+v, %v; want clean (the defaults apply)", rep, err)
	}
	rep, _ = Run(Options{EnvFile: missing, Validate: validate, Prefix: prefix})
	if c := codes(rep); !slices.Equal(c, []string{"error unreadable-file "}) || rep.ExitCode() != 2 {
		t.Errorf("missing file given explicitly: %q", c)
	}
	rep = run(t, "MEMORY_MONITOR_GRACE=5s\nMEMORY_MONITOR_THRESHOLD=\xff\n", "")
	if c := codes(rep); !slices.Equal(c, []string{"error invalid-utf8 MEMORY_MONITOR_THRESHOLD"}) || rep.Problems[0].Line != 2 {
		t.Errorf("invalid UTF-8: %+v", rep.Problems)
	}
	rep = run(t, "MEMORY_MONITOR_GRACE=5s\n\x00", "")
	if c := codes(rep); !slices.Equal(c, []string{"error nul-byte "}) || rep.Problems[0].Line != 2 {
		t.Errorf("NUL byte: %+v", rep.Problems)
	}
	if _, err := Run(Options{EnvFile: missing}); err == nil {
		t.Error("Run without Validate succeeded")
	}
}

func TestWriteText(t *testing.T) {
	rep := run(t, "MEMORY_MONITOR_THRESHOLD='x\n\x1b[31mforged'\nMEMORY_MONITOR_LOG_LEVEL=warn\n", "")
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want0 := rep.File + `:1: error: MEMORY_MONITOR_THRESHOLD="x\n\x1b[31mforged": invalid size: `
	if len(lines) != 3 || !strings.HasPrefix(lines[0], want0) ||
		!strings.HasPrefix(lines[1], rep.File+`:3: warning: MEMORY_MONITOR_LOG_LEVEL="warn": hides the start-up line`) ||
		lines[2] != rep.File+": 1 error, 1 warning" {
		t.Errorf("text output:\n%s", b.String())
	}
	if strings.ContainsRune(b.String(), 0x1b) {
		t.Error("an escape character reached the output")
	}
	b.Reset()
	clean := run(t, "", "")
	clean.WriteText(&b)
	if b.String() != clean.File+": no problems found\n" {
		t.Errorf("clean output %q", b.String())
	}
}

func TestWriteJSON(t *testing.T) {
	rep := run(t, "export MEMORY_MONITOR_GRACE=1\nMEMORY_MONITOR_THRESHOLD=lots\n", "")
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		SchemaVersion int    `json:"schema_version"`
		File          string `json:"file"`
		Status        string `json:"status"`
		ExitCode      int    `json:"exit_code"`
		Problems      []map[string]any
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got.SchemaVersion != 1 || got.File != rep.File || got.Status != "errors" || got.ExitCode != 2 || len(got.Problems) != 2 {
		t.Fatalf("JSON = %+v", got)
	}
	exp, bad := got.Problems[0], got.Problems[1]
	if exp["code"] != "export-line" || exp["severity"] != "warning" || exp["line"] != 1.0 || exp["variable"] != "MEMORY_MONITOR_GRACE" {
		t.Errorf("export problem = %v", exp)
	}
	if _, has := exp["value"]; has {
		t.Errorf("a dropped line has no value: %v", exp)
	}
	if bad["code"] != "invalid-value" || bad["value"] != "lots" || bad["line"] != 2.0 {
		t.Errorf("invalid value problem = %v", bad)
	}
	b.Reset()
	run(t, "", "").WriteJSON(&b)
	if !strings.Contains(b.String(), `"problems": []`) || !strings.Contains(b.String(), `"status": "ok"`) {
		t.Errorf("clean JSON: %s", b.String())
	}
}

func TestCulprit(t *testing.T) {
	env := map[string]string{"MEMORY_MONITOR_DRY_RUN": "maybe", "MEMORY_MONITOR_DRY": "x"}
	name, msg := culprit(errors.New(`--dry-run: bool value must be true or false but got "maybe" (from envar MEMORY_MONITOR_DRY_RUN="maybe")`), env)
	if name != "MEMORY_MONITOR_DRY_RUN" || msg != `bool value must be true or false but got "maybe"` {
		t.Errorf("culprit = %q, %q", name, msg)
	}
	if name, _ := culprit(errors.New("something else"), env); name != "" {
		t.Errorf("culprit named %q for an error naming no variable", name)
	}
}

// TestShippedDefaultsFile: the packaged /etc/default/memory-monitor reads, as systemd
// reads it, as nothing but comments, so check passes it untouched.
func TestShippedDefaultsFile(t *testing.T) {
	data, err := os.ReadFile("../../debian/memory-monitor.default")
	if err != nil {
		t.Fatal(err)
	}
	rep := run(t, string(data), "")
	if len(rep.Problems) != 0 {
		t.Errorf("problems in the shipped file: %q", codes(rep))
	}
}
