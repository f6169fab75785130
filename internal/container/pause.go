package container

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/moby/api/types/container"

	"berth/internal/errdefs"
)

// Pause freezes every process of a running container (the runtime's
// freezer), as `docker pause` does. The paused status is kept in the
// store, so a restarted berthd still knows it.
func (s *Service) Pause(ctx context.Context, ref string) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	sh := c.shim
	switch {
	case !c.State.Running() || sh == nil:
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("container %s is not running", c.ID))
	case c.State.Status == container.StatePaused:
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("container %s is already paused", c.ID))
	case c.State.Status == container.StateRestarting:
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("Container %s is restarting, wait until the container is running", c.ID))
	}
	c.mu.Unlock()
	// A client that goes away must not leave the freezer half set.
	if err := s.runRuntime(context.WithoutCancel(ctx), c, "pause", c.ID); err != nil {
		return fmt.Errorf("cannot pause container %s: %w", c.ID, err)
	}
	c.mu.Lock()
	if c.shim != sh {
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("container %s is not running", c.ID))
	}
	c.State.Status = container.StatePaused
	err = s.store.saveLocked(c)
	c.notifyLocked()
	c.mu.Unlock()
	logErr(s.log, "save container state", err, "container_id", c.ID)
	s.publish(c, "pause", nil)
	return nil
}

// Unpause thaws a paused container, as `docker unpause` does.
func (s *Service) Unpause(ctx context.Context, ref string) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	paused := c.State.Status == container.StatePaused
	running := c.shim != nil
	c.mu.Unlock()
	// dockerd checks the paused flag first: a stopped container is "not
	// paused" too.
	if !paused {
		return errdefs.Conflict(fmt.Errorf("Container %s is not paused", c.ID))
	}
	if !running {
		return errdefs.Conflict(fmt.Errorf("container %s is not running", c.ID))
	}
	return s.resume(ctx, c)
}

// resume thaws c and records it as running again.
func (s *Service) resume(ctx context.Context, c *Container) error {
	if err := s.runRuntime(context.WithoutCancel(ctx), c, "resume", c.ID); err != nil {
		return fmt.Errorf("Cannot unpause container %s: %w", c.ID, err)
	}
	c.mu.Lock()
	if c.State.Status != container.StatePaused {
		c.mu.Unlock()
		return nil // it exited meanwhile, or someone else resumed it
	}
	c.State.Status = container.StateRunning
	err := s.store.saveLocked(c)
	c.notifyLocked()
	c.mu.Unlock()
	logErr(s.log, "save container state", err, "container_id", c.ID)
	s.publish(c, "unpause", nil)
	return nil
}

// resumeAfterSignal thaws c, when it is paused, after stop or kill sent
// it sig, so that the signal is acted on: a frozen process does not run
// its handlers, and on cgroup v1 does not even die of SIGKILL. As dockerd,
// it thaws for SIGKILL and for the container's stop signal (any signal
// when the container names none), and reports the container unpaused.
func (s *Service) resumeAfterSignal(ctx context.Context, c *Container, sig syscall.Signal) {
	c.mu.Lock()
	paused := c.State.Status == container.StatePaused
	stopSignal := c.Config.StopSignal
	c.mu.Unlock()
	if !paused {
		return
	}
	if stopSignal != "" && sig != syscall.SIGKILL {
		if want, err := ParseSignal(stopSignal); err != nil || want != sig {
			return
		}
	}
	logErr(s.log, "resume after signal", s.resume(ctx, c), "container_id", c.ID)
}

// runRuntime runs the container's OCI runtime directly, with the same
// state root the shim gives it, for the commands that need no shim
// (pause, resume). The runtime's own error message is returned.
func (s *Service) runRuntime(ctx context.Context, c *Container, args ...string) error {
	rt, err := s.runtimeFor(c)
	if err != nil {
		return err
	}
	argv := rt.command(s.cfg.ShimBinary, append([]string{"--root", filepath.Join(s.cfg.ExecRoot, "runtime", c.Runtime)}, args...)...)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		if msg := runtimeMessage(out); msg != "" {
			return errors.New(msg)
		}
		return err
	}
	return nil
}

// runtimeMessage picks the message out of what runc or crun printed:
// runc logs `level=error msg="..."`, crun plain text.
func runtimeMessage(out []byte) string {
	text := strings.TrimSpace(string(out))
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if i := strings.Index(last, `msg="`); i >= 0 {
		rest := last[i+len("msg="):]
		if msg, err := strconv.QuotedPrefix(rest); err == nil {
			if u, err := strconv.Unquote(msg); err == nil {
				return u
			}
		}
	}
	return last
}
