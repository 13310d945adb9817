// Package cli is the command line of memory-monitor: the kong grammar, the naming of
// options after the flag or the environment variable that set them, the warnings about
// unknown variables, and the wiring of the daemon's parts (sampler, loop, sinks) from a
// validated configuration.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/alecthomas/kong"
	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/alarm"
	"github.com/memory-monitor/memory-monitor/internal/config"
	loopd "github.com/memory-monitor/memory-monitor/internal/daemon"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/kill"
	"github.com/memory-monitor/memory-monitor/internal/policy"
	"github.com/memory-monitor/memory-monitor/internal/proc"
	"github.com/memory-monitor/memory-monitor/internal/protect"
	"github.com/memory-monitor/memory-monitor/internal/report"
	"github.com/memory-monitor/memory-monitor/internal/sampler"
	"github.com/memory-monitor/memory-monitor/internal/sink"
	"github.com/memory-monitor/memory-monitor/internal/spell"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the daemon could not run
	// exitConfig is EX_CONFIG from sysexits.h: a bad command line or configuration;
	// nothing was scanned or killed. It differs from the 2 a Go program exits with on a
	// crash, so that the unit can restart after a crash and not after a typo.
	exitConfig = 78
	// checkErrors is what `check` exits with when it finds errors, its own usage included.
	checkErrors = 2
)

// envPrefix starts every environment variable the daemon reads.
const envPrefix = "MEMORY_MONITOR_"

type cli struct {
	Threshold string `env:"MEMORY_MONITOR_THRESHOLD" default:"20G" placeholder:"SIZE" help:"Per-process memory limit. A plain number is GiB; suffixes K, M, G, T (base 1024); N% is a percentage of MemTotal (default: ${default})."`
	Interval  string `env:"MEMORY_MONITOR_INTERVAL" default:"60s" placeholder:"DURATION" help:"Time between full scans. A plain number is seconds; 500ms, 2m also work; at least 100ms (default: ${default})."`
	Grace     string `env:"MEMORY_MONITOR_GRACE" default:"5s" placeholder:"DURATION" help:"Time between SIGTERM and SIGKILL; 0 sends SIGKILL at once (default: ${default})."`
	DryRun    bool   `env:"MEMORY_MONITOR_DRY_RUN" default:"false" help:"Log what would be done; send no signal (default: ${default})."`
	LogFile   string `env:"MEMORY_MONITOR_LOG_FILE" default:"/var/log/memory-monitor.log" placeholder:"PATH" help:"Also log to this file, one logfmt line per event; empty disables it (default: ${default})."`
	LogLevel  string `env:"MEMORY_MONITOR_LOG_LEVEL" default:"info" placeholder:"LEVEL" help:"Least severe level logged: debug, info, warn or error (default: ${default})."`
	ProcRoot  string `hidden:"" default:"/proc" help:"Read processes from this tree instead of /proc (for tests; needs --dry-run)."`
	FastPath  bool   `hidden:"" env:"MEMORY_MONITOR_FAST_PATH" default:"true" negatable:"" help:"Check /proc/meminfo and the processes near the threshold between full scans (--no-fast-path is for benchmarks)."`

	Protect        []string `env:"MEMORY_MONITOR_PROTECT" sep:"none" placeholder:"KIND:PATTERN" help:"Never stop a matching process; repeatable. KIND is name (glob on the 15-character process name), exe (glob on the executable path), cmdline (regular expression, unanchored), user (login name or uid) or unit (glob on the systemd unit or slice, e.g. ssh.service, postgresql@*.service, system.slice). In the variable, rules are separated by white space (write \\s for a space in a regexp). Names and command lines can be chosen by any user, and so can the program run: an exe rule protects every user's copy of that program (and counts only if the path, as the host sees it, is the file the process runs). Prefer unit or user rules."`
	DefaultProtect bool     `env:"MEMORY_MONITOR_DEFAULT_PROTECT" default:"true" help:"Also protect the built-in set: the units systemd-journald, systemd-udevd, systemd-logind, dbus, dbus-broker, ssh and sshd (.service). --default-protect=false leaves them out (default: ${default})."`
	Metric         string   `env:"MEMORY_MONITOR_METRIC" default:"rss" placeholder:"METRIC" help:"What the thresholds measure: rss (resident memory), pss (proportional set size: shared pages divided among their users; read from smaps_rollup only for processes already over by RSS; needs CAP_SYS_PTRACE) or swap (RSS plus swapped-out memory) (default: ${default})."`
	Sustain        string   `env:"MEMORY_MONITOR_SUSTAIN" default:"0" placeholder:"DURATION" help:"Stop a process only once it has stayed over the threshold this long, re-checked every fifth of it (100ms to 1s) apart from the scans; a short spike is forgiven. 0 acts at once (default: ${default})."`
	MetricsFile    string   `env:"MEMORY_MONITOR_METRICS_FILE" placeholder:"PATH" help:"Write Prometheus metrics to this file (it must end in .prom) after every scan and every stop, atomically, for node_exporter's textfile collector; empty: off (default)."`
	AllowLow       bool     `name:"allow-low-threshold" env:"MEMORY_MONITOR_ALLOW_LOW_THRESHOLD" help:"Accept a --threshold or --warn-threshold below 256M, which would stop ordinary processes (refused otherwise, as a likely typo such as 20MB for 20GB)."`
	Notify         string   `env:"MEMORY_MONITOR_NOTIFY" default:"stderr" placeholder:"CHANNELS" help:"Tell the owner of a process being stopped (or warned about, or in dry run what would happen): stderr writes one line to the process's own standard error as the first signal is sent and one with the outcome; tty also to the terminals of the owner's login sessions that allow messages (mesg y). Comma-separated; none turns it off (default: ${default})."`
	WarnThreshold  string   `env:"MEMORY_MONITOR_WARN_THRESHOLD" default:"off" placeholder:"SIZE" help:"Log a warning once when a process grows past this size (below the threshold), and again only after it has dropped back below; off disables it (default: ${default})."`

	Budget     []string `env:"MEMORY_MONITOR_BUDGET" sep:"none" placeholder:"KIND:PATTERN=SIZE" help:"Memory budget of a group of processes; repeatable. user:PATTERN=SIZE is each matching login user's total (PATTERN: login name, uid or glob; user:* is every user with a uid from UID_MIN to UID_MAX of /etc/login.defs, never root or system users); unit:GLOB=SIZE each matching systemd unit, scope or slice (e.g. unit:gitlab-runner.service=48G). SIZE is read as the threshold is. A group over its budget has its largest unprotected process stopped, one at a time, measured again before the next. A named user or unit beats a glob, a glob beats user:*. In the variable, budgets are separated by white space. Off by default."`
	CgroupRoot string   `hidden:"" default:"/sys/fs/cgroup" help:"Measure budgets in this cgroup v2 tree instead of /sys/fs/cgroup (for tests; needs --dry-run)."`

	Version kong.VersionFlag `help:"Print the version and exit."`

	Run   runCmd   `cmd:"" default:"1" help:"Run the daemon in the foreground (the default command)."`
	List  listCmd  `cmd:"" help:"Print the processes nearest the threshold, and whether each is protected, then exit."`
	Check checkCmd `cmd:"" help:"Check an environment file (by default the service's) as the daemon would read it, then exit: 0 no problems, 1 warnings only, 2 errors."`
	// reload.go
	Reload reloadCmd `cmd:"" help:"Apply the MEMORY_MONITOR_* variables of the environment to the running daemon (the service's ExecReload=, run by systemctl reload with /etc/default/memory-monitor freshly read): validated as at start, then in force when it returns. Exit 0 applied, 2 refused (the daemon keeps its settings), 1 no answer."`
}

type runCmd struct{}

type checkCmd struct {
	EnvFile string `name:"env-file" default:"/etc/default/memory-monitor" placeholder:"PATH" help:"The file to check, read as systemd reads an EnvironmentFile= (default: ${default})."`
	Format  string `enum:"text,json" default:"text" placeholder:"FORMAT" help:"text (one line per problem) or json (for configuration-management tools) (default: ${default})."`
	Root    string `hidden:"" default:"/" help:"Look up the service user and the log file's permissions in this tree instead of / (for tests)."`
}

type listCmd struct {
	Top     int  `short:"n" default:"20" placeholder:"N" help:"How many processes to show, largest first; 0 shows all (default: ${default})."`
	Budgets bool `help:"Show each --budget group instead: its total, how it was measured, its budget and its largest members (-n of them)."`
}

const description = `Watch every process's memory and stop any process whose resident memory (RSS, or what
--metric names) grows past the threshold: SIGTERM first, SIGKILL after the grace period if
it is still alive. PID 1, kernel threads, zombies, processes with oom_score_adj -1000 and
the daemon itself are never signalled, nor are processes matching a --protect rule or the
built-in set. "memory-monitor list --protect=RULE" shows which processes a rule protects. Every option can also be set by the environment variable shown
beside it (the service reads them from /etc/default/memory-monitor); flags win.`

// exitPanic carries kong's exit (after --help or --version) out of the parser.
type exitPanic int

// Main runs the command with args (without the program name) and returns the exit
// status. version is the program's version ("" when not set at build time).
func Main(args []string, stdout, stderr io.Writer, version string) (code int) {
	var c cli
	parser, err := newParser(&c, stdout, stderr, version)
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
		fmt.Fprintf(stderr, "memory-monitor: %s\n", reword(err.Error())) // wording.go
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil && (strings.HasPrefix(pe.Context.Command(), "check") || strings.HasPrefix(pe.Context.Command(), "reload")) {
			return checkErrors // check's own statuses: 2 is "errors"
		}
		return exitConfig
	}

	if kctx.Command() == "check" {
		return checkMain(c, kctx, stdout, stderr)
	}
	if kctx.Command() == "reload" {
		return reloadMain(c, kctx, stderr)
	}
	cfg, r, known, err := loadConfig(&c, kctx)
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		return exitConfig
	}
	unknown := unknownEnv(known)

	switch kctx.Command() {
	case "list":
		for _, u := range unknown {
			fmt.Fprintf(stderr, "memory-monitor: warning: %s\n", u)
		}
		if c.List.Budgets {
			return listBudgets(cfg, r, c.List.Top, stdout, stderr)
		}
		return list(cfg, r, c.List.Top, stdout, stderr)
	default:
		if cfg.ProcRoot != "/proc" && !cfg.DryRun {
			fmt.Fprintf(stderr, "memory-monitor: --proc-root=%q: only allowed with --dry-run (it is for tests)\n", cfg.ProcRoot)
			return exitConfig
		}
		if cfg.CgroupRoot != config.DefaultCgroupRoot && !cfg.DryRun {
			fmt.Fprintf(stderr, "memory-monitor: --cgroup-root=%q: only allowed with --dry-run (it is for tests)\n", cfg.CgroupRoot)
			return exitConfig
		}
		return daemonMain(cfg, unknown, c.FastPath, stderr, versionString(version), args)
	}
}

// loadConfig validates the options kong parsed (flags, then the environment, then the
// defaults) into the daemon's configuration. Both the daemon at start and `check` use
// it, so a file that check passes is one the daemon accepts. known maps each variable
// the grammar reads to its flag.
func loadConfig(c *cli, kctx *kong.Context) (cfg config.Config, r *proc.Reader, known map[string]string, err error) {
	// known maps each variable to its flag, envOf each flag to its variable.
	known = map[string]string{}
	envOf, given := map[string]string{}, map[string]bool{}
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

	r, err = proc.NewReader(c.ProcRoot)
	if err != nil {
		return config.Config{}, nil, nil, fmt.Errorf("--proc-root=%q: %w", c.ProcRoot, err)
	}
	cfg, err = config.Load(config.Raw{
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

		AllowLowThreshold: c.AllowLow,
		Budget:            budgetSpecs(c.Budget, given["budget"]),
		CgroupRoot:        c.CgroupRoot,
		Notify:            c.Notify,
	}, name, r.MemTotal)
	return cfg, r, known, rawValue(err)
}

// rawValue puts back, into a configuration error, the value as it was given: kong turns
// invalid UTF-8 into U+FFFD while parsing, and the error should show the bytes that are
// really in the file or on the command line (as \xff).
func rawValue(err error) error {
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.ContainsRune(ce.Value, utf8.RuneError) {
		return err
	}
	if strings.HasPrefix(ce.Option, "--") {
		for _, a := range os.Args[1:] {
			if v, ok := strings.CutPrefix(a, ce.Option+"="); ok {
				ce.Value = v
			}
		}
	} else if v, ok := os.LookupEnv(ce.Option); ok {
		ce.Value = v
	}
	return err
}

// newParser builds the command-line grammar around c.
func newParser(c *cli, stdout, stderr io.Writer, version string) (*kong.Kong, error) {
	return kong.New(c,
		kong.Name("memory-monitor"),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitPanic(code)) }),
		kong.Vars{"version": versionString(version)},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Help(printHelp), // wording.go
	)
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

func daemonMain(cfg config.Config, unknown []string, fastPath bool, stderr io.Writer, version string, args []string) int {
	// A log collector that went away must not end the daemon: with SIGPIPE ignored, a
	// write to a broken stderr fails with EPIPE and the other sinks carry on.
	signal.Ignore(syscall.SIGPIPE)
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
	logs := newLiveLog(cfg, stderr) // reload.go: a reload changes level and file
	defer logs.close()
	log := logs.Logger
	for _, u := range unknown {
		log.Warn(u)
	}

	self := os.Getpid()
	rules := policy.Rules{Threshold: cfg.Threshold, Self: self, Protect: cfg.Protect, Metric: cfg.Metric}
	var opener kill.Opener = kill.Pidfd{}
	if cfg.ProcRoot != "/proc" {
		opener = kill.Inert{} // a fixture's PIDs are not the processes they describe
	}
	smp, err := sampler.New(cfg.ProcRoot, sampler.Options{
		Rules: rules, Warn: cfg.WarnThreshold, Opener: opener, FastPath: fastPath,
		Budgets: cfg.Budgets, CgroupRoot: cfg.CgroupRoot,
	})
	if err != nil && fastPath {
		lvl := slog.LevelWarn
		if cfg.ProcRoot != "/proc" {
			lvl = slog.LevelDebug // a fixture tree for tests need not have meminfo
		}
		log.Log(context.Background(), lvl, "no fast path between full scans", "error", err)
		smp, err = sampler.New(cfg.ProcRoot, sampler.Options{Rules: rules, Warn: cfg.WarnThreshold, Opener: opener,
			Budgets: cfg.Budgets, CgroupRoot: cfg.CgroupRoot})
	}
	if err != nil {
		log.Error("cannot start", "error", err)
		return exitFailure
	}
	defer smp.Close()
	if err := selfTest(smp.Scanner(), self, cfg.DryRun); err != nil {
		log.Error("cannot start", "error", err)
		return exitFailure
	}
	waiter, err := kill.NewEpoll()
	if err != nil {
		log.Error("cannot start", "error", err)
		return exitFailure
	}
	defer waiter.Close()

	var notify func(string)
	var status *sink.Status
	if os.Getenv("NOTIFY_SOCKET") != "" {
		notify = func(state string) {
			if _, err := daemon.SdNotify(false, state); err != nil {
				log.Debug("sd_notify failed", "error", err)
			}
		}
		status = &sink.Status{Threshold: cfg.Threshold, DryRun: cfg.DryRun}
	}
	watchdog, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("ignoring the watchdog settings", "error", err)
	}
	sinks := event.Sinks{sink.Log{L: log}}
	met := newLiveMetrics(version, cfg, log) // reload.go: a reload may set the file
	defer met.close()
	sinks = append(sinks, met)
	// Always in place, so that a reload can turn the owner's message on (SetChannels).
	owner := sink.NewOwner(cfg.Notify, cfg.ProcRoot, log)
	defer owner.Close()
	sinks = append(sinks, owner)

	// Each stop in flight holds descriptors, and each process looked at closely a pidfd.
	nofile, _, err := proc.RaiseFileLimit()
	if err != nil {
		log.Warn("cannot raise the open files limit", "error", err)
	}
	warnSettings(log, cfg, smp.Reader())
	log.Info("memory-monitor starting",
		"version", version,
		"threshold", cfg.ThresholdSpec.String(),
		"threshold_bytes", cfg.Threshold,
		"interval", cfg.Interval,
		"grace", cfg.Grace,
		"dry_run", cfg.DryRun,
		"log_file", cfg.LogFile,
		"metrics_file", cfg.MetricsFile,
		"notify", cfg.Notify.String(),
		"log_level", strings.ToLower(cfg.LogLevel.String()),
		"watchdog", watchdog,
		"metric", cfg.Metric.String(),
		"sustain", cfg.Sustain,
		"warn_threshold_bytes", cfg.WarnThreshold,
		"protect", protectSummary(cfg.Protect),
		"budgets", budgetSummary(cfg.Budgets),
		"fast_path", smp.FastPath(),
		"open_files_limit", nofile,
		"allow_low_threshold", cfg.AllowLowThreshold,
		"message_id", sink.MsgStarted)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// The loop wakes every second or so; a timerfd wakes one thread where a Go timer
	// wakes three (see package alarm). Without one, the Go timer does the same job.
	var timer loopd.Timer
	if a, err := alarm.New(); err == nil {
		defer a.Close()
		timer = a
	} else {
		log.Debug("no timerfd: the loop uses a Go timer", "error", err)
	}
	loop := loopd.New(loopd.Options{
		Timer:    timer,
		Config:   cfg,
		Sampler:  smp,
		Waiter:   waiter,
		Sink:     sinks,
		Status:   status,
		Log:      log,
		Notify:   notify,
		Watchdog: watchdog,
		Hup:      hup,
		Reopen:   logs.reopen,
		Reconfigure: func(old, new config.Config) {
			logs.reconfigure(old, new)
			met.reconfigure(old, new)
			owner.SetChannels(new.Notify)
			warnSettings(log, new, smp.Reader())
		},
	})
	defer serveControl(ctx, log, args, loop.Apply)() // reload.go
	if err := loop.Run(ctx); err != nil {
		log.Error("stopped", "error", err)
		return exitFailure
	}
	log.Info("memory-monitor stopped")
	return exitOK
}

// warnSettings logs the settings that cannot work as they read (config.Warnings): at
// start, and after each reload, since a reload is how most settings change.
func warnSettings(log *slog.Logger, cfg config.Config, r *proc.Reader) {
	total, err := r.MemTotal()
	if err != nil {
		return
	}
	swap, _ := r.SwapTotal()
	for _, w := range config.Warnings(cfg, total, swap) {
		log.Warn(w)
	}
}

// selfTest checks, before the first scan, that the daemon can do its job here: the tree
// lists processes, and, on the real /proc, it can see itself, open a pidfd and (unless
// in dry run) signal other users' processes.
func selfTest(s *proc.Scanner, self int, dryRun bool) error {
	sawSelf := false
	st, err := s.Scan(func(pid int, rss uint64) {
		if pid == self && rss > 0 {
			sawSelf = true
		}
	})
	if err != nil {
		return fmt.Errorf("self-test: %w", err)
	}
	if st.Processes == 0 {
		return fmt.Errorf("self-test: no process readable under %s", s.Root())
	}
	if s.Root() != "/proc" {
		return nil
	}
	if !sawSelf {
		return fmt.Errorf("self-test: own process %d not found in /proc (is /proc from another PID namespace?)", self)
	}
	fd, err := unix.PidfdOpen(self, 0)
	if err != nil {
		return fmt.Errorf("self-test: pidfd_open: %w (Linux 5.3 or later is needed)", err)
	}
	unix.Close(fd)
	if dryRun || self == 1 {
		return nil
	}
	// Signal 0 to PID 1 checks the permission without sending anything: without
	// CAP_KILL (or root) every stop of another user's process would fail.
	fd, err = unix.PidfdOpen(1, 0)
	if err != nil {
		return fmt.Errorf("self-test: pidfd_open 1: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, 0, nil, 0); err != nil {
		return fmt.Errorf("self-test: cannot signal other users' processes (pidfd_send_signal to PID 1: %w); run as root or with CAP_KILL", err)
	}
	return nil
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
		msg := fmt.Sprintf("unknown environment variable %s ignored", report.Sanitize(k))
		if s := spell.Closest(k, slices.Collect(maps.Keys(known))); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		out = append(out, msg)
	}
	return out
}

func versionString(version string) string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
