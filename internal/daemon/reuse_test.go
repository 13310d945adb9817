package daemon

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
)

// On a quiet machine the scans due reuse the last readings, but every process is read at
// least every tenth interval, and at once when the listing changes: a process that
// appears over the threshold is stopped at the next interval as without reuse.
func TestQuietScansReuseReadings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, config.Config{Threshold: gib, Grace: time.Second, Interval: time.Minute}, true,
			func(w *world) { w.tree.VmstatFaults(0, 0, 1); w.proc(10, 100*mib, &kill.FakeProcess{}) })
		w.at(10*time.Minute + 30*time.Second)
		w.proc(11, 2*gib, &kill.FakeProcess{})
		w.at(11*time.Minute + 30*time.Second)
		w.tree.VmstatFaults(0, 0, 1+gib/(2*mib)) // faults that could map a GiB
		w.at(13*time.Minute + 30*time.Second)
		w.stop()
		want := []string{"0s scanned 0"}
		for m := 1; m <= 9; m++ {
			want = append(want, fmt.Sprintf("%dm0s scanned 0 reused", m))
		}
		want = append(want,
			"10m0s scanned 0",         // the tenth interval reads every process
			"11m0s signal 11 SIGTERM", // a new listing
			"11m0s scanned 0",
			"11m0s outcome 11 exited",
			"12m0s scanned 0", // the faults
			"13m0s scanned 0 reused")
		expect(t, w.log(event.Scanned, event.Signal, event.Outcome), want...)
	})
}
