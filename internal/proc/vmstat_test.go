package proc

import (
	"os"
	"testing"
)

func TestParseVmstat(t *testing.T) {
	in := []byte("nr_free_pages 123\npgpgin 4096\npgpgout 9\npgalloc_dma 1\npgalloc_dma32 20\npgalloc_normal 300\npgalloc_movable 0\npgfree 5\n")
	v, ok := parseVmstat(in)
	if !ok || v.PgAlloc != 321 || v.PgpgIn != 4096 {
		t.Errorf("parseVmstat = %+v, %v", v, ok)
	}
	if _, ok := parseVmstat([]byte("nr_free_pages 1\n")); ok {
		t.Error("no pgalloc lines accepted")
	}
	if v.HasFault {
		t.Errorf("no pgfault line, but HasFault: %+v", v)
	}
	v, ok = parseVmstat([]byte("pgalloc_normal 3\npgfault 77\npgmajfault 2\n"))
	if !ok || !v.HasFault || v.PgFault != 77 {
		t.Errorf("parseVmstat with pgfault = %+v, %v", v, ok)
	}
}

func TestVmstatReaderRealAndAllocs(t *testing.T) {
	if _, err := os.Stat("/proc/vmstat"); err != nil {
		t.Skip("no /proc/vmstat")
	}
	r, err := NewVmstatReader("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	_ = make([]byte, 1<<20) // allocates pages
	b, err := r.Read()
	if err != nil || b.PgAlloc < a.PgAlloc || a.PgAlloc == 0 {
		t.Errorf("reads %+v then %+v, %v", a, b, err)
	}
	if n := testing.AllocsPerRun(100, func() { r.Read() }); n != 0 {
		t.Errorf("Read allocates %v times", n)
	}
	if _, err := NewVmstatReader(t.TempDir()); err == nil {
		t.Error("missing vmstat opened")
	}
}
