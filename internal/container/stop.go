package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// defaultStopTimeout is Docker's grace period before SIGKILL, in seconds.
const defaultStopTimeout = 10

// Stop sends the stop signal, waits up to timeout seconds (nil: the
// container's own or 10; negative: forever), then kills.
func (s *Service) Stop(ctx context.Context, ref, signal string, timeout *int) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	return s.stop(ctx, c, signal, timeout)
}

func (s *Service) stop(ctx context.Context, c *Container, signal string, timeout *int) error {
	c.mu.Lock()
	c.ManuallyStopped = true
	if s.cancelRestartLocked(c) {
		c.mu.Unlock()
		s.publish(c, "stop", nil)
		return nil
	}
	if !c.State.Running() || c.shim == nil {
		c.mu.Unlock()
		return errdefs.NotModified(errors.New("container already stopped"))
	}
	c.stopping = true
	sh, exited := c.shim, c.exited
	if signal == "" {
		signal = c.Config.StopSignal
	}
	t := defaultStopTimeout
	if c.Config.StopTimeout != nil {
		t = *c.Config.StopTimeout
	}
	c.mu.Unlock()
	if timeout != nil {
		t = *timeout
	}
	sig := syscall.SIGTERM
	if signal != "" {
		var err error
		if sig, err = ParseSignal(signal); err != nil {
			return err
		}
	}
	s.publish(c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	if err := sh.Kill(ctx, sig, false); err != nil {
		s.log.Debug("stop signal failed", "container_id", c.ID, "error", err.Error())
	}
	s.resumeAfterSignal(ctx, c, sig)
	if t >= 0 {
		timer := time.NewTimer(time.Duration(t) * time.Second)
		defer timer.Stop()
		select {
		case <-exited:
			s.publish(c, "stop", nil)
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.publish(c, "kill", map[string]string{"signal": strconv.Itoa(int(syscall.SIGKILL))})
		if err := sh.Kill(ctx, syscall.SIGKILL, true); err != nil {
			s.log.Debug("kill failed", "container_id", c.ID, "error", err.Error())
		}
	}
	select {
	case <-exited:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.publish(c, "stop", nil)
	return nil
}

// Kill sends a signal (default SIGKILL) to the container's process.
func (s *Service) Kill(ctx context.Context, ref, signal string) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	sig := syscall.SIGKILL
	if signal != "" {
		if sig, err = ParseSignal(signal); err != nil {
			return err
		}
	}
	c.mu.Lock()
	fatal := c.isFatalSignalLocked(sig)
	if fatal && s.cancelRestartLocked(c) {
		c.ManuallyStopped = true
		c.mu.Unlock()
		return nil
	}
	if !c.State.Running() || c.shim == nil {
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("cannot kill container: %s: container %s is not running", ref, c.ID))
	}
	sh, exited := c.shim, c.exited
	if fatal {
		// The restart policy rests until the next start (Docker's rule).
		c.stopping = true
		c.ManuallyStopped = true
	}
	c.mu.Unlock()
	if err := sh.Kill(ctx, sig, false); err != nil {
		return fmt.Errorf("cannot kill container: %s: %w", ref, err)
	}
	s.resumeAfterSignal(ctx, c, sig)
	s.publish(c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	if sig == syscall.SIGKILL {
		select {
		case <-exited:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Restart stops (if running) and starts the container.
func (s *Service) Restart(ctx context.Context, ref, signal string, timeout *int) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	if err := s.stop(ctx, c, signal, timeout); err != nil && !errors.Is(err, errdefs.ErrNotModified) {
		return err
	}
	if err := s.Start(ctx, c.ID); err != nil && !errors.Is(err, errdefs.ErrNotModified) {
		return err
	}
	s.publish(c, "restart", nil)
	return nil
}

// RemoveOptions are DELETE /containers/{id}'s parameters.
type RemoveOptions struct {
	Force, Volumes, Link bool
}

// Remove deletes a stopped container, or a running one when forced.
func (s *Service) Remove(ctx context.Context, ref string, opts RemoveOptions) error {
	return s.remove(ctx, ref, opts, false)
}

// remove is Remove; with lazyLayer the writable layer goes after the
// record, in the background (auto-removal on `run --rm`'s path: the
// client waits for the record to go). A layer left by a crash in between
// is found and removed by Restore.
func (s *Service) remove(ctx context.Context, ref string, opts RemoveOptions, lazyLayer bool) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	if opts.Link {
		return errdefs.NotImplemented(errors.New("legacy links are not supported"))
	}
	c.mu.Lock()
	if c.State.Status == container.StateRemoving {
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("removal of container %s is already in progress", ref))
	}
	if c.State.Status == container.StateRestarting {
		if !opts.Force {
			c.mu.Unlock()
			return errdefs.Conflict(fmt.Errorf("cannot remove container \"%s\": container is restarting: stop the container before removing or force remove", c.Name))
		}
		s.cancelRestartLocked(c)
	}
	running := c.State.Running()
	if running && !opts.Force {
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("cannot remove container \"%s\": container is running: stop the container before removing or force remove", c.Name))
	}
	sh, exited := c.shim, c.exited
	c.mu.Unlock()
	if running && sh != nil {
		c.mu.Lock()
		c.stopping = true
		c.mu.Unlock()
		_ = sh.Kill(ctx, syscall.SIGKILL, true)
		select {
		case <-exited:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	if c.State.Status == container.StateRemoving {
		c.mu.Unlock()
		return nil // someone else (auto-remove) is on it
	}
	c.State.Status = container.StateRemoving
	c.notifyLocked()
	last := c.lastShim
	c.mu.Unlock()
	// Nothing of the container may outlive its removal: let the last
	// run's shim finish its clean-up (runtime delete) first. Auto-removal
	// (lazyLayer) does that in the background, off `run --rm`'s path.
	if last != nil && !lazyLayer {
		logErr(s.log, "wait for the last shim", last.Gone(ctx), "container_id", c.ID)
	}

	execDir := s.execDir(c.ID)
	_ = s.cfg.Images.UnmountRootfs(ctx, filepath.Join(execDir, "rootfs"))
	if lazyLayer {
		if err := s.store.remove(c); err != nil {
			return err
		}
		s.dropMounts(ctx, c, opts.Volumes || c.HostConfig.AutoRemove) // mounts.go: rm -v, --rm
		s.finishRemoval(c)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			// The shim's last runtime command (delete, which also removes
			// the container's cgroups) runs in the bundle and logs there:
			// the bundle goes only after the shim, even when berthd is
			// shutting down (Close waits for this goroutine).
			if last != nil {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), shimCleanupTimeout)
				logErr(s.log, "wait for the last shim", last.Gone(ctx), "container_id", c.ID)
				cancel()
			}
			os.RemoveAll(execDir)
			logErr(s.log, "remove rootfs", s.cfg.Images.RemoveRootfs(s.ctx, c.ID), "container_id", c.ID)
		}()
		return nil
	}
	if err := s.cfg.Images.RemoveRootfs(ctx, c.ID); err != nil {
		c.mu.Lock()
		c.State.Status = container.StateDead
		c.State.Error = err.Error()
		logErr(s.log, "save container state", s.store.saveLocked(c))
		c.notifyLocked()
		c.mu.Unlock()
		return fmt.Errorf("unable to remove filesystem for %s: %w", c.ID, err)
	}
	if err := s.store.remove(c); err != nil {
		return err
	}
	s.dropMounts(ctx, c, opts.Volumes || c.HostConfig.AutoRemove) // mounts.go: rm -v, --rm
	os.RemoveAll(execDir)
	s.finishRemoval(c)
	return nil
}

// finishRemoval clears what is left of a container whose record is gone.
func (s *Service) finishRemoval(c *Container) {
	logErr(s.log, "unmount shm", unmountShm(s.shmPath(c.ID)), "container_id", c.ID)
	os.RemoveAll(s.dataDir(c.ID))
	s.dropExecs(c)
	close(c.removed)
	s.publish(c, "destroy", nil)
}

// WaitCondition is what Wait waits for, as the API's condition parameter.
type WaitCondition string

// Conditions of POST /containers/{id}/wait.
const (
	WaitNotRunning WaitCondition = "not-running"
	WaitNextExit   WaitCondition = "next-exit"
	WaitRemoved    WaitCondition = "removed"
)

// WaitHandle is a registered wait: Done delivers the exit code.
type WaitHandle struct {
	c    *Container
	cond WaitCondition
	n    int // exits counted when the wait was registered
}

// RegisterWait validates and registers a wait before anything can happen,
// so a container that exits right after still satisfies next-exit.
func (s *Service) RegisterWait(ref string, cond WaitCondition) (*WaitHandle, error) {
	switch cond {
	case "":
		cond = WaitNotRunning
	case WaitNotRunning, WaitNextExit, WaitRemoved:
	default:
		return nil, errdefs.Invalid(fmt.Errorf("invalid condition: %q", cond))
	}
	c, err := s.store.get(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	n := c.exits
	c.mu.Unlock()
	return &WaitHandle{c: c, cond: cond, n: n}, nil
}

// Wait blocks until the registered condition holds and returns the exit
// code and, if the last start failed, its error.
func (w *WaitHandle) Wait(ctx context.Context) (int, string, error) {
	c := w.c
	for {
		c.mu.Lock()
		done := false
		switch w.cond {
		case WaitNotRunning:
			done = !c.State.Running()
		case WaitNextExit:
			done = c.exits > w.n
		case WaitRemoved:
			select {
			case <-c.removed:
				done = true
			default:
			}
		}
		code, msg, changed := c.State.ExitCode, c.State.Error, c.changed
		c.mu.Unlock()
		if done {
			return code, msg, nil
		}
		select {
		case <-changed:
		case <-c.removed:
			if w.cond != WaitRemoved {
				c.mu.Lock()
				code, msg = c.State.ExitCode, c.State.Error
				c.mu.Unlock()
				return code, msg, nil
			}
		case <-ctx.Done():
			return 0, "", ctx.Err()
		}
	}
}

// ParseSignal accepts "SIGTERM", "TERM", "term" or "15".
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, errdefs.Invalid(fmt.Errorf("Invalid signal: %s", s))
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	if strings.HasPrefix(name, "SIGRTMIN") || strings.HasPrefix(name, "SIGRTMAX") {
		base, off := 34, 0
		rest := strings.TrimPrefix(strings.TrimPrefix(name, "SIGRTMIN"), "SIGRTMAX")
		if strings.HasPrefix(name, "SIGRTMAX") {
			base = 64
		}
		if rest != "" {
			n, err := strconv.Atoi(rest)
			if err != nil {
				return 0, errdefs.Invalid(fmt.Errorf("Invalid signal: %s", s))
			}
			off = n
		}
		return syscall.Signal(base + off), nil
	}
	return 0, errdefs.Invalid(fmt.Errorf("Invalid signal: %s", s))
}

func parseSize(v string) (int64, error) { return units.RAMInBytes(v) }
