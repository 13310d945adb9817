package integration

import (
	"regexp"
	"strconv"
	"testing"
)

// With the default 60 s interval, a hog growing at 200 MiB/s past the threshold is caught
// by the fast path between full scans: it is sent SIGTERM long before the first interval
// scan (the hog ends by itself after 25 s), and long before it reaches its full size. The
// margins are generous on purpose; `make bench` measures the real reaction time.
func TestFastPathCatchesGrowingHogBetweenScans(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm --allow-low-threshold --threshold=128M --grace=1s
hog grower --size=1024 --rate=200 --hold=20s
wait_hogs
stop_mm
`)
	h := r.Hogs["grower"]
	if h.Status != 143 || h.Term.IsZero() {
		t.Fatalf("grower: status %d, term %v; want SIGTERM (143) well before the 60 s interval", h.Status, h.Term)
	}
	if !h.Ready.IsZero() {
		t.Errorf("grower reached its full 1 GiB before SIGTERM; the fast path should stop it near 128 MiB")
	}
	lines := Lines(r.Log, `signal=SIGTERM`, `comm=hog`)
	if len(lines) != 1 {
		t.Fatalf("want one SIGTERM entry, got %q", lines)
	}
	m := regexp.MustCompile(`rss_bytes=(\d+)`).FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("no rss_bytes in %q", lines[0])
	}
	if rss, _ := strconv.ParseUint(m[1], 10, 64); rss > 640<<20 {
		t.Errorf("SIGTERM at %d MiB RSS; want it well under 640 MiB (threshold 128 MiB)", rss>>20)
	}
}
