package runtime

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Moving a process into a cgroup (a write to cgroup.procs, which runc and
// crun make for every container) takes the kernel's global threadgroup
// lock for writing; the first such write after a quiet spell waits for an
// RCU grace period (6-15 ms measured here), and writes in the grace period
// that follows are quick. PrimeCgroupMigration makes that first write
// itself, in the background, as a container start begins: the grace
// period then passes while berthd and the runtime do other work, and the
// runtime's own write comes in the quick period after it.
//
// The write moves berthd into the cgroup it is already in: nothing
// changes but the lock's state.
func PrimeCgroupMigration() {
	primer.once.Do(func() { primer.procs = ownCgroupProcs("/proc/self/cgroup", "/sys/fs/cgroup") })
	if primer.procs == "" || !primer.busy.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer primer.busy.Store(false)
		_ = primeNow(primer.procs) // best effort: a failure costs only time
	}()
}

// primeNow writes this process's pid to procs, its own cgroup's.
func primeNow(procs string) error {
	f, err := os.OpenFile(procs, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.Itoa(os.Getpid()))
	return errors.Join(err, f.Close())
}

var primer struct {
	once  sync.Once
	procs string
	busy  atomic.Bool // a priming write is in flight
}

// ownCgroupProcs is the cgroup.procs file of this process's own cgroup in
// some hierarchy mounted under root (cgroup v2's, or a v1 controller's),
// read from the /proc/self/cgroup listing at self; "" if none is found.
func ownCgroupProcs(self, root string) string {
	f, err := os.Open(self)
	if err != nil {
		return ""
	}
	defer f.Close()
	var unified bool
	var st unix.Statfs_t
	if unix.Statfs(root, &st) == nil {
		unified = st.Type == unix.CGROUP2_SUPER_MAGIC
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir string
		switch {
		case parts[1] == "" && unified:
			dir = filepath.Join(root, parts[2])
		case parts[1] != "" && !unified:
			ctrl, _, _ := strings.Cut(parts[1], ",")
			dir = filepath.Join(root, strings.TrimPrefix(ctrl, "name="), parts[2])
		default:
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
			return filepath.Join(dir, "cgroup.procs")
		}
	}
	return ""
}
