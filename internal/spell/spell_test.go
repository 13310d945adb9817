package spell

import "testing"

func TestClosest(t *testing.T) {
	known := []string{"MEMORY_MONITOR_THRESHOLD", "MEMORY_MONITOR_GRACE", "MEMORY_MONITOR_WARN_THRESHOLD"}
	for in, want := range map[string]string{
		"MEMORY_MONITOR_TRESHOLD":   "MEMORY_MONITOR_THRESHOLD",
		"MEMORY_MONITOR_GRACE_":     "MEMORY_MONITOR_GRACE",
		"MEMORY_MONITOR_GARCE":      "MEMORY_MONITOR_GRACE",
		"MEMORY_MONITOR_SOMETHING":  "",
		"MEMORY_MONITOR_WARN_LIMIT": "",
	} {
		if got := Closest(in, known); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
	// A tie goes to the name that sorts first, whatever the order of the candidates.
	for _, c := range [][]string{{"AB", "AC"}, {"AC", "AB"}} {
		if got := Closest("AA", c); got != "AB" {
			t.Errorf("Closest(AA, %q) = %q, want AB", c, got)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"kitten", "sitting", 3}, {"", "abc", 3}, {"abc", "", 3}, {"same", "same", 0}, {"ab", "ba", 2},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
