// Package integration runs the real memory-monitor binary against real memory hogs.
//
// Every scenario runs inside its own PID namespace (unshare --pid --fork --mount-proc), so
// the daemon, even with a threshold of a few MiB, can only see and signal the processes
// the scenario made. Every hog is bounded by timeout and prlimit. The tests need root and
// skip cleanly without it.
package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// prelude defines the shell functions scenarios are written with. It runs as PID 1 of a
// new PID namespace with its own /proc.
//
//	start_mm ARGS...   start the daemon (log file $D/mm.log, stderr $D/stderr) and wait
//	                   until its first scan has been done
//	hog NAME ARGS...   start a bounded hog in the background; its stdout goes to
//	                   $D/NAME.out, and "STATUS NANOS" to $D/NAME.exit when it ends
//	wait_hogs          wait for every hog
//	stop_mm [SIG]      stop the daemon (SIGTERM by default); its status goes to $D/mm.exit
//	                   and the time it took, in ms, to $D/mm.stopms
const prelude = `
set -u
D=$1
MMPID=
HOGS=()
start_mm() {
	"$MM" --log-file="$D/mm.log" "$@" 2>"$D/stderr" &
	MMPID=$!
	for _ in $(seq 200); do
		grep -q 'memory-monitor starting' "$D/stderr" 2>/dev/null && break
		sleep 0.05
	done
	sleep 0.3
}
hog() {
	local name=$1
	shift
	( timeout 30 prlimit --as=4000000000 "$HOG" "$@" >"$D/$name.out" 2>"$D/$name.err"
	  echo "$? $(date +%s%N)" >"$D/$name.exit" ) &
	HOGS+=($!)
}
wait_hogs() {
	[ ${#HOGS[@]} -eq 0 ] || wait "${HOGS[@]}"
	HOGS=()
}
stop_mm() {
	local t0=$(date +%s%N)
	kill -"${1:-TERM}" "$MMPID"
	wait "$MMPID"
	echo $? >"$D/mm.exit"
	echo $(( ($(date +%s%N) - t0) / 1000000 )) >"$D/mm.stopms"
}
`

type binaries struct {
	mm, hog string
	err     error
}

var (
	buildOnce sync.Once
	built     binaries
)

// setup skips the test unless it can run confined, and builds the daemon and the hog once.
func setup(t *testing.T) binaries {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the daemon runs in its own PID namespace")
	}
	for _, tool := range []string{"unshare", "prlimit", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mm-integration-")
		if err != nil {
			built.err = err
			return
		}
		built.mm = filepath.Join(dir, "memory-monitor")
		built.hog = filepath.Join(dir, "hog")
		for out, pkg := range map[string]string{built.mm: "../../cmd/memory-monitor", built.hog: "../hog"} {
			cmd := exec.Command("go", "build", "-buildvcs=false", "-o", out, pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				built.err = fmt.Errorf("build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built
}

// Hog is what happened to one hog.
type Hog struct {
	Status  int       // exit status as the shell saw it: 143 SIGTERM, 137 SIGKILL
	Ended   time.Time // when the shell saw it end
	Ready   time.Time // when it had reached its size
	Term    time.Time // when it saw SIGTERM (zero if never)
	Dropped time.Time
}

// Result is what a scenario left behind.
type Result struct {
	Dir    string
	Log    string // the log file
	Stderr string // the daemon's stderr (text handler: not under journald)
	Hogs   map[string]Hog
	MMExit int
	StopMS int
}

// scenario runs script (bash, using the prelude's functions) in a new PID namespace.
func scenario(t *testing.T, script string) Result {
	t.Helper()
	return scenarioFiles(t, script, nil)
}

// scenarioFiles is scenario with files the script inherits as descriptors 3, 4, ...
func scenarioFiles(t *testing.T, script string, files []*os.File) Result {
	t.Helper()
	b := setup(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "scenario.sh")
	if err := os.WriteFile(path, []byte(prelude+script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("timeout", "120", "unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
		"bash", path, dir)
	cmd.Env = append(os.Environ(), "MM="+b.mm, "HOG="+b.hog)
	cmd.ExtraFiles = files
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scenario failed: %v\n%s", err, out)
	}
	r := Result{Dir: dir, Hogs: map[string]Hog{}, MMExit: -1, StopMS: -1}
	r.Log = readFile(t, filepath.Join(dir, "mm.log"))
	r.Stderr = readFile(t, filepath.Join(dir, "stderr"))
	if s := strings.TrimSpace(readFile(t, filepath.Join(dir, "mm.exit"))); s != "" {
		r.MMExit, _ = strconv.Atoi(s)
	}
	if s := strings.TrimSpace(readFile(t, filepath.Join(dir, "mm.stopms"))); s != "" {
		r.StopMS, _ = strconv.Atoi(s)
	}
	exits, _ := filepath.Glob(filepath.Join(dir, "*.exit"))
	for _, e := range exits {
		name := strings.TrimSuffix(filepath.Base(e), ".exit")
		if name == "mm" {
			continue
		}
		var h Hog
		var ns int64
		if _, err := fmt.Sscan(readFile(t, e), &h.Status, &ns); err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		h.Ended = time.Unix(0, ns)
		sc := bufio.NewScanner(strings.NewReader(readFile(t, filepath.Join(dir, name+".out"))))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "ready":
				h.Ready = time.Unix(0, ns)
			case "term":
				h.Term = time.Unix(0, ns)
			case "dropped":
				h.Dropped = time.Unix(0, ns)
			}
		}
		r.Hogs[name] = h
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s\ndaemon stderr:\n%s", r.Log, r.Stderr)
		}
	})
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// Lines returns the log lines matching every pattern.
func Lines(log string, patterns ...string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		ok := l != ""
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(l) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// logTime returns the time= field of a log line.
func logTime(t *testing.T, line string) time.Time {
	t.Helper()
	f, _, _ := strings.Cut(line, " ")
	ts, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f, "time="))
	if err != nil {
		t.Fatalf("no time in %q: %v", line, err)
	}
	return ts
}
