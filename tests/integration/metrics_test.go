package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsFileAfterRealKill checks the node_exporter file after a real hog was stopped
// and while a reader kept copying it: every copy must parse whole.
func TestMetricsFileAfterRealKill(t *testing.T) {
	t.Parallel()
	r := scenario(t, `
start_mm `+fast+` --metrics-file="$D/mm.prom"
( i=0; while [ ! -e "$D/stop-reader" ]; do cp "$D/mm.prom" "$D/snap.$i" 2>/dev/null; i=$((i+1)); sleep 0.005; done ) &
reader=$!
hog big --size=128
hog stubborn --size=128 --ignore-term
wait_hogs
sleep 0.5
touch "$D/stop-reader"
wait $reader
stop_mm
`)
	if h := r.Hogs["big"]; h.Status != 143 {
		t.Fatalf("big hog status %d, want 143", h.Status)
	}
	if h := r.Hogs["stubborn"]; h.Status != 137 {
		t.Fatalf("stubborn hog status %d, want 137", h.Status)
	}
	fams := parseProm(t, filepath.Join(r.Dir, "mm.prom"))
	for _, tc := range []struct {
		name, label, value string
		want               float64
	}{
		{"memory_monitor_signals_sent_total", "signal", "SIGTERM", 2},
		{"memory_monitor_signals_sent_total", "signal", "SIGKILL", 1},
		{"memory_monitor_stops_total", "outcome", "exited", 1},
		{"memory_monitor_stops_total", "outcome", "killed", 1},
		{"memory_monitor_stops_total", "outcome", "failed", 0},
		{"memory_monitor_dry_run_decisions_total", "", "", 0},
		{"memory_monitor_threshold_bytes", "", "", 64 << 20},
		{"memory_monitor_build_info", "", "", 1},
	} {
		if got := sample(t, fams, tc.name, tc.label, tc.value); got != tc.want {
			t.Errorf("%s{%s=%q} = %v, want %v", tc.name, tc.label, tc.value, got, tc.want)
		}
	}
	if got := sample(t, fams, "memory_monitor_scans_total", "", ""); got < 3 {
		t.Errorf("scans_total = %v, want several", got)
	}
	if got := sample(t, fams, "memory_monitor_processes", "", ""); got < 3 {
		t.Errorf("processes = %v, want the namespace's few", got)
	}
	if got := sample(t, fams, "memory_monitor_last_scan_timestamp_seconds", "", ""); got < 1e9 {
		t.Errorf("last scan timestamp %v", got)
	}
	snaps, _ := filepath.Glob(filepath.Join(r.Dir, "snap.*"))
	if len(snaps) < 20 {
		t.Fatalf("only %d snapshots taken", len(snaps))
	}
	for _, s := range snaps {
		parseProm(t, s)
	}
	left, _ := filepath.Glob(filepath.Join(r.Dir, ".mm.prom.tmp-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func parseProm(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil || fams["memory_monitor_last_scan_timestamp_seconds"] == nil {
		t.Fatalf("%s does not parse whole: %v\n%s", path, err, b)
	}
	return fams
}

func sample(t *testing.T, fams map[string]*dto.MetricFamily, name, label, value string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no %s", name)
	}
	for _, m := range f.GetMetric() {
		if label != "" {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == label && l.GetValue() == value)
			}
			if !found {
				continue
			}
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}
