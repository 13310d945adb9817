package proc

import "testing"

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Meminfo
		ok   bool
	}{
		{"full", "MemTotal:       24683656 kB\nMemFree:        23356612 kB\nMemAvailable:   24259480 kB\n" +
			"SwapTotal:       1000 kB\nSwapFree:          10 kB\nDirty: 3 kB\nAnonPages:  50 kB\nMapped: 60 kB\n",
			Meminfo{24683656 << 10, 24259480 << 10, 50 << 10, 60 << 10, 1000 << 10, 10 << 10}, true},
		{"no swap, no trailing newline", "MemTotal: 10 kB\nAnonPages: 0 kB\nMapped: 1 kB",
			Meminfo{MemTotal: 10 << 10, Mapped: 1 << 10}, true},
		{"no Mapped", "MemTotal: 10 kB\nAnonPages: 5 kB\n", Meminfo{MemTotal: 10 << 10, AnonPages: 5 << 10}, false},
		{"empty", "", Meminfo{}, false},
		{"garbage lines", "junk\n:\nMemTotal:\nAnonPages: 7 kB\nMapped: 0 kB\n", Meminfo{AnonPages: 7 << 10}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseMeminfo([]byte(tt.in))
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseMeminfo = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestMeminfoUsed(t *testing.T) {
	m := Meminfo{MemTotal: 100, MemAvailable: 30, SwapTotal: 50, SwapFree: 45}
	if m.Used() != 70 || m.SwapUsed() != 5 {
		t.Errorf("Used, SwapUsed = %d, %d; want 70, 5", m.Used(), m.SwapUsed())
	}
	// Values read a moment apart may disagree; never wrap around.
	m = Meminfo{MemTotal: 100, MemAvailable: 130, SwapTotal: 5, SwapFree: 6}
	if m.Used() != 0 || m.SwapUsed() != 0 {
		t.Errorf("Used, SwapUsed = %d, %d; want 0, 0", m.Used(), m.SwapUsed())
	}
}

func TestMeminfoReaderFixture(t *testing.T) {
	root := writeTree(t, nil)
	r, err := NewMeminfoReader(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Read(); err == nil {
		t.Error("Read of a meminfo without AnonPages succeeded")
	}
	if _, err := NewMeminfoReader(root + "/nonexistent"); err == nil {
		t.Error("NewMeminfoReader of a missing tree succeeded")
	}
}
