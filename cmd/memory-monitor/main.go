// Command memory-monitor watches every process's memory and stops any process that grows
// past a per-process threshold: SIGTERM first, SIGKILL after a grace period.
//
// This file only wires things together: options come in through kong, are validated by
// internal/config, and the daemon itself lives in internal/monitor.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/logging"
	"github.com/memory-monitor/memory-monitor/internal/metrics"
	"github.com/memory-monitor/memory-monitor/internal/monitor"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/protect"
	"github.com/memory-monitor/memory-monitor/internal/report"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the daemon could not run
	// Bad command line or configuration; nothing was scanned or killed. 78 is EX_CONFIG
	// (sysexits.h): distinct from 2, which the Go runtime uses for a panic or a fatal
	// signal such as the watchdog's SIGABRT, so the unit can restart after those and
	// never after a bad configuration (RestartPreventExitStatus=78).
	exitUsage = 78
)

// envPrefix starts every environment variable the daemon reads.
const envPrefix = "MEMORY_MONITOR_"

type cli struct {
	Threshold string `env:"MEMORY_MONITOR_THRESHOLD" default:"20G" placeholder:"SIZE" help:"Per-process memory limit. A plain number is GiB; suffixes K, M, G, T (base 1024); N% is a percentage of MemTotal (default: ${default})."`
	Interval  string `env:"MEMORY_MONITOR_INTERVAL" default:"60s" placeholder:"DURATION" help:"Time between full scans. A plain number is seconds; 500ms, 2m also work; at least 100ms (default: ${default})."`
	Grace     string `env:"MEMORY_MONITOR_GRACE" default:"5s" placeholder:"DURATION" help:"Time between SIGTERM and SIGKILL; 0 sends SIGKILL at once (default: ${default})."`
	DryRun    bool   `env:"MEMORY_MONITOR_DRY_RUN" help:"Log what would be done; send no signal."`
	LogFile   string `env:"MEMORY_MONITOR_LOG_FILE" default:"/var/log/memory-monitor.log" placeholder:"PATH" help:"Also log to this file, one logfmt line per event; empty disables it (default: ${default})."`
	LogLevel  string `env:"MEMORY_MONITOR_LOG_LEVEL" default:"info" placeholder:"LEVEL" help:"Least severe level logged: debug, info, warn or error (default: ${default})."`
	ProcRoot  string `hidden:"" default:"/proc" help:"Read processes from this tree instead of /proc (for tests; needs --dry-run)."`
	FastPath  bool   `hidden:"" env:"MEMORY_MONITOR_FAST_PATH" default:"true" negatable:"" help:"Check /proc/meminfo and the processes near the threshold between full scans (--no-fast-path is for benchmarks)."`

	Protect        []string `env:"MEMORY_MONITOR_PROTECT" sep:"none" placeholder:"KIND:PATTERN" help:"Never stop a matching process; repeatable. KIND is name (glob on the 15-character process name), exe (glob on the executable path), cmdline (regular expression, unanchored), user (login name or uid) or unit (glob on the systemd unit or slice, e.g. ssh.service, postgresql@*.service, system.slice). In the variable, rules are separated by white space (write \\s for a space in a regexp). Names and command lines can be chosen by any user: prefer unit, user or exe rules."`
	DefaultProtect bool     `env:"MEMORY_MONITOR_DEFAULT_PROTECT" default:"true" help:"Also protect the built-in set: the units systemd-journald, systemd-udevd, systemd-logind, dbus, dbus-broker, ssh and sshd (.service). --default-protect=false leaves them out (default: ${default})."`
	Metric         string   `env:"MEMORY_MONITOR_METRIC" default:"rss" placeholder:"METRIC" help:"What the thresholds measure: rss (resident memory), pss (proportional set size: shared pages divided among their users; read from smaps_rollup only for processes already over by RSS; needs CAP_SYS_PTRACE) or swap (RSS plus swapped-out memory) (default: ${default})."`
	Sustain        string   `env:"MEMORY_MONITOR_SUSTAIN" default:"0" placeholder:"DURATION" help:"Stop a process only once it has stayed over the threshold this long, re-checked every fifth of it (100ms to 1s) apart from the scans; a short spike is forgiven. 0 acts at once (default: ${default})."`
	MetricsFile    string   `env:"MEMORY_MONITOR_METRICS_FILE" placeholder:"PATH" help:"Write Prometheus metrics to this file (it must end in .prom) after every scan and every stop, atomically, for node_exporter's textfile collector; empty: off (default)."`
	WarnThreshold  string   `env:"MEMORY_MONITOR_WARN_THRESHOLD" default:"off" placeholder:"SIZE" help:"Log a warning once when a process grows past this size (below the threshold), and again only after it has dropped back below; off disables it (default: ${default})."`

	Version kong.VersionFlag `help:"Print the version and exit."`

	Run  runCmd  `cmd:"" default:"1" help:"Run the daemon in the foreground (the default command)."`
	List listCmd `cmd:"" help:"Print the processes nearest the threshold, and whether each is protected, then exit."`
}

type runCmd struct{}

type listCmd struct {
	Top int `short:"n" default:"20" placeholder:"N" help:"How many processes to show, largest first; 0 shows all (default: ${default})."`
}

const description = `Watch every process's memory and stop any process whose resident memory (RSS, or what
--metric names) grows past the threshold: SIGTERM first, SIGKILL after the grace period if
it is still alive. PID 1, kernel threads, zombies, processes with oom_score_adj -1000 and
the daemon itself are never signalled, nor are processes matching a --protect rule or the
built-in set. "memory-monitor list --protect=RULE" shows which processes a rule protects. Every option can also be set by the environment variable shown
beside it (the service reads them from /etc/default/memory-monitor); flags win.`

// exitPanic carries kong's exit (after --help or --version) out of the parser.
type exitPanic int

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) (code int) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("memory-monitor"),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitPanic(code)) }),
		kong.Vars{"version": versionString()},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		return exitFailure
	}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			code = int(e)
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		return exitUsage
	}

	// known maps each variable to its flag, envOf each flag to its variable.
	known, envOf, given := map[string]string{}, map[string]string{}, map[string]bool{}
	for _, f := range kctx.Flags() {
		for _, e := range f.Envs {
			known[e], envOf[f.Name] = f.Name, e
		}
	}
	for _, p := range kctx.Path {
		if p.Flag != nil {
			given[p.Flag.Name] = true
		}
	}
	name := func(flag string) string {
		if env, ok := envOf[flag]; ok && !given[flag] {
			if _, set := os.LookupEnv(env); set {
				return env
			}
		}
		return "--" + flag
	}

	r, err := proc.NewReader(c.ProcRoot)
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: --proc-root=%q: %v\n", c.ProcRoot, err)
		return exitUsage
	}
	cfg, err := config.Load(config.Raw{
		Threshold: c.Threshold,
		Interval:  c.Interval,
		Grace:     c.Grace,
		DryRun:    c.DryRun,
		LogFile:   c.LogFile,
		LogLevel:  c.LogLevel,
		ProcRoot:  c.ProcRoot,

		Protect:          protectRules(c.Protect, given["protect"]),
		NoDefaultProtect: !c.DefaultProtect,
		Metric:           c.Metric,
		Sustain:          c.Sustain,
		WarnThreshold:    c.WarnThreshold,
		MetricsFile:      c.MetricsFile,
	}, name, r.MemTotal)
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		return exitUsage
	}
	unknown := unknownEnv(known)

	switch kctx.Command() {
	case "list":
		for _, u := range unknown {
			fmt.Fprintf(stderr, "memory-monitor: warning: %s\n", u)
		}
		return list(cfg, r, c.List.Top, stdout, stderr)
	default:
		if cfg.ProcRoot != "/proc" && !cfg.DryRun {
			fmt.Fprintf(stderr, "memory-monitor: --proc-root=%q: only allowed with --dry-run (it is for tests)\n", cfg.ProcRoot)
			return exitUsage
		}
		return daemonMain(cfg, r, unknown, c.FastPath, stderr)
	}
}

func list(cfg config.Config, r *proc.Reader, top int, stdout, stderr io.Writer) int {
	s, err := proc.NewScanner(cfg.ProcRoot)
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		return exitFailure
	}
	defer s.Close()
	rules := policy.Rules{Threshold: cfg.Threshold, Self: os.Getpid(), Protect: cfg.Protect, Metric: cfg.Metric}
	rows, total, err := report.Collect(s, r, rules, top)
	if err == nil {
		err = report.Write(stdout, rows, total, cfg.Threshold, cfg.Metric)
	}
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func daemonMain(cfg config.Config, r *proc.Reader, unknown []string, fastPath bool, stderr io.Writer) int {
	// The daemon does little work, and every wakeup of another thread costs CPU when it
	// is idle: one P unless GOMAXPROCS says otherwise. Setting it also stops the runtime
	// from re-reading the CPU limits every second.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	// The scans allocate nothing, but log entries and systemd notifications do. With
	// the default GOGC the heap may grow to 4 MiB before the first collection, which
	// would add that much to the daemon's resident memory; a quarter of it is plenty.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel)
	log, file := logging.New(logging.Options{
		Level:    level,
		Journal:  logging.UseJournal(),
		Stderr:   stderr,
		FilePath: cfg.LogFile,
	})
	if file != nil {
		defer file.Close()
	}
	for _, u := range unknown {
		log.Warn(u)
	}

	scanner, err := proc.NewScanner(cfg.ProcRoot)
	if err != nil {
		log.Error("cannot start", "error", err)
		return exitFailure
	}
	defer scanner.Close()

	var mi *proc.MeminfoReader
	if fastPath {
		if mi, err = openMeminfo(cfg.ProcRoot); err != nil {
			lvl := slog.LevelWarn
			if cfg.ProcRoot != "/proc" {
				lvl = slog.LevelDebug // a fixture tree for tests need not have one
			}
			log.Log(context.Background(), lvl, "no fast path between full scans", "error", err)
		} else {
			defer mi.Close()
		}
	}

	var notify func(string)
	if os.Getenv("NOTIFY_SOCKET") != "" {
		notify = func(state string) {
			if _, err := daemon.SdNotify(false, state); err != nil {
				log.Debug("sd_notify failed", "error", err)
			}
		}
	}
	watchdog, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("ignoring the watchdog settings", "error", err)
	}

	m := monitor.New(monitor.Options{
		Config:   cfg,
		Logger:   log,
		Scanner:  scanner,
		Procs:    r,
		Opener:   kill.Pidfd{Procs: r},
		Notify:   notify,
		Watchdog: watchdog,
		Self:     os.Getpid(),
		Meminfo:  mi,

		MetricsFile: cfg.MetricsFile,
		Metrics:     newMetrics(cfg),
	})
	if err := m.SelfTest(); err != nil {
		log.Error("cannot start", "error", err)
		return exitFailure
	}

	log.Info("memory-monitor starting",
		"version", versionString(),
		"threshold", cfg.ThresholdSpec.String(),
		"threshold_bytes", cfg.Threshold,
		"interval", cfg.Interval,
		"grace", cfg.Grace,
		"dry_run", cfg.DryRun,
		"log_file", cfg.LogFile,
		"metrics_file", cfg.MetricsFile,
		"log_level", strings.ToLower(cfg.LogLevel.String()),
		"watchdog", watchdog,
		"metric", cfg.Metric.String(),
		"sustain", cfg.Sustain,
		"warn_threshold_bytes", cfg.WarnThreshold,
		"protect", protectSummary(cfg.Protect),
		"message_id", monitor.MsgStarted)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if file != nil {
					file.Reopen()
					log.Info("log file reopened", "path", file.Path())
				}
			}
		}
	}()

	if err := m.Run(ctx); err != nil {
		if !errors.Is(err, context.Canceled) {
			log.Error("stopped", "error", err)
			return exitFailure
		}
	}
	log.Info("memory-monitor stopped")
	return exitOK
}

// protectRules returns one rule per --protect flag, or, when the rules came from
// MEMORY_MONITOR_PROTECT, the variable's white-space separated list.
func protectRules(values []string, fromFlags bool) []string {
	if fromFlags {
		return values
	}
	var out []string
	for _, v := range values {
		out = append(out, protect.Split(v)...)
	}
	return out
}

// protectSummary lists the protection rules in force for the start-up line.
func protectSummary(s *protect.Set) string {
	var out []string
	for _, r := range s.Rules() {
		out = append(out, r.String())
	}
	return strings.Join(out, ", ")
}

// openMeminfo opens root/meminfo for the fast path and checks that it can be read.
func openMeminfo(root string) (*proc.MeminfoReader, error) {
	mi, err := proc.NewMeminfoReader(root)
	if err != nil {
		return nil, err
	}
	if _, err := mi.Read(); err != nil {
		mi.Close()
		return nil, err
	}
	return mi, nil
}

// unknownEnv returns a warning for each MEMORY_MONITOR_* variable that no option reads,
// with a suggestion when it looks like a typo of one that does.
func unknownEnv(known map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, envPrefix) {
			continue
		}
		if _, ok := known[k]; ok {
			continue
		}
		msg := fmt.Sprintf("unknown environment variable %s ignored", k)
		if s := closest(k, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		out = append(out, msg)
	}
	return out
}

// closest returns the known name within edit distance 3 of k, if any.
func closest(k string, known map[string]string) string {
	best, bestD := "", 4
	for name := range known {
		if d := editDistance(k, name); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// newMetrics returns the daemon's counters when a metrics file is configured, else nil
// (which counts nothing, at no cost).
func newMetrics(cfg config.Config) *metrics.Metrics {
	if cfg.MetricsFile == "" {
		return nil
	}
	return metrics.New(versionString(), cfg.Threshold, cfg.WarnThreshold)
}
