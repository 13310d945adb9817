package notify

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/memory-monitor/memory-monitor/internal/protect"
)

// Origin is where a process came from, for the administrator's log: which job it was.
// Fields are empty when unknown (the process ended, or /proc hides it). Values are as
// the kernel gave them; Attrs sanitizes them for the log.
type Origin struct {
	Cwd    string // working directory
	Unit   string // innermost systemd unit, e.g. "session-3.scope" or "gitlab-runner.service"
	Slice  string // the slice holding Unit, e.g. "user-1000.slice"
	Runner Runner // nearest CI runner or job service above the process; zero if none
}

// Runner is an ancestor process that runs jobs.
type Runner struct {
	PID     int
	Kind    string // e.g. "gitlab-runner", "github-actions", "jenkins-agent", "slurm"
	Cmdline string // its command line, shortened; slurmstepd's names the job ("[1234.0]")
}

// maxDepth bounds the walk up the parent chain: a chain is far shorter in practice, and a
// corrupt fixture cannot loop forever.
const maxDepth = 64

// maxCmdline bounds an ancestor's command line in the log.
const maxCmdline = 256

// ReadOrigin reads where process pid came from under procRoot (normally /proc). It
// reads the cwd link, the cgroup file and, walking the parent chain, the comm and
// cmdline of each ancestor; never the environment, which holds secrets.
func ReadOrigin(procRoot string, pid int) Origin {
	var o Origin
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	if cwd, err := os.Readlink(filepath.Join(dir, "cwd")); err == nil {
		o.Cwd = cwd
	}
	if cg, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		units := protect.Units(string(cg))
		if n := len(units); n > 0 {
			o.Unit = units[n-1]
			if n > 1 {
				o.Slice = units[n-2]
			}
		}
	}
	p := pid
	for range maxDepth {
		pp, ok := parent(procRoot, p)
		if !ok || pp <= 1 || pp == p {
			break
		}
		p = pp
		if r, ok := runnerAt(procRoot, p); ok {
			o.Runner = r
			break
		}
	}
	return o
}

// Attrs gives the origin as log attributes, sanitized so that no handler can be made to
// print a forged line or a terminal escape; empty fields are left out.
func (o Origin) Attrs() []slog.Attr {
	var a []slog.Attr
	if o.Cwd != "" {
		a = append(a, slog.String("cwd", Sanitize(o.Cwd)))
	}
	if o.Unit != "" {
		a = append(a, slog.String("unit", Sanitize(o.Unit)))
	}
	if o.Slice != "" {
		a = append(a, slog.String("slice", Sanitize(o.Slice)))
	}
	if o.Runner.PID != 0 {
		a = append(a, slog.String("job_runner", o.Runner.Kind),
			slog.Int("job_runner_pid", o.Runner.PID),
			slog.String("job_runner_cmdline", Sanitize(o.Runner.Cmdline)))
	}
	return a
}

// parent reads the ppid field of /proc/PID/stat; the name before it may hold spaces
// and parentheses, so the fields are counted from the last ")".
func parent(procRoot string, pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	f := statFields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// statFields returns the fields of a stat line after the command name: state, ppid...
func statFields(s string) []string {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// runnerAt reports whether pid is a known CI runner or job service.
func runnerAt(procRoot string, pid int) (Runner, bool) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	comm, err := os.ReadFile(filepath.Join(dir, "comm"))
	if err != nil {
		return Runner{}, false
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	kind := runnerKind(strings.TrimSuffix(string(comm), "\n"), args)
	if kind == "" {
		return Runner{}, false
	}
	cmd := strings.Join(args, " ")
	if len(cmd) > maxCmdline {
		cmd = truncate(cmd, maxCmdline-3) + "..."
	}
	return Runner{PID: pid, Kind: kind, Cmdline: cmd}, true
}

// runnerKind recognises a job runner by its comm (at most 15 characters, as the kernel
// keeps it) and, for the JVM-based ones, by its command line.
func runnerKind(comm string, args []string) string {
	switch comm {
	case "gitlab-runner", "gitlab-ci-multi": // the latter: gitlab-ci-multi-runner, cut to 15
		return "gitlab-runner"
	case "Runner.Worker": // GitHub Actions: one Runner.Worker per job
		return "github-actions"
	case "Agent.Worker": // Azure Pipelines, the same design
		return "azure-pipelines"
	case "buildkite-agent":
		return "buildkite-agent"
	case "act_runner", "forgejo-runner": // Gitea and Forgejo Actions
		return "gitea-actions"
	case "woodpecker-agen": // woodpecker-agent, cut to 15
		return "woodpecker-agent"
	case "slurmstepd": // HPC batch jobs; its command line names the job step
		return "slurm"
	case "java":
		for _, a := range args {
			switch {
			case strings.HasSuffix(a, "agent.jar"), strings.HasSuffix(a, "remoting.jar"),
				strings.Contains(a, "hudson.remoting"):
				return "jenkins-agent"
			case strings.HasSuffix(a, "jenkins.war"):
				return "jenkins" // a build on the controller's built-in node
			case strings.Contains(a, "jetbrains.buildServer.agent"):
				return "teamcity-agent"
			}
		}
	}
	return ""
}
