package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/memory-monitor/memory-monitor/internal/check"
	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/proc"
)

// checkMain runs `memory-monitor check`: the file's variables go through the daemon's
// own grammar and validation (validateEnv), the findings to stdout.
func checkMain(c cli, kctx *kong.Context, stdout, stderr io.Writer) int {
	var known, undocumented []string
	for _, f := range kctx.Flags() {
		for _, e := range f.Envs {
			known = append(known, e)
			if f.Hidden {
				undocumented = append(undocumented, e)
			}
		}
	}
	given := false
	for _, p := range kctx.Path {
		if p.Flag != nil && p.Flag.Name == "env-file" {
			given = true
		}
	}
	var memTotal func() (uint64, error)
	if r, err := proc.NewReader(c.ProcRoot); err == nil {
		memTotal = r.MemTotal
	}
	rep, err := check.Run(check.Options{
		EnvFile:      c.Check.EnvFile,
		Optional:     !given,
		Validate:     func(env map[string]string) (config.Config, error) { return validateEnv(env, c.ProcRoot) },
		Known:        known,
		Undocumented: undocumented,
		Prefix:       envPrefix,
		MemTotal:     memTotal,
		Root:         os.DirFS(c.Check.Root),
	})
	if err == nil {
		if c.Check.Format == "json" {
			err = rep.WriteJSON(stdout)
		} else {
			err = rep.WriteText(stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: check: %v\n", err)
		return check.ExitErrors
	}
	return rep.ExitCode()
}

// validateEnv validates env exactly as the daemon validates its environment at start:
// the same grammar, defaults and checks (loadConfig), with env in place of the
// process's own MEMORY_MONITOR_* variables while it runs.
func validateEnv(env map[string]string, procRoot string) (config.Config, error) {
	defer swapEnv(env)()
	var c cli
	parser, err := newParser(&c, io.Discard, io.Discard, "")
	if err != nil {
		return config.Config{}, err
	}
	kctx, err := parser.Parse([]string{"--proc-root=" + procRoot})
	if err != nil {
		return config.Config{}, err
	}
	cfg, _, _, err := loadConfig(&c, kctx)
	return cfg, err
}

// swapEnv replaces the process's MEMORY_MONITOR_* variables with those of env (kong
// reads the environment itself) and returns the function that puts them back.
func swapEnv(env map[string]string) (restore func()) {
	saved := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix) {
			saved[k] = v
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		if strings.HasPrefix(k, envPrefix) {
			os.Setenv(k, v)
		}
	}
	return func() {
		for k := range env {
			os.Unsetenv(k)
		}
		for k, v := range saved {
			os.Setenv(k, v)
		}
	}
}
