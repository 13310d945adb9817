package protect

import (
	"slices"
	"strings"
)

// Units returns the systemd slices and the unit a process belongs to, from the contents
// of /proc/PID/cgroup, outermost first: "/system.slice/ssh.service" gives system.slice and
// ssh.service; "/user.slice/user-1000.slice/session-3.scope" gives user.slice,
// user-1000.slice and session-3.scope.
//
// Only the system manager's part of the path counts: the leading slices and the first unit
// after them, as `systemctl status PID` shows it. Whatever lies below that unit is
// delegated to someone else (a user's own systemd, a container's init), who may give it
// any name, so "/user.slice/user-1000.slice/user@1000.service/app.slice/ssh.service" is
// user@1000.service, never ssh.service. A path outside the daemon's cgroup namespace
// ("/../..") or not made by systemd ("/docker/ID") gives nothing.
//
// The cgroup v2 line ("0::PATH") and the v1 systemd line ("N:name=systemd:PATH") are both
// read (a hybrid system has both); other v1 controllers are ignored.
func Units(cgroup string) []string {
	var out []string
	for line := range strings.SplitSeq(cgroup, "\n") {
		_, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		ctrl, p, ok := strings.Cut(rest, ":")
		if !ok || (ctrl != "" && ctrl != "name=systemd") {
			continue
		}
		for _, u := range pathUnits(p) {
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out
}

func pathUnits(p string) []string {
	var out []string
	for c := range strings.SplitSeq(strings.TrimPrefix(p, "/"), "/") {
		c = unescape(c)
		if !isUnit(c) {
			break
		}
		out = append(out, c)
		if !strings.HasSuffix(c, ".slice") {
			break
		}
	}
	return out
}

// unescape undoes systemd's cgroup name escaping (cg_escape): a name that would clash
// with a control file or starts with "_" or "." gets a leading "_".
func unescape(c string) string {
	return strings.TrimPrefix(c, "_")
}

// isUnit reports whether a cgroup name is a unit of a type that can hold processes.
func isUnit(c string) bool {
	i := strings.LastIndexByte(c, '.')
	if i <= 0 {
		return false
	}
	switch c[i:] {
	case ".service", ".scope", ".slice", ".socket", ".mount", ".swap":
		return true
	}
	return false
}
