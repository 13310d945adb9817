package notify

import (
	"strings"
	"testing"
)

func TestReadOrigin(t *testing.T) {
	const root = "testdata/proc"
	for _, c := range []struct {
		name string
		pid  int
		want Origin
	}{
		{"GitHub Actions job", 4242, Origin{
			Cwd: "/home/runner/work/repo/repo", Unit: "actions.runner.example.service", Slice: "system.slice",
			Runner: Runner{PID: 4100, Kind: "github-actions", Cmdline: "/home/runner/bin/Runner.Worker spawnclient 118 121"},
		}},
		{"Jenkins agent build", 5002, Origin{
			Cwd: "/home/jenkins/workspace/app", Unit: "jenkins-agent.service", Slice: "system.slice",
			Runner: Runner{PID: 5000, Kind: "jenkins-agent", Cmdline: "java -jar /home/jenkins/agent.jar -url https://ci.example/"},
		}},
		{"Slurm job step", 7001, Origin{
			Cwd: "/scratch/alice", Unit: "slurmstepd.scope", Slice: "system.slice",
			Runner: Runner{PID: 7000, Kind: "slurm", Cmdline: "slurmstepd: [1234.0]"},
		}},
		{"login session, hostile name, no runner", 6001, Origin{
			Cwd: "/home/alice/data", Unit: "session-3.scope", Slice: "user-1000.slice",
		}},
		{"the runner itself is not its own ancestor", 4100, Origin{
			Cwd: "/home/runner", Unit: "actions.runner.example.service", Slice: "system.slice",
		}},
		{"gone", 9999, Origin{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ReadOrigin(root, c.pid); got != c.want {
				t.Errorf("ReadOrigin(%d)\n got %+v\nwant %+v", c.pid, got, c.want)
			}
		})
	}
}

func TestRunnerKind(t *testing.T) {
	for _, c := range []struct {
		comm string
		args []string
		want string
	}{
		{"gitlab-runner", []string{"gitlab-runner", "run"}, "gitlab-runner"},
		{"gitlab-ci-multi", nil, "gitlab-runner"},
		{"Runner.Worker", nil, "github-actions"},
		{"buildkite-agent", nil, "buildkite-agent"},
		{"java", []string{"java", "-jar", "remoting.jar", "-workDir", "/w"}, "jenkins-agent"},
		{"java", []string{"java", "-cp", "x.jar", "hudson.remoting.jnlp.Main"}, "jenkins-agent"},
		{"java", []string{"java", "-jar", "/usr/share/java/jenkins.war"}, "jenkins"},
		{"java", []string{"java", "-jar", "app.jar"}, ""},
		{"bash", []string{"bash", "agent.jar"}, ""}, // only a JVM counts for the jar names
		{"sleep", nil, ""},
	} {
		if got := runnerKind(c.comm, c.args); got != c.want {
			t.Errorf("runnerKind(%q, %q) = %q, want %q", c.comm, c.args, got, c.want)
		}
	}
}

func TestOriginAttrs(t *testing.T) {
	o := ReadOrigin("testdata/proc", 4242)
	got := map[string]string{}
	for _, a := range o.Attrs() {
		got[a.Key] = a.Value.String()
	}
	want := map[string]string{
		"cwd": "/home/runner/work/repo/repo", "unit": "actions.runner.example.service", "slice": "system.slice",
		"job_runner": "github-actions", "job_runner_pid": "4100",
		"job_runner_cmdline": "/home/runner/bin/Runner.Worker spawnclient 118 121",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attr %s = %q, want %q", k, got[k], v)
		}
	}
	if n := len((Origin{}).Attrs()); n != 0 {
		t.Errorf("empty origin gives %d attrs", n)
	}
}

func TestOriginAttrsSanitized(t *testing.T) {
	o := Origin{Cwd: "/tmp/\x1b[2J\nfake=1", Runner: Runner{PID: 2, Kind: "slurm", Cmdline: "x\ry"}}
	for _, a := range o.Attrs() {
		if v := a.Value.String(); strings.ContainsAny(v, "\x1b\n\r") {
			t.Errorf("attr %s = %q keeps control characters", a.Key, v)
		}
	}
}
