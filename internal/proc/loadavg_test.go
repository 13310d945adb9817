package proc

import (
	"os"
	"os/exec"
	"testing"
)

func TestParseLastPID(t *testing.T) {
	for in, want := range map[string]int{
		"0.00 0.01 0.05 1/123 4567\n":       4567,
		"12.50 9.99 3.01 30/2001 4194303\n": 4194303,
	} {
		if got, ok := parseLastPID([]byte(in)); !ok || got != want {
			t.Errorf("parseLastPID(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "0.00 0.01 0.05 1/123\n", "0.00 0.01 0.05 1/123 x\n"} {
		if _, ok := parseLastPID([]byte(in)); ok {
			t.Errorf("parseLastPID(%q) accepted", in)
		}
	}
}

// A new process changes the last PID; reading it allocates nothing.
func TestLoadavgReaderReal(t *testing.T) {
	if _, err := os.Stat("/proc/loadavg"); err != nil {
		t.Skip("no /proc/loadavg")
	}
	r, err := NewLoadavgReader("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before, err := r.LastPID()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run /bin/true:", err)
	}
	after, err := r.LastPID()
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Errorf("last PID %d unchanged after starting PID %d", after, cmd.Process.Pid)
	}
	if n := testing.AllocsPerRun(10, func() { r.LastPID() }); n != 0 {
		t.Errorf("LastPID allocates %v times", n)
	}
}
