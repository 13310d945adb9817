package envfile

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSystemd252 compares the parser with what systemd 252 in a booted Debian 12 passed
// to a service for each file in testdata/cases (recorded by tests/e2e/envfile-check.sh
// --update into testdata/systemd252).
func TestSystemd252(t *testing.T) {
	cases, err := filepath.Glob("testdata/cases/*.env")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".env")
		t.Run(name, func(t *testing.T) {
			rec := filepath.Join("testdata/systemd252", name)
			status, err := os.ReadFile(rec + ".status")
			if err != nil {
				t.Fatalf("no recording of systemd for this case: %v (run tests/e2e/envfile-check.sh --update)", err)
			}
			sysOut, err := os.ReadFile(rec + ".out")
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, perr := Parse(data)
			if strings.TrimSpace(string(status)) != "0" {
				// systemd refused the file and did not start the command.
				if perr == nil {
					t.Errorf("systemd refused the file (status %s), Parse accepted it", bytes.TrimSpace(status))
				}
				return
			}
			if perr != nil {
				t.Fatalf("systemd read the file, Parse failed: %v", perr)
			}
			var want []string
			for _, kv := range bytes.Split(sysOut, []byte{0}) {
				if len(kv) > 0 {
					want = append(want, string(kv))
				}
			}
			var got []string
			for k, v := range f.Env() {
				if strings.HasPrefix(k, "T_") || strings.HasPrefix(k, "t_") {
					got = append(got, k+"="+v)
				}
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("Parse gives\n%q\nsystemd 252 gave\n%q", got, want)
			}

			// Every name systemd logged as invalid is one Parse drops as invalid.
			log, err := os.ReadFile(rec + ".log")
			if err != nil {
				t.Fatal(err)
			}
			var logged, dropped []string
			for _, line := range strings.Split(string(log), "\n") {
				if _, rest, ok := strings.Cut(line, "Ignoring invalid environment assignment '"); ok {
					name, _, _ := strings.Cut(rest, "=")
					logged = append(logged, name)
				}
			}
			for _, d := range f.Dropped {
				if d.Reason == ReasonInvalidName {
					dropped = append(dropped, d.Text)
				}
			}
			if !slices.Equal(dropped, logged) {
				t.Errorf("Parse drops %q as invalid names, systemd logged %q", dropped, logged)
			}
		})
	}
}
