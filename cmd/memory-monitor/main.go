// Command memory-monitor watches every process's memory and stops any process that grows
// past a per-process threshold: SIGTERM first, SIGKILL after a grace period.
package main

import (
	"os"

	"github.com/memory-monitor/memory-monitor/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, version))
}
