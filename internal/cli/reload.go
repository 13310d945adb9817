package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alecthomas/kong"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/event"
	"github.com/memory-monitor/memory-monitor/internal/logging"
	"github.com/memory-monitor/memory-monitor/internal/metrics"
	"github.com/memory-monitor/memory-monitor/internal/reload"
	"github.com/memory-monitor/memory-monitor/internal/sink"
)

// reloadCmd is `memory-monitor reload`, the unit's ExecReload=.
type reloadCmd struct{}

// reloadTimeout is how long `reload` waits for the daemon: less than systemd's 90 s
// default TimeoutStartSec=, which bounds ExecReload=, so that reload says what happened
// before systemd kills it.
const reloadTimeout = 60 * time.Second

// controlSocket is the daemon's reload socket: in $RUNTIME_DIRECTORY, which systemd sets
// for the daemon and for ExecReload= alike; ok is false without it.
func controlSocket() (path string, ok bool) {
	dir := os.Getenv("RUNTIME_DIRECTORY")
	if dir == "" {
		return "", false
	}
	// Several RuntimeDirectory= entries are separated by colons; the unit has one.
	dir, _, _ = strings.Cut(dir, ":")
	return filepath.Join(dir, reload.SocketName), true
}

// reloadMain validates the environment exactly as the daemon would at start, then hands
// the MEMORY_MONITOR_* variables to the running daemon and waits until it has applied
// or refused them. Exit 0: in force; 2: refused (here or by the daemon), nothing
// changed; 1: the hand-over failed.
func reloadMain(c cli, kctx *kong.Context, stderr io.Writer) int {
	_, _, known, err := loadConfig(&c, kctx)
	if err != nil {
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		fmt.Fprintf(stderr, "memory-monitor: reload: settings not applied; the daemon keeps its settings\n")
		return checkErrors
	}
	for _, u := range unknownEnv(known) {
		fmt.Fprintf(stderr, "memory-monitor: warning: %s\n", u)
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix) {
			env[k] = v
		}
	}
	path, ok := controlSocket()
	if !ok {
		// Run by hand, the command would send the shell's variables, not the file's, and
		// so put the defaults in force.
		fmt.Fprintf(stderr, "memory-monitor: reload: $RUNTIME_DIRECTORY is not set: run \"systemctl reload memory-monitor\", which gives this command the service's environment file\n")
		return checkErrors
	}
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	switch err := reload.Send(ctx, path, env); {
	case err == nil:
		return exitOK
	case errors.Is(err, reload.ErrRefused):
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		fmt.Fprintf(stderr, "memory-monitor: reload: settings not applied; the daemon keeps its settings\n")
		return checkErrors
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(stderr, "memory-monitor: reload: no answer from the daemon within %v; it may still apply the settings\n", reloadTimeout)
		return exitFailure
	default:
		fmt.Fprintf(stderr, "memory-monitor: %v\n", err)
		return exitFailure
	}
}

// validateArgs validates env as the daemon started with args (its own command line:
// flags still win over the variables, as at start) would.
func validateArgs(args []string, env map[string]string) (config.Config, error) {
	defer swapEnv(env)()
	var c cli
	parser, err := newParser(&c, io.Discard, io.Discard, "")
	if err != nil {
		return config.Config{}, err
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		return config.Config{}, err
	}
	cfg, _, _, err := loadConfig(&c, kctx)
	return cfg, err
}

// liveLog is the daemon's logger with the parts a reload changes: the level and the log
// file. Every holder of the logger sees a change at once, since they share the
// switching handler.
type liveLog struct {
	*slog.Logger
	level   *slog.LevelVar
	journal bool
	stderr  io.Writer
	sw      *switchHandler
	file    *logging.File // nil: no file; owned by the loop goroutine
	// queue takes every record first, so that a slow or stuck journal, file or stderr
	// never delays a scan or a stop; its goroutine writes through sw.
	queue *logging.Queue
}

func newLiveLog(cfg config.Config, stderr io.Writer) *liveLog {
	l := &liveLog{level: new(slog.LevelVar), journal: logging.UseJournal(), stderr: stderr, sw: &switchHandler{}}
	l.level.Set(cfg.LogLevel)
	l.open(cfg.LogFile)
	l.queue = logging.NewQueue(l.sw, 0)
	l.Logger = slog.New(l.queue)
	return l
}

func (l *liveLog) open(path string) {
	lg, f := logging.New(logging.Options{Level: l.level, Journal: l.journal, Stderr: l.stderr, FilePath: path})
	h := lg.Handler()
	l.sw.h.Store(&h)
	old := l.file
	l.file = f
	if old != nil {
		old.Close()
	}
}

// reopen opens the log file again (SIGHUP after logrotate).
func (l *liveLog) reopen() {
	if l.file != nil {
		l.file.Reopen()
		l.Info("log file reopened", "path", l.file.Path())
	}
}

func (l *liveLog) close() {
	l.queue.Close(2 * time.Second)
	if l.file != nil {
		l.file.Close()
	}
}

// reconfigure applies a reload's level and log file. The file is reopened even when
// its name stays, like on SIGHUP.
func (l *liveLog) reconfigure(old, new config.Config) {
	// Records logged under the old settings go where those said; a stuck sink delays
	// the reload by a moment at most.
	l.queue.Flush(200 * time.Millisecond)
	l.level.Set(new.LogLevel)
	if old.LogFile != new.LogFile {
		l.open(new.LogFile)
		return
	}
	if l.file != nil {
		l.file.Reopen()
	}
}

// switchHandler passes records to the handler in force; a reload replaces it.
type switchHandler struct {
	h atomic.Pointer[slog.Handler]
}

func (s *switchHandler) cur() slog.Handler { return *s.h.Load() }

// Enabled implements slog.Handler.
func (s *switchHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.cur().Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (s *switchHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.cur().Handle(ctx, r)
}

// WithAttrs implements slog.Handler; the derived handler stays with the handler in
// force now (the daemon derives none).
func (s *switchHandler) WithAttrs(as []slog.Attr) slog.Handler { return s.cur().WithAttrs(as) }

// WithGroup implements slog.Handler, like WithAttrs.
func (s *switchHandler) WithGroup(name string) slog.Handler { return s.cur().WithGroup(name) }

// liveMetrics is the metrics sink with a file a reload may change; the counters carry
// over. Used on the loop goroutine only.
type liveMetrics struct {
	m   *metrics.Metrics
	s   *sink.Metrics
	log *slog.Logger
}

func newLiveMetrics(version string, cfg config.Config, log *slog.Logger) *liveMetrics {
	m := metrics.New(version, cfg.Threshold, cfg.WarnThreshold)
	if !cfg.Budgets.Empty() {
		m.EnableBudgets()
	}
	return &liveMetrics{m: m, s: sink.NewMetrics(m, cfg.MetricsFile, log), log: log}
}

// Handle implements event.Sink.
func (l *liveMetrics) Handle(e event.Event) { l.s.Handle(e) }

func (l *liveMetrics) reconfigure(old, new config.Config) {
	l.m.SetThresholds(new.Threshold, new.WarnThreshold)
	if !new.Budgets.Empty() {
		l.m.EnableBudgets() // and they stay: a family does not vanish while the daemon runs
	}
	if old.MetricsFile != new.MetricsFile {
		l.s.Close()
		l.s = sink.NewMetrics(l.m, new.MetricsFile, l.log)
	}
}

func (l *liveMetrics) close() { l.s.Close() }

// serveControl creates the reload socket in $RUNTIME_DIRECTORY and serves it until ctx
// ends; without the variable (run by hand) there is none and reload is unavailable.
func serveControl(ctx context.Context, log *slog.Logger, args []string, apply reload.Applier) (stop func()) {
	path, ok := controlSocket()
	if !ok {
		log.Debug("no RUNTIME_DIRECTORY: no control socket, reload unavailable")
		return func() {}
	}
	srv, err := reload.Listen(reload.ServerOptions{
		Path:     path,
		Validate: func(env map[string]string) (config.Config, error) { return validateArgs(args, env) },
		Apply:    apply,
	})
	if err != nil {
		log.Warn("reload unavailable", "error", err)
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx); err != nil {
			log.Warn("reload unavailable", "error", err)
		}
	}()
	return func() { srv.Close(); <-done }
}
