package alarm

import (
	"testing"
	"time"
)

// A timerfd never expires early, so "not before" is exact; "by" is generous, for a
// loaded machine.
const by = 10 * time.Second

func newAlarm(t *testing.T) *Alarm {
	t.Helper()
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func waitRing(t *testing.T, a *Alarm) time.Time {
	t.Helper()
	select {
	case at := <-a.C():
		return at
	case <-time.After(by):
		t.Fatalf("no ring within %s", by)
	}
	return time.Time{}
}

func noRing(t *testing.T, a *Alarm, within time.Duration) {
	t.Helper()
	select {
	case <-a.C():
		t.Fatalf("rang within %s", within)
	case <-time.After(within):
	}
}

func TestRingsOnceAfterTheDuration(t *testing.T) {
	a := newAlarm(t)
	start := time.Now()
	a.Reset(50 * time.Millisecond)
	at := waitRing(t, a)
	if d := at.Sub(start); d < 50*time.Millisecond {
		t.Errorf("rang after %s, before the 50ms it was set to", d)
	}
	noRing(t, a, 100*time.Millisecond) // one-shot
}

func TestResetReplacesTheSetting(t *testing.T) {
	a := newAlarm(t)
	a.Reset(time.Hour)
	noRing(t, a, 100*time.Millisecond)
	start := time.Now()
	a.Reset(20 * time.Millisecond)
	if d := waitRing(t, a).Sub(start); d < 20*time.Millisecond {
		t.Errorf("rang after %s, want at least 20ms", d)
	}
	a.Reset(time.Hour) // later again: the earlier, shorter setting is gone
	noRing(t, a, 100*time.Millisecond)
}

func TestResetToZeroOrLessRingsAtOnce(t *testing.T) {
	a := newAlarm(t)
	for _, d := range []time.Duration{0, -time.Second} {
		a.Reset(d)
		waitRing(t, a)
	}
}

func TestStopDisarms(t *testing.T) {
	a := newAlarm(t)
	a.Reset(30 * time.Millisecond)
	a.Stop()
	noRing(t, a, 200*time.Millisecond)
}

// Expiries nobody receives leave one ring waiting, not a backlog.
func TestRingsCoalesce(t *testing.T) {
	a := newAlarm(t)
	for range 3 {
		a.Reset(time.Millisecond)
		time.Sleep(20 * time.Millisecond)
	}
	deadline := time.Now().Add(by)
	for len(a.c) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	waitRing(t, a)
	noRing(t, a, 50*time.Millisecond)
}

// A closed alarm rings on Reset instead of never: the loop that uses it looks at its
// deadlines rather than wait forever.
func TestClosedAlarmRingsOnReset(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.Reset(time.Hour)
	select {
	case <-a.C():
	default:
		t.Fatal("Reset on a closed alarm did not ring")
	}
}

// Arming and ringing allocate nothing: the loop does it every second.
func TestResetAndRingAllocateNothing(t *testing.T) {
	a := newAlarm(t)
	if n := testing.AllocsPerRun(20, func() {
		a.Reset(time.Microsecond)
		<-a.C()
	}); n != 0 {
		t.Errorf("%v allocations per Reset and ring", n)
	}
}
