package shim

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// V1ViewFlag, as berth-shim's first argument, makes it run the command that
// follows "--" in the cgroup v1 view: see ExecInV1View.
const V1ViewFlag = "--v1-view"

// unifiedMount is where a hybrid cgroup host mounts the cgroup v2 hierarchy
// beside the v1 controllers.
const unifiedMount = "/sys/fs/cgroup/unified"

// ExecInV1View replaces the process with argv[0] run in a mount namespace
// of its own where the hybrid layout's cgroup v2 hierarchy is unmounted.
// crun refuses any work on a hybrid host whose v2 hierarchy holds a
// controller ("cgroups in hybrid mode not supported"), even with its cgroup
// manager disabled; without that mount it sees the plain cgroup v1 host it
// supports and manages the v1 controllers, which hold every controller
// berth sets limits with. The namespace is made a slave of the host's, so
// the unmount stays in it while host mounts still reach it.
func ExecInV1View(argv []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("%s: no command", V1ViewFlag)
	}
	// A mount namespace can be unshared only by a thread that has its own
	// file system attributes; the exec below happens on this thread.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := makeV1View(); err != nil {
		return err
	}
	return syscall.Exec(argv[0], argv, os.Environ())
}

// EnterV1View makes the mount namespace this process was started in the
// v1 view: Launch starts a shim that needs the view in a mount namespace
// of its own (CLONE_NEWNS), sparing it ExecInV1View's second exec. It
// refuses to work in its parent's namespace, where the unmount would be
// the host's.
func EnterV1View() error {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("v1 view: %w", err)
	}
	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if err != nil {
		return fmt.Errorf("v1 view: %w", err)
	}
	if self == parent {
		return errors.New("v1 view: not in a mount namespace of its own")
	}
	return makeV1View()
}

// makeV1View turns the current mount namespace into the view: its mounts
// slaves of the host's (so the unmount stays here while host mounts and
// unmounts still arrive), without the v2 hierarchy.
func makeV1View() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make mounts slaves: %w", err)
	}
	if err := unix.Unmount(unifiedMount, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount %s: %w", unifiedMount, err)
	}
	return nil
}

// HybridV2Controllers reports whether this host is a hybrid cgroup host
// whose v2 hierarchy holds controllers: where crun needs the v1 view.
func HybridV2Controllers() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type == unix.CGROUP2_SUPER_MAGIC {
		return false
	}
	data, err := os.ReadFile(unifiedMount + "/cgroup.controllers")
	return err == nil && len(data) > 0 && string(data) != "\n"
}
