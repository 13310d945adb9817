// Package pkgtest checks the Debian package: the .deb built by `make deb`, the systemd
// unit, the man page and the maintainer scripts.
//
// `make package-test` builds the package (and a higher-versioned copy for the upgrade
// test), then runs these tests with MEMORY_MONITOR_PACKAGE_TEST=1, where a missing tool,
// package or root privilege is a failure. Under a plain `go test ./...` the same tests
// skip whatever they cannot run.
package pkgtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// strict is set by `make package-test`: nothing may be skipped.
var strict = os.Getenv("MEMORY_MONITOR_PACKAGE_TEST") != ""

// repoRoot is the top of the work tree (this package lives in tests/package).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// unavailable skips the test, or fails it under `make package-test`.
func unavailable(t *testing.T, why string) {
	t.Helper()
	if strict {
		t.Fatalf("%s (required by make package-test)", why)
	}
	t.Skip(why)
}

// need returns the path of a program, or skips/fails when it is not installed.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		unavailable(t, tool+" is not installed")
	}
	return p
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "needs root")
	}
}

// debFile returns the package named by an environment variable that make package-test sets.
func debFile(t *testing.T, env string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		unavailable(t, env+" is not set; run make package-test")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	return p
}

// result of a command run by run.
type result struct {
	stdout, stderr string
	err            error
}

func (r result) combined() string { return r.stdout + r.stderr }

// run runs a command with no standard input (so that any prompt fails instead of
// waiting) and returns what it printed.
func run(name string, args ...string) result {
	return runEnv(nil, name, args...)
}

func runEnv(env []string, name string, args ...string) result {
	cmd := exec.Command(name, args...)
	cmd.Stdin = nil
	if env != nil {
		cmd.Env = env
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return result{stdout: out.String(), stderr: errb.String(), err: err}
}

// mustRun fails the test when the command fails.
func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := run(name, args...)
	if r.err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), r.err, r.combined())
	}
	return r.stdout
}

// readFile fails the test when the file cannot be read.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
