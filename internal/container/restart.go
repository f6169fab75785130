package container

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"

	"berth/internal/errdefs"
	"berth/internal/shim"
)

// Docker's restart back-off: the first restart waits 100 ms, each next one
// twice as long up to a minute; a run of 10 s or more resets it.
const (
	restartBackoffStart = 100 * time.Millisecond
	restartBackoffMax   = time.Minute
	restartResetAfter   = 10 * time.Second
)

// restartDecisionLocked says whether c, which just ended with st, is to be
// restarted by its policy, and after how long. It updates the back-off.
// Preconditions: c.mu held; c.State still describes the run that ended.
func (c *Container) restartDecisionLocked(st shim.ExitStatus) (bool, time.Duration) {
	if c.stopping || c.HostConfig.AutoRemove {
		return false, 0
	}
	p := c.HostConfig.RestartPolicy
	switch p.Name {
	case "always", "unless-stopped":
	case "on-failure":
		if st.Code == 0 {
			return false, 0
		}
		if p.MaximumRetryCount > 0 && c.RestartCount >= p.MaximumRetryCount {
			return false, 0
		}
	default:
		return false, 0
	}
	ran := time.Since(c.State.StartedAt)
	switch {
	case c.backoff == 0 || ran >= restartResetAfter:
		c.backoff = restartBackoffStart
	default:
		c.backoff *= 2
		if c.backoff > restartBackoffMax {
			c.backoff = restartBackoffMax
		}
	}
	return true, c.backoff
}

// scheduleRestart starts c again after delay, unless a stop, kill or
// removal cancels it first (cancelRestartLocked).
func (s *Service) scheduleRestart(c *Container, delay time.Duration) {
	c.mu.Lock()
	cancel := make(chan struct{})
	c.restartCancel = cancel
	c.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-cancel:
			return
		case <-s.ctx.Done():
			return
		}
		c.mu.Lock()
		if c.restartCancel != cancel || c.State.Status != container.StateRestarting {
			c.mu.Unlock()
			return
		}
		c.restartCancel = nil
		c.busy = true
		c.mu.Unlock()
		err := s.start(s.ctx, c)
		c.mu.Lock()
		c.busy = false
		if err != nil && c.State.Status == container.StateRestarting {
			// The start failed: the container stays down, with the reason.
			c.State.Status = container.StateExited
			c.State.Error = err.Error()
			logErr(s.log, "save container state", s.store.saveLocked(c), "container_id", c.ID)
			c.notifyLocked()
		}
		c.mu.Unlock()
		if err != nil {
			s.log.Warn("restart by policy failed", "container_id", c.ID, "error", err.Error())
			return
		}
		s.publish(c, "restart", nil)
	}()
}

// cancelRestartLocked ends a pending restart: the container is then
// exited. It reports whether there was one.
// Preconditions: c.mu held.
func (s *Service) cancelRestartLocked(c *Container) bool {
	if c.State.Status != container.StateRestarting {
		return false
	}
	if c.restartCancel != nil {
		close(c.restartCancel)
		c.restartCancel = nil
	}
	c.State.Status = container.StateExited
	logErr(s.log, "save container state", s.store.saveLocked(c), "container_id", c.ID)
	c.notifyLocked()
	return true
}

// isFatalSignal is Docker's rule for kill: SIGKILL and the container's stop
// signal end the restart policy until the next start; other signals (USR1,
// HUP, …) leave it in place.
func (c *Container) isFatalSignalLocked(sig syscall.Signal) bool {
	if sig == syscall.SIGKILL {
		return true
	}
	stop := syscall.SIGTERM
	if c.Config.StopSignal != "" {
		if s, err := ParseSignal(c.Config.StopSignal); err == nil {
			stop = s
		}
	}
	return sig == stop
}

// restartOnBoot starts, after berthd starts, the stopped containers whose
// policy asks for it: always (even if stopped by hand), unless-stopped (if
// not), on-failure (after a failure, within its retries).
func (s *Service) restartOnBoot(ctx context.Context) {
	for _, c := range s.store.all() {
		c.mu.Lock()
		p := c.HostConfig.RestartPolicy
		st := c.State
		want := false
		// A container whose exit restore just handled is already due to
		// restart (StateRestarting) and keeps its count.
		if st.Status == container.StateExited {
			switch p.Name {
			case "always":
				want = true
			case "unless-stopped":
				want = !c.ManuallyStopped
			case "on-failure":
				want = !c.ManuallyStopped && st.ExitCode != 0 &&
					(p.MaximumRetryCount == 0 || c.RestartCount < p.MaximumRetryCount)
			}
		}
		c.mu.Unlock()
		if !want {
			continue
		}
		if err := s.Start(ctx, c.ID); err != nil && !errors.Is(err, errdefs.ErrNotModified) {
			s.log.Warn("start by restart policy after daemon start", "container_id", c.ID, "error", err.Error())
		}
	}
}
