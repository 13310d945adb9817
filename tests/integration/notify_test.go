package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// notifyFuncs are the shell functions of the owner's-message scenarios (after the prelude).
//
//	hog_err NAME MODE ARGS...   like hog, with the hog's standard error set by MODE:
//	    pipe    a pipe that cat copies into $D/NAME.err (the "job log")
//	    null    /dev/null
//	    closed  no file descriptor 2 at all (a python hog of 128 MiB: ARGS are ignored)
//	    full    a pipe nobody reads, filled up first
//	    pty     a pseudo-terminal (script), whose output is copied into $D/NAME.err; the
//	            terminal stays open for a second after the hog exits, as a shell would keep it
//	    ctty    the terminal the test holds on descriptor $CTTY as its controlling
//	            terminal (a session of its own, setsid --ctty) and standard input only;
//	            stderr is a file opened without O_APPEND ($D/NAME.file), which gets no line
//
// No_sessions hides logind's session files of the machine running the tests (this is a
// mount namespace of its own), so the tty channel cannot reach a real user's terminal.
const notifyFuncs = `
no_sessions() {
	if [ -d /run/systemd/sessions ]; then mount -t tmpfs -o size=1m e2e-none /run/systemd/sessions; fi
}
hog_err() {
	local name=$1 mode=$2
	shift 2
	local cmd=(timeout 30 prlimit --as=4000000000 "$HOG" "$@")
	# A terminal outlives its job in a login session (the shell holds it): without this
	# sleep script would close the terminal as the hog exits, before the outcome line.
	local KEEP='s=$?; sleep 1; exit $s'
	case $mode in
	pipe)
		( "${cmd[@]}" >"$D/$name.out" 2> >(exec cat >"$D/$name.err")
		  echo "$? $(date +%s%N)" >"$D/$name.exit" ) & ;;
	null)
		( "${cmd[@]}" >"$D/$name.out" 2>/dev/null
		  echo "$? $(date +%s%N)" >"$D/$name.exit" ) & ;;
	closed) # Go and perl open /dev/null for a closed fd 2 at start: python does not
		( timeout 30 prlimit --as=4000000000 /usr/bin/python3 -c \
			'import time; x = b"x" * (128 << 20); print("ready", time.time_ns(), flush=True); time.sleep(20)' \
			>"$D/$name.out" 2>&-
		  echo "$? $(date +%s%N)" >"$D/$name.exit" ) & ;;
	full)
		mkfifo "$D/$name.fifo"
		exec {FULLFD}<>"$D/$name.fifo"
		timeout 1 head -c 1048576 /dev/zero >&$FULLFD || true
		( "${cmd[@]}" >"$D/$name.out" 2>&$FULLFD
		  echo "$? $(date +%s%N)" >"$D/$name.exit" ) & ;;
	pty)
		( script -qefc "$(printf '%q ' "${cmd[@]}") >$D/$name.out; $KEEP" /dev/null </dev/null >"$D/$name.err"
		  echo "$? $(date +%s%N)" >"$D/$name.exit" ) & ;;
	ctty)
		( setsid --ctty --wait "${cmd[@]}" <&"$CTTY" >"$D/$name.out" 2>"$D/$name.file"
		  echo "$? $(date +%s%N)" >"$D/$name.exit" ) & ;;
	esac
	HOGS+=($!)
}
`

// notifyScenario runs script with the owner's-message functions defined.
func notifyScenario(t *testing.T, script string) Result {
	t.Helper()
	return scenario(t, notifyFuncs+script)
}

func hogErr(t *testing.T, r Result, name string) string {
	t.Helper()
	return readFile(t, filepath.Join(r.Dir, name+".err"))
}

// pidOf is the PID the daemon's log names for the hog whose stop was logged.
func pidOf(t *testing.T, log string) string {
	t.Helper()
	m := regexp.MustCompile(`msg="terminating PID (\d+) `).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no SIGTERM entry in the log")
	}
	return m[1]
}

// The default: the stopping line and the outcome line arrive in the pipe the hog's
// stderr is (a CI job log), naming the PID, the size, the limit and the signals.
func TestOwnerGetsStopAndOutcomeLinesInPipe(t *testing.T) {
	t.Parallel()
	r := notifyScenario(t, `
start_mm `+fast+`
hog_err term pipe --size=128
wait_hogs
hog_err stubborn pipe --size=128 --ignore-term
wait_hogs
sleep 0.3
stop_mm
`)
	if h := r.Hogs["term"]; h.Status != 143 {
		t.Fatalf("hog: status %d, want 143", h.Status)
	}
	if h := r.Hogs["stubborn"]; h.Status != 137 {
		t.Fatalf("stubborn hog: status %d, want 137", h.Status)
	}
	if got := Lines(r.Log, `msg="memory-monitor starting"`, `notify=stderr`); len(got) != 1 {
		t.Errorf("the start-up line does not show notify=stderr: %q", got)
	}
	for name, want := range map[string][]string{
		"term": {
			`^memory-monitor: stopping PID (\d+) \(hog\): resident memory [\d.]+ MiB is over this machine's per-process limit of 64\.0 MiB; SIGTERM now, SIGKILL in 1 s if it is still running\. See: man memory-monitor$`,
			`^memory-monitor: PID (\d+) \(hog\) exited after SIGTERM \([\d.]+ s\)\.$`,
		},
		"stubborn": {
			`^memory-monitor: stopping PID (\d+) \(hog\): resident memory [\d.]+ MiB is over this machine's per-process limit of 64\.0 MiB; SIGTERM now, SIGKILL in 1 s if it is still running\. See: man memory-monitor$`,
			`^memory-monitor: PID (\d+) \(hog\) was killed with SIGKILL \(1(\.\d)? s after the first signal\)\.$`,
		},
	} {
		out := hogErr(t, r, name)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 2 {
			t.Errorf("%s: stderr got %q; want exactly two lines", name, out)
			continue
		}
		var pids []string
		for i, re := range want {
			m := regexp.MustCompile(re).FindStringSubmatch(lines[i])
			if m == nil {
				t.Errorf("%s: line %d %q does not match %s", name, i+1, lines[i], re)
				continue
			}
			pids = append(pids, m[1])
		}
		// The PID in the lines is the one the log names (both the namespace's).
		if len(pids) == 2 && (pids[0] != pids[1] || len(Lines(r.Log, `msg="terminating PID `+pids[0]+` `)) != 1) {
			t.Errorf("%s: lines name PIDs %v, not the PID in the log", name, pids)
		}
	}
	// Each stop entry names the job: the hog's working directory and unit.
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range Lines(r.Log, `signal=SIGTERM`) {
		if !strings.Contains(e, " cwd="+cwd+" ") {
			t.Errorf("stop entry without the job's working directory: %s", e)
		}
	}
	if got := Lines(r.Log, `outcome=`, ` cwd=`+regexp.QuoteMeta(cwd)+` `); len(got) != 2 {
		t.Errorf("want both outcome entries to name the working directory, got %q", got)
	}
}

// On a pseudo-terminal the line appears on the terminal.
func TestOwnerGetsLineOnTerminal(t *testing.T) {
	t.Parallel()
	r := notifyScenario(t, `
start_mm `+fast+`
hog_err tty pty --size=128
wait_hogs
sleep 0.3
stop_mm
`)
	if h := r.Hogs["tty"]; h.Status != 143 {
		t.Fatalf("hog on a terminal: status %d, want 143", h.Status)
	}
	out := hogErr(t, r, "tty")
	pid := pidOf(t, r.Log)
	if !strings.Contains(out, "memory-monitor: stopping PID "+pid+" (hog): resident memory ") ||
		!strings.Contains(out, "memory-monitor: PID "+pid+" (hog) exited after SIGTERM") {
		t.Errorf("the terminal showed %q; want the stopping and the outcome line for PID %s", out, pid)
	}
}

// Standard error on /dev/null, closed, or a full pipe nobody reads: no message, and the
// hog is stopped as soon as without one, by the daemon's clock; the daemon does not stall
// (the next hog is stopped as quickly, and the daemon exits at once when asked).
func TestOwnerUnreachableStderrDoesNotDelayStop(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		// Go, perl and the shell's tools put /dev/null on a closed fd 2 at start.
		t.Skip("needs /usr/bin/python3 for a hog that runs with its fd 2 closed")
	}
	r := notifyScenario(t, `
start_mm `+fast+` --log-level=debug
hog_err null null --size=128
wait_hogs
hog_err closed closed
wait_hogs
hog_err full full --size=128 --ignore-term
wait_hogs
hog_err after pipe --size=128
wait_hogs
sleep 0.3
stop_mm
`)
	want := map[string]int{"null": 143, "closed": 143, "full": 137, "after": 143}
	for name, status := range want {
		h := r.Hogs[name]
		if h.Status != status {
			t.Errorf("%s: status %d, want %d", name, h.Status, status)
		}
	}
	terms := Lines(r.Log, `signal=SIGTERM`)
	kills := Lines(r.Log, `signal=SIGKILL`)
	if len(terms) != 4 || len(kills) != 1 {
		t.Fatalf("want 4 SIGTERM and 1 SIGKILL entries, got %q and %q", terms, kills)
	}
	// In the order the hogs ran, each started when the one before had ended: its SIGTERM
	// comes within a few scans of that (a hog can be stopped before it reports "ready").
	starts := Lines(r.Log, `msg="memory-monitor starting"`)
	if len(starts) != 1 {
		t.Fatalf("start-up lines %q", starts)
	}
	prev := logTime(t, starts[0])
	for i, name := range []string{"null", "closed", "full", "after"} {
		h := r.Hogs[name]
		if d := logTime(t, terms[i]).Sub(prev); d < 0 || d > 4*time.Second {
			t.Errorf("%s: SIGTERM %v after the hog before it ended; want within a few 200 ms scans", name, d)
		}
		if !h.Ready.IsZero() && logTime(t, terms[i]).Sub(h.Ready) > 3*time.Second {
			t.Errorf("%s: SIGTERM %v after the hog was ready", name, logTime(t, terms[i]).Sub(h.Ready))
		}
		prev = h.Ended
	}
	if d := logTime(t, kills[0]).Sub(logTime(t, terms[2])); d < time.Second || d > 3*time.Second {
		t.Errorf("full pipe: SIGKILL %v after SIGTERM, want the 1 s grace period", d)
	}
	if r.StopMS > 3000 || r.MMExit != 0 {
		t.Errorf("daemon took %d ms to stop, exit %d", r.StopMS, r.MMExit)
	}
	// Why nothing was said is logged at debug, once per channel and line.
	for what, reason := range map[string]string{
		"/dev/null": "standard error is not a place for a message",
		"closed":    "the process has no standard error",
		"full":      "standard error cannot take a line now",
	} {
		if got := Lines(r.Log, `level=DEBUG`, `message to the owner not delivered`, `channel=stderr`, regexp.QuoteMeta(reason)); len(got) == 0 {
			t.Errorf("%s: no debug line saying %q", what, reason)
		}
	}
	if out := hogErr(t, r, "after"); !strings.Contains(out, "memory-monitor: stopping PID") {
		t.Errorf("the hog after them got %q; want its stopping line", out)
	}
}

// A hog named with escape sequences: no raw ESC or CR reaches the pipe; the name is
// shown escaped.
func TestOwnerLineIsSanitized(t *testing.T) {
	t.Parallel()
	r := notifyScenario(t, `
start_mm `+fast+`
hog_err evil pipe --size=128 --name=$'\e[2J\e]0;x\a\rok'
wait_hogs
sleep 0.3
stop_mm
`)
	out := hogErr(t, r, "evil")
	if strings.ContainsAny(out, "\x1b\r\a") {
		t.Errorf("a raw control character reached the pipe: %q", out)
	}
	if !strings.Contains(out, `(\x1b[2J\x1b]0;x\x07\x0dok)`) || strings.Count(out, "\n") != 2 {
		t.Errorf("want two lines with the name escaped, got %q", out)
	}
}

// Dry run: one "would stop" line, however many scans see the hog over; nothing sent.
// --notify=none: nothing written at all.
func TestOwnerDryRunOnceAndNone(t *testing.T) {
	t.Parallel()
	r := notifyScenario(t, `
start_mm --allow-low-threshold --threshold=64M --interval=200ms --dry-run
hog_err dry pipe --size=128 --hold=2s
wait_hogs
stop_mm
start_mm `+fast+` --notify=none
hog_err none pipe --size=128
wait_hogs
sleep 0.3
stop_mm
`)
	if h := r.Hogs["dry"]; h.Status != 0 {
		t.Errorf("dry run: status %d, want 0 (untouched)", h.Status)
	}
	out := hogErr(t, r, "dry")
	if n := strings.Count(out, "\n"); n != 1 || !regexp.MustCompile(
		`^memory-monitor: would stop PID \d+ \(hog\): resident memory [\d.]+ MiB is over this machine's per-process limit of 64\.0 MiB \(dry run: no signal is sent\)\. See: man memory-monitor\n$`).MatchString(out) {
		t.Errorf("dry run: stderr got %q; want one would-stop line", out)
	}
	if h := r.Hogs["none"]; h.Status != 143 {
		t.Errorf("--notify=none: status %d, want 143", h.Status)
	}
	if out := hogErr(t, r, "none"); out != "" {
		t.Errorf("--notify=none: stderr got %q; want nothing", out)
	}
	if got := Lines(r.Log, `msg="memory-monitor starting"`, `notify=none`); len(got) != 1 {
		t.Errorf("the start-up line does not show notify=none: %q", got)
	}
}

// The tty channel writes the owner's terminals: here the hog's controlling terminal,
// which its standard error is not. mesg n (the terminal not group-writable) turns it off,
// and without tty in --notify nothing is written there. The test holds each terminal
// itself, as a terminal emulator or sshd would, and sets its mode as mesg y and mesg n
// do (chmod g+w, g-w), so what it sees does not depend on script(1) or mesg(1).
func TestOwnerTTYChannelWritesControllingTerminal(t *testing.T) {
	t.Parallel()
	tty := openTerminal(t, 0o620)   // mesg y
	mesgn := openTerminal(t, 0o600) // mesg n
	plain := openTerminal(t, 0o620)
	r := scenarioFiles(t, notifyFuncs+`
no_sessions
start_mm `+fast+` --notify=stderr,tty --log-level=debug
CTTY=3 hog_err tty ctty --size=128
wait_hogs
CTTY=4 hog_err mesgn ctty --size=128
wait_hogs
sleep 0.3
stop_mm
start_mm `+fast+`
CTTY=5 hog_err plain ctty --size=128
wait_hogs
sleep 0.3
stop_mm
`, []*os.File{tty.slave, mesgn.slave, plain.slave})
	shown := map[string]string{"tty": tty.output(t), "mesgn": mesgn.output(t), "plain": plain.output(t)}
	for _, name := range []string{"tty", "mesgn", "plain"} {
		if h := r.Hogs[name]; h.Status != 143 {
			t.Errorf("%s: status %d, want 143", name, h.Status)
		}
		if f := readFile(t, filepath.Join(r.Dir, name+".file")); f != "" {
			t.Errorf("%s: the file it would overwrite got %q", name, f)
		}
	}
	why := Lines(r.Log, `channel=tty`)
	out := shown["tty"]
	if strings.Count(out, "memory-monitor: stopping PID ") != 1 || strings.Count(out, ") exited after SIGTERM") != 1 {
		t.Errorf("--notify=stderr,tty: the controlling terminal %s (mode 0620) showed %q; want one stopping and one outcome line (the daemon's debug lines on the tty channel: %q)",
			tty.path, out, why)
	}
	if out := shown["mesgn"]; strings.Contains(out, "memory-monitor:") {
		t.Errorf("mesg n: the controlling terminal showed %q; want nothing", out)
	}
	if got := Lines(r.Log, `channel=tty`, `mesg n`); len(got) != 2 {
		t.Errorf("mesg n: want two debug lines saying why (the stop and the outcome), got %q", got)
	}
	if out := shown["plain"]; strings.Contains(out, "memory-monitor:") {
		t.Errorf("--notify=stderr: the controlling terminal showed %q; want nothing", out)
	}
}

// terminal is a pseudo-terminal the test holds open: the scenario gets its slave as a
// descriptor, and what is written to it is read from the master until the test is done.
type terminal struct {
	slave *os.File
	path  string
	got   chan string
}

// openTerminal opens a pseudo-terminal pair and gives the slave mode (0620 is mesg y,
// 0600 mesg n). The master is read all the while, as a terminal emulator would.
func openTerminal(t *testing.T, mode os.FileMode) *terminal {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: open /dev/ptmx: %v", err)
	}
	master := os.NewFile(uintptr(m), "/dev/ptmx")
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	tm := &terminal{path: "/dev/pts/" + strconv.Itoa(n), got: make(chan string, 1)}
	tm.slave, err = os.OpenFile(tm.path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", tm.path, err)
	}
	t.Cleanup(func() { tm.slave.Close() })
	if err := os.Chmod(tm.path, mode); err != nil {
		t.Fatalf("chmod %s: %v", tm.path, err)
	}
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			b.Write(buf[:n])
			if err != nil { // EIO once no slave is open
				tm.got <- b.String()
				return
			}
		}
	}()
	return tm
}

// output closes the test's own slave and returns all the terminal showed, once every
// other holder (the scenario's processes, the daemon) has closed it too.
func (tm *terminal) output(t *testing.T) string {
	t.Helper()
	tm.slave.Close()
	select {
	case s := <-tm.got:
		return s
	case <-time.After(10 * time.Second):
		t.Errorf("%s is still held open 10 s after the scenario ended", tm.path)
		return ""
	}
}

// A --warn-threshold crossing: one warning line, however many scans see it over.
func TestOwnerWarnLineOncePerCrossing(t *testing.T) {
	t.Parallel()
	r := notifyScenario(t, `
start_mm --allow-low-threshold --threshold=512M --warn-threshold=64M --interval=200ms
hog_err warned pipe --size=128 --hold=2s
wait_hogs
sleep 0.3
stop_mm
`)
	if h := r.Hogs["warned"]; h.Status != 0 {
		t.Errorf("status %d, want 0 (only warned)", h.Status)
	}
	out := hogErr(t, r, "warned")
	if !regexp.MustCompile(`^memory-monitor: warning: PID \d+ \(hog\): resident memory [\d.]+ MiB is over this machine's per-process warning level of 64\.0 MiB; it will be stopped at 512\.0 MiB\. See: man memory-monitor\n$`).MatchString(out) {
		t.Errorf("stderr got %q; want one warning line", out)
	}
}
