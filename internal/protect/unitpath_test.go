package protect

import (
	"slices"
	"testing"
)

func TestUnitPaths(t *testing.T) {
	for _, tc := range []struct {
		cgroup string
		want   []UnitPath
	}{
		{"0::/system.slice/gitlab-runner.service\n", []UnitPath{
			{"system.slice", "/system.slice"}, {"gitlab-runner.service", "/system.slice/gitlab-runner.service"}}},
		{"0::/user.slice/user-1000.slice/session-3.scope", []UnitPath{
			{"user.slice", "/user.slice"}, {"user-1000.slice", "/user.slice/user-1000.slice"},
			{"session-3.scope", "/user.slice/user-1000.slice/session-3.scope"}}},
		// A user's own manager may name its units anything: only user@1000.service counts.
		{"0::/user.slice/user-1000.slice/user@1000.service/app.slice/gitlab-runner.service", []UnitPath{
			{"user.slice", "/user.slice"}, {"user-1000.slice", "/user.slice/user-1000.slice"},
			{"user@1000.service", "/user.slice/user-1000.slice/user@1000.service"}}},
		// The escaped name is unescaped, the path kept as the kernel spells it.
		{"0::/system.slice/_cpu.service", []UnitPath{{"system.slice", "/system.slice"}, {"cpu.service", "/system.slice/_cpu.service"}}},
		{"0::/../../system.slice/x.service", nil},
		{"0::/docker/0123abcd", nil},
		// v1 only: no unified path to measure.
		{"12:memory:/user.slice\n1:name=systemd:/user.slice/user-1000.slice/session-3.scope\n", nil},
		// Hybrid: the v2 line wins wherever it is.
		{"1:name=systemd:/system.slice/a.service\n0::/system.slice/a.service\n", []UnitPath{
			{"system.slice", "/system.slice"}, {"a.service", "/system.slice/a.service"}}},
	} {
		if got := UnitPaths(tc.cgroup); !slices.Equal(got, tc.want) {
			t.Errorf("UnitPaths(%q) = %v, want %v", tc.cgroup, got, tc.want)
		}
	}
}
