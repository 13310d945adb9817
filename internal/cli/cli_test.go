package cli

import "testing"

func TestEditDistanceAndClosest(t *testing.T) {
	known := map[string]string{"MEMORY_MONITOR_THRESHOLD": "threshold", "MEMORY_MONITOR_GRACE": "grace"}
	for in, want := range map[string]string{
		"MEMORY_MONITOR_TRESHOLD":  "MEMORY_MONITOR_THRESHOLD",
		"MEMORY_MONITOR_GRACE_":    "MEMORY_MONITOR_GRACE",
		"MEMORY_MONITOR_SOMETHING": "",
	} {
		if got := closest(in, known); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance = %d", d)
	}
}
