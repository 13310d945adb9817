package daemon

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/memory-monitor/memory-monitor/internal/config"
	"github.com/memory-monitor/memory-monitor/internal/reload"
)

// What a reload may change while the daemon runs (see reconfigure): the threshold, the
// warning threshold, sustain, dry run, the protection rules, the metric, the interval,
// the grace period, the budgets, and, through Options.Reconfigure, the log level, the
// log file and the metrics file. The trees the daemon reads (--proc-root,
// --cgroup-root) are fixed at start: a reload that changes one is refused and the old
// settings stay.

// ErrStopping is Apply's answer once the loop has ended or is ending.
var ErrStopping = errors.New("the daemon is stopping")

// reconf is a configuration handed to the loop and the channel for its answer.
type reconf struct {
	cfg   config.Config
	reply chan error
}

// Apply hands cfg to the loop, which puts it in force between two iterations and runs a
// full scan under it, and returns once it has (nil) or with the reason it refused it (the
// old settings then stay). It is safe to call from any goroutine while Run runs; it is
// the reload.Applier of the control socket.
func (d *Daemon) Apply(cfg config.Config) error {
	r := reconf{cfg: cfg, reply: make(chan error, 1)}
	select {
	case d.reloads <- r:
	case <-d.done:
		return ErrStopping
	}
	select {
	case err := <-r.reply:
		return err
	case <-d.done:
		return ErrStopping
	}
}

// restartOnly says why new cannot replace old while the daemon runs; "" when it can.
func restartOnly(old, new config.Config) string {
	if old.ProcRoot != new.ProcRoot {
		return fmt.Sprintf("--proc-root cannot change while the daemon runs (%q -> %q): restart the service", old.ProcRoot, new.ProcRoot)
	}
	if old.CgroupRoot != new.CgroupRoot {
		return fmt.Sprintf("--cgroup-root cannot change while the daemon runs (%q -> %q): restart the service", old.CgroupRoot, new.CgroupRoot)
	}
	return ""
}

// budgetList is the budgets in force, as written.
func budgetList(c config.Config) string {
	var out []string
	for _, r := range c.Budgets.Rules() {
		out = append(out, r.String())
	}
	return strings.Join(out, " ")
}

// reconfigure puts cfg in force at now, on the loop goroutine. Everything the loop
// knows carries over: the tracker keeps its entries (sustain clocks, warn state,
// back-offs), the actuator its stops in flight, each with the deadline fixed when its
// SIGTERM was sent, and the sinks their counters. A full scan follows at once, so a
// lowered threshold applies from this very check.
func (d *Daemon) reconfigure(now time.Time, cfg config.Config) error {
	old := d.o.Config
	if why := restartOnly(old, cfg); why != "" {
		d.o.Log.Warn("settings not reloaded", "error", why)
		return errors.New(why)
	}
	// The budgets first, since they alone can fail here: the new groups are made before
	// the old ones are let go, and on an error nothing has changed. Their members' totals
	// use the metric, so a new metric makes the groups again too.
	if budgetList(old) != budgetList(cfg) || old.Metric != cfg.Metric && !cfg.Budgets.Empty() {
		if err := d.sampler.SetBudgets(cfg.Budgets, cfg.Metric); err != nil {
			why := fmt.Sprintf("the budgets cannot be measured: %v", err)
			d.o.Log.Warn("settings not reloaded", "error", why)
			return errors.New(why)
		}
		if d.bud == nil && !cfg.Budgets.Empty() {
			d.bud = newBudgets()
		}
	}
	changes := reload.Diff(old, cfg)

	rules := d.sampler.Rules()
	rules.Threshold, rules.Protect, rules.Metric = cfg.Threshold, cfg.Protect, cfg.Metric
	d.sampler.SetRules(rules)
	d.sampler.SetLimits(cfg.Threshold, cfg.WarnThreshold)
	d.tracker.SetLimits(limits(cfg))
	if d.o.Status != nil {
		d.o.Status.Threshold, d.o.Status.DryRun = cfg.Threshold, cfg.DryRun
	}
	if d.o.Reconfigure != nil {
		d.o.Reconfigure(old, cfg)
	}
	d.o.Config = cfg

	if len(changes) == 0 {
		d.o.Log.Info("settings reloaded: unchanged", "changes", "none", "message_id", reload.MsgReloaded)
	} else {
		summary := make([]string, len(changes))
		attrs := make([]any, 0, 2*len(changes)+4)
		for i, c := range changes {
			summary[i] = c.String()
			attrs = append(attrs, strings.ToLower(c.Setting), c.Old+" -> "+c.New)
		}
		attrs = append(attrs, "changes", strings.Join(summary, "; "), "message_id", reload.MsgReloaded)
		d.o.Log.Info("settings reloaded: "+strings.Join(summary, "; "), attrs...)
	}
	d.full(now, false)
	return nil
}
