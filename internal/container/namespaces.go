package container

import (
	"fmt"

	"github.com/moby/moby/api/types/container"

	"berth/internal/errdefs"
)

// sharedNamespaces resolves --pid container:NAME and --ipc container:NAME
// to the namespaces of that running container, with dockerd's refusals.
func (s *Service) sharedNamespaces(c *Container) (pidNS, ipcNS string, err error) {
	c.mu.Lock()
	pidMode, ipcMode := c.HostConfig.PidMode, c.HostConfig.IpcMode
	c.mu.Unlock()
	if pidMode.IsContainer() {
		donor, err := s.donor(c, pidMode.Container(), "PID")
		if err != nil {
			return "", "", err
		}
		pidNS = fmt.Sprintf("/proc/%d/ns/pid", donor.State.Pid)
	}
	if ipcMode.IsContainer() {
		donor, err := s.donor(c, ipcMode.Container(), "IPC")
		if err != nil {
			return "", "", err
		}
		if m := donor.HostConfig.IpcMode; !m.IsShareable() && !m.IsHost() {
			return "", "", errdefs.Invalid(fmt.Errorf("cannot join IPC of container %s: non-shareable IPC (hint: use IpcMode:shareable for the donor container)", donor.ID))
		}
		ipcNS = fmt.Sprintf("/proc/%d/ns/ipc", donor.State.Pid)
	}
	return pidNS, ipcNS, nil
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
