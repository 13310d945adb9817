package metrics

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parse reads an exposition with the official parser, failing on anything it rejects.
func parse(t *testing.T, data []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the parser rejects the output: %v\n%s", err, data)
	}
	return fams
}

// value returns the value of the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no family %s", name)
	}
	for _, m := range f.GetMetric() {
		ok := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no sample of %s with %v", name, want)
	return 0
}

func TestFormatParsesAndCounts(t *testing.T) {
	m := New("1.2.3", 20<<30, 16<<30)
	at := time.Unix(1_700_000_000, 500_000_000)
	m.Scanned(3*time.Millisecond, 812, 5<<30, at)
	m.Scanned(30*time.Millisecond, 815, 6<<30, at.Add(time.Minute))
	m.Reused(at.Add(2 * time.Minute)) // complete, not measured: not in the histogram
	m.ScanFailed()
	m.Signal("SIGTERM")
	m.Signal("SIGTERM")
	m.Signal("SIGKILL")
	m.Stopped("exited")
	m.Stopped("killed")
	m.Spared("pid 1")
	m.Spared(`name:evil"\` + "\n")
	m.DryRun()
	m.Warned()

	fams := parse(t, m.Format())
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"memory_monitor_build_info", map[string]string{"version": "1.2.3"}, 1},
		{"memory_monitor_threshold_bytes", nil, 20 << 30},
		{"memory_monitor_warn_threshold_bytes", nil, 16 << 30},
		{"memory_monitor_signals_sent_total", map[string]string{"signal": "SIGTERM"}, 2},
		{"memory_monitor_signals_sent_total", map[string]string{"signal": "SIGKILL"}, 1},
		{"memory_monitor_stops_total", map[string]string{"outcome": "exited"}, 1},
		{"memory_monitor_stops_total", map[string]string{"outcome": "killed"}, 1},
		{"memory_monitor_stops_total", map[string]string{"outcome": "failed"}, 0},
		{"memory_monitor_spared_total", map[string]string{"reason": "pid 1"}, 1},
		{"memory_monitor_spared_total", map[string]string{"reason": `name:evil"\` + "\n"}, 1},
		{"memory_monitor_dry_run_decisions_total", nil, 1},
		{"memory_monitor_warnings_total", nil, 1},
		{"memory_monitor_scans_total", nil, 3},
		{"memory_monitor_scans_reused_total", nil, 1},
		{"memory_monitor_scan_errors_total", nil, 1},
		{"memory_monitor_scan_duration_seconds", nil, 2},
		{"memory_monitor_processes", nil, 815},
		{"memory_monitor_largest_process_bytes", nil, 6 << 30},
		{"memory_monitor_last_scan_timestamp_seconds", nil, 1_700_000_120.5},
	} {
		if got := value(t, fams, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	h := fams["memory_monitor_scan_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleSum() < 0.032 || h.GetSampleSum() > 0.034 {
		t.Errorf("scan duration sum %v, want 0.033", h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		want := uint64(0)
		switch {
		case b.GetUpperBound() >= 0.03:
			want = 2
		case b.GetUpperBound() >= 0.003:
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	for name, f := range fams {
		if !strings.HasPrefix(name, "memory_monitor_") || f.GetHelp() == "" {
			t.Errorf("family %s: want the memory_monitor_ prefix and help text", name)
		}
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.Signal("SIGTERM")
	m.Scanned(time.Second, 1, 1, time.Now())
	m.ScanFailed()
	if err := m.WriteFile(filepath.Join(t.TempDir(), "x.prom")); err != nil {
		t.Error(err)
	}
}

func TestWriteFileIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "memory-monitor.prom")
	m := New("v", 1<<30, 0)
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("stat: %v %v; want mode 0644 (node_exporter runs as another user)", fi, err)
	}
	// A reader polling while the writer rewrites the file must only ever see whole,
	// parseable expositions.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m.Signal("SIGTERM")
			m.Scanned(time.Millisecond, i, uint64(i), time.Now())
			if err := m.WriteFile(path); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 300 {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fams := parse(t, data)
		if fams["memory_monitor_last_scan_timestamp_seconds"] == nil {
			t.Fatalf("a truncated file was seen:\n%s", data)
		}
	}
	close(stop)
	wg.Wait()
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 1 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestWriteFileReportsErrors(t *testing.T) {
	m := New("v", 1, 0)
	err := m.WriteFile("/nonexistent/dir/x.prom")
	if err == nil || !strings.Contains(err.Error(), "write metrics /nonexistent/dir/x.prom") {
		t.Errorf("err = %v", err)
	}
}
