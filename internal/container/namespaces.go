package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// sharedNamespaces resolves --pid container:NAME and --ipc container:NAME
// to the namespaces of that running container, with dockerd's refusals, and
// gives the /dev/shm mount that goes with the IPC mode (shm is the tmpfs
// of a shareable container, or its donor's for a joiner).
func (s *Service) sharedNamespaces(c *Container) (pidNS, ipcNS string, shm []specs.Mount, err error) {
	c.mu.Lock()
	pidMode, ipcMode := c.HostConfig.PidMode, c.HostConfig.IpcMode
	c.mu.Unlock()
	if pidMode.IsContainer() {
		donor, err := s.donor(c, pidMode.Container(), "PID")
		if err != nil {
			return "", "", nil, err
		}
		pidNS = fmt.Sprintf("/proc/%d/ns/pid", donor.State.Pid)
	}
	if ipcMode.IsContainer() {
		donor, err := s.donor(c, ipcMode.Container(), "IPC")
		if err != nil {
			return "", "", nil, err
		}
		if m := donor.HostConfig.IpcMode; !m.IsShareable() && !m.IsHost() {
			return "", "", nil, errdefs.Invalid(fmt.Errorf("cannot join IPC of container %s: non-shareable IPC (hint: use IpcMode:shareable for the donor container)", donor.ID))
		}
		ipcNS = fmt.Sprintf("/proc/%d/ns/ipc", donor.State.Pid)
		if donor.HostConfig.IpcMode.IsShareable() {
			shm = shmBind(s.shmPath(donor.ID))
		}
	}
	if ipcMode.IsShareable() {
		c.mu.Lock()
		size := c.HostConfig.ShmSize
		c.mu.Unlock()
		path := s.shmPath(c.ID)
		if err := mountShm(path, size); err != nil {
			return "", "", nil, err
		}
		shm = shmBind(path)
	}
	return pidNS, ipcNS, shm, nil
}

// shmPath is where a shareable container's /dev/shm lives on the host.
func (s *Service) shmPath(id string) string {
	return filepath.Join(s.dataDir(id), "mounts", "shm")
}

// mountShm mounts a tmpfs of size bytes (64 MiB when 0) at path unless one
// is there already.
func mountShm(path string, size int64) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return err
	}
	if mounted, err := isMountPoint(path); err != nil || mounted {
		return err
	}
	if size <= 0 {
		size = 64 << 20
	}
	opts := fmt.Sprintf("mode=1777,size=%d", size)
	if err := unix.Mount("shm", path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return fmt.Errorf("mount shm at %s: %w", path, err)
	}
	return nil
}

// unmountShm undoes mountShm; nothing mounted is not an error.
func unmountShm(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// isMountPoint reports whether path is on another file system than its parent.
func isMountPoint(path string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false, err
	}
	if err := unix.Stat(filepath.Dir(path), &parent); err != nil {
		return false, err
	}
	return st.Dev != parent.Dev, nil
}

// shmBind mounts a host shm directory at /dev/shm, replacing the default.
func shmBind(path string) []specs.Mount {
	return []specs.Mount{{Destination: "/dev/shm", Type: "bind", Source: path, Options: []string{"rbind", "rprivate"}}}
}

// donor is a snapshot of the running container ref whose namespace c
// joins.
func (s *Service) donor(c *Container, ref, what string) (*Container, error) {
	d, err := s.store.get(ref)
	if err != nil {
		return nil, err
	}
	if d.ID == c.ID {
		return nil, errdefs.Invalid(fmt.Errorf("cannot join own %s namespace", what))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.State.Status != container.StateRunning || d.State.Pid == 0 {
		return nil, errdefs.Conflict(fmt.Errorf("cannot join %s of a non running container: %s", what, d.ID))
	}
	return d.snapshotLocked(), nil
}
