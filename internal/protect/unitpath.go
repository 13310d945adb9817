package protect

import "strings"

// UnitPath is a systemd slice or unit with the cgroup path that holds it.
type UnitPath struct {
	Name string // unescaped unit name, e.g. "gitlab-runner.service"
	Path string // its cgroup, e.g. "/system.slice/gitlab-runner.service"
}

// UnitPaths is Units with each unit's cgroup path, read from the cgroup v2 line ("0::PATH")
// only: the path is where that unit's memory.stat lies below the cgroup v2 mount. The same
// rule as Units applies: the system manager's leading slices and the first unit after
// them, nothing delegated below it. Without a v2 line (a v1-only host) it returns nil.
func UnitPaths(cgroup string) []UnitPath {
	for line := range strings.SplitSeq(cgroup, "\n") {
		p, ok := strings.CutPrefix(line, "0::")
		if !ok {
			continue
		}
		var out []UnitPath
		end := 0
		rest := strings.TrimPrefix(p, "/")
		for c := range strings.SplitSeq(rest, "/") {
			name := unescape(c)
			if !isUnit(name) {
				break
			}
			end += 1 + len(c)
			out = append(out, UnitPath{Name: name, Path: p[:end]})
			if !strings.HasSuffix(name, ".slice") {
				break
			}
		}
		return out
	}
	return nil
}
