package check

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// account is the service user as the file system's /etc/passwd and /etc/group give it.
type account struct {
	uid  uint32
	gids []uint32
}

// lookupAccount finds ServiceUser in root's etc/passwd and the groups it belongs to; ok
// is false when the user does not exist (the package creates it).
func lookupAccount(root fs.FS) (account, bool) {
	var a account
	found := false
	scanColon(root, "etc/passwd", func(f []string) {
		if len(f) >= 4 && f[0] == ServiceUser {
			uid, err1 := strconv.ParseUint(f[2], 10, 32)
			gid, err2 := strconv.ParseUint(f[3], 10, 32)
			if err1 == nil && err2 == nil {
				a, found = account{uid: uint32(uid), gids: []uint32{uint32(gid)}}, true
			}
		}
	})
	if !found {
		return account{}, false
	}
	scanColon(root, "etc/group", func(f []string) {
		if len(f) >= 4 && slices.Contains(strings.Split(f[3], ","), ServiceUser) {
			if gid, err := strconv.ParseUint(f[2], 10, 32); err == nil {
				a.gids = append(a.gids, uint32(gid))
			}
		}
	})
	return a, true
}

func scanColon(root fs.FS, name string, fn func([]string)) {
	f, err := root.Open(name)
	if err != nil {
		return
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fn(strings.Split(s.Text(), ":"))
	}
}

// may reports whether a may access a file with the given owner and mode for the
// permission bit want (2: write, 1: search), as the kernel decides without capabilities
// (the service has no CAP_DAC_OVERRIDE).
func (a account) may(st *syscall.Stat_t, want uint32) bool {
	if a.uid == 0 {
		return true
	}
	mode := st.Mode
	switch {
	case st.Uid == a.uid:
		return mode>>6&want == want
	case slices.Contains(a.gids, st.Gid):
		return mode>>3&want == want
	}
	return mode&want == want
}

// notWritable says why the service user could not append to the log file at p (an
// absolute path), or "" if it can, or if that cannot be told (no such user, no stat).
func (c *checker) notWritable(p string) string {
	if c.o.Root == nil {
		return ""
	}
	a, ok := lookupAccount(c.o.Root)
	if !ok {
		return ""
	}
	rel := strings.TrimPrefix(p, "/")
	fi, err := fs.Stat(c.o.Root, rel)
	if errors.Is(err, fs.ErrNotExist) {
		dir := path.Dir(rel)
		di, err := fs.Stat(c.o.Root, dir)
		if err != nil {
			return fmt.Sprintf("the file does not exist, nor does its directory /%s", dir)
		}
		if st, ok := di.Sys().(*syscall.Stat_t); ok && !(a.may(st, 2) && a.may(st, 1)) {
			return fmt.Sprintf("the file does not exist, and the service user %s cannot create it in /%s: create it with install -o %s -g adm -m 0640 /dev/null %s",
				ServiceUser, dir, ServiceUser, p)
		}
		return ""
	}
	if err != nil {
		return ""
	}
	if !fi.Mode().IsRegular() {
		return "not a regular file"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || a.may(st, 2) {
		return ""
	}
	return fmt.Sprintf("the service user %s (uid %d) cannot write it (owner uid %d, group gid %d, mode %04o): chown %s:adm %s",
		ServiceUser, a.uid, st.Uid, st.Gid, st.Mode&0o7777, ServiceUser, p)
}
