// Command hog is a controllable memory hog for the integration tests and benchmarks: it
// grows to a size at a given rate, reports what happens to it on stdout, and ends by
// itself, so a daemon that fails to kill it fails a test instead of the machine.
//
// Lines on stdout, each with a Unix time in nanoseconds:
//
//	ready <ns> <bytes>   the target size is resident
//	term <ns>            SIGTERM arrived
//	dropped <ns>         memory was given back (--drop-after)
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	sizeMiB := flag.Int("size", 128, "MiB to make resident")
	rate := flag.Float64("rate", 0, "growth in MiB/s; 0 touches everything at once")
	ignoreTerm := flag.Bool("ignore-term", false, "note SIGTERM but keep running")
	termDelay := flag.Duration("term-delay", 0, "on SIGTERM, wait this long, then exit with status 42")
	dropAfter := flag.Duration("drop-after", 0, "after reaching the size, hold this long, then free the memory")
	hold := flag.Duration("hold", 20*time.Second, "exit with status 0 after this long")
	name := flag.String("name", "", "set the process name (comm) to this, e.g. a hostile one")
	flag.Parse()

	if *name != "" {
		b := append([]byte(*name), 0)
		if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "hog: prctl:", err)
			os.Exit(3)
		}
	}

	terms := make(chan os.Signal, 4)
	signal.Notify(terms, syscall.SIGTERM)
	deadline := time.After(*hold)

	size := *sizeMiB << 20
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hog: mmap:", err)
		os.Exit(3)
	}
	page := os.Getpagesize()
	start := time.Now()
	touched := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	ready := false
	var drop <-chan time.Time
	for {
		if !ready {
			want := size
			if *rate > 0 {
				want = min(size, int(time.Since(start).Seconds()**rate*float64(1<<20)))
			}
			for ; touched < want; touched += page {
				mem[touched] = 1
			}
			if touched >= size {
				ready = true
				fmt.Printf("ready %d %d\n", time.Now().UnixNano(), size)
				if *dropAfter > 0 {
					drop = time.After(*dropAfter)
				}
			}
		}
		select {
		case <-terms:
			fmt.Printf("term %d\n", time.Now().UnixNano())
			if *ignoreTerm {
				continue
			}
			if *termDelay > 0 {
				time.Sleep(*termDelay)
				os.Exit(42)
			}
			// Die of the signal itself, as an ordinary program would.
			signal.Reset(syscall.SIGTERM)
			syscall.Kill(os.Getpid(), syscall.SIGTERM)
			time.Sleep(time.Second)
			os.Exit(4)
		case <-drop:
			if err := syscall.Munmap(mem); err != nil {
				fmt.Fprintln(os.Stderr, "hog: munmap:", err)
				os.Exit(3)
			}
			mem = nil
			fmt.Printf("dropped %d\n", time.Now().UnixNano())
			drop = nil
		case <-deadline:
			os.Exit(0)
		case <-tick.C:
		}
	}
}
