package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"

	"berth/internal/runtime"
	"berth/internal/shim"
)

// Docker's health check defaults and limits.
const (
	healthDefaultInterval      = 30 * time.Second
	healthDefaultTimeout       = 30 * time.Second
	healthDefaultStartInterval = 5 * time.Second
	healthDefaultRetries       = 3
	healthLogEntries           = 5
	healthMaxOutput            = 4096
)

// probeSpec is a container's health check, resolved to a command.
type probeSpec struct {
	cmd                                        []string
	interval, timeout, startPeriod, startEvery time.Duration
	retries                                    int
}

// healthProbe turns the container's (image-merged) HEALTHCHECK into a
// probe; nil when there is none (no test, or NONE).
func healthProbe(hc *container.HealthConfig) *probeSpec {
	if hc == nil || len(hc.Test) == 0 {
		return nil
	}
	p := &probeSpec{
		interval: hc.Interval, timeout: hc.Timeout, startPeriod: hc.StartPeriod,
		startEvery: hc.StartInterval, retries: hc.Retries,
	}
	switch hc.Test[0] {
	case "CMD":
		p.cmd = hc.Test[1:]
	case "CMD-SHELL":
		if len(hc.Test) < 2 {
			return nil
		}
		p.cmd = []string{"/bin/sh", "-c", hc.Test[1]}
	default: // "NONE", or a form dockerd ignores too
		return nil
	}
	if len(p.cmd) == 0 {
		return nil
	}
	if p.interval <= 0 {
		p.interval = healthDefaultInterval
	}
	if p.timeout <= 0 {
		p.timeout = healthDefaultTimeout
	}
	if p.startEvery <= 0 {
		p.startEvery = healthDefaultStartInterval
	}
	if p.retries <= 0 {
		p.retries = healthDefaultRetries
	}
	return p
}

// watchHealth runs c's health probes while the run that exited closes
// ends. Status starts as "starting"; a passing probe makes it healthy,
// `retries` failing ones in a row (outside the start period) unhealthy.
func (s *Service) watchHealth(c *Container, sh *runtime.Shim, exited chan struct{}) {
	c.mu.Lock()
	p := healthProbe(c.Config.Healthcheck)
	if p == nil {
		c.State.Health = nil
		c.mu.Unlock()
		return
	}
	c.State.Health = &container.Health{Status: container.Starting, Log: []*container.HealthcheckResult{}}
	c.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		began := time.Now()
		for {
			every := p.interval
			inStart := time.Since(began) < p.startPeriod
			if inStart {
				every = p.startEvery
			}
			t := time.NewTimer(every)
			select {
			case <-exited:
				t.Stop()
				return
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			res := s.probe(c, sh, p)
			s.recordHealth(c, p, res, time.Since(began) < p.startPeriod)
		}
	}()
}

// probe runs the check once inside the container.
func (s *Service) probe(c *Container, sh *runtime.Shim, p *probeSpec) *container.HealthcheckResult {
	res := &container.HealthcheckResult{Start: time.Now()}
	finish := func(code int, out string) *container.HealthcheckResult {
		res.End, res.ExitCode, res.Output = time.Now(), code, out
		return res
	}
	proc, err := s.execProcess(c, container.ExecCreateRequest{Cmd: p.cmd})
	if err != nil {
		return finish(-1, err.Error())
	}
	ctx, cancel := context.WithTimeout(s.ctx, p.timeout)
	defer cancel()
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	execID := "health-" + hex.EncodeToString(id)
	conn, _, err := sh.Exec(ctx, execID, shim.Request{Process: proc, NoStdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return finish(-1, err.Error())
	}
	out := make(chan string, 1)
	go func() { out <- readFrames(conn, healthMaxOutput) }()
	var output string
	select {
	case output = <-out:
	case <-ctx.Done():
		conn.Close()
		// dockerd kills a probe that overruns its timeout.
		logErr(s.log, "kill timed-out health probe", sh.KillExec(context.WithoutCancel(ctx), execID, syscall.SIGKILL), "container_id", c.ID)
		return finish(-1, fmt.Sprintf("Health check exceeded timeout (%v)", p.timeout))
	}
	conn.Close()
	st, err := sh.ExecWait(ctx, execID)
	if err != nil {
		if ctx.Err() != nil {
			return finish(-1, fmt.Sprintf("Health check exceeded timeout (%v)", p.timeout))
		}
		return finish(-1, err.Error())
	}
	return finish(st.Code, output)
}

// readFrames collects the payload of a stdcopy stream (both streams, in
// order), keeping at most limit bytes, until the stream ends.
func readFrames(r io.Reader, limit int) string {
	var buf bytes.Buffer
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		room := int64(limit - buf.Len())
		if room > n {
			room = n
		}
		if room > 0 {
			if _, err := io.CopyN(&buf, r, room); err != nil {
				break
			}
		}
		if _, err := io.CopyN(io.Discard, r, n-max(room, 0)); err != nil {
			break
		}
	}
	return buf.String()
}

// recordHealth keeps the result and moves the status, publishing and
// saving a change of status.
func (s *Service) recordHealth(c *Container, p *probeSpec, res *container.HealthcheckResult, inStart bool) {
	c.mu.Lock()
	h := c.State.Health
	if h == nil || !c.State.Running() {
		c.mu.Unlock()
		return
	}
	h.Log = append(h.Log, res)
	if len(h.Log) > healthLogEntries {
		h.Log = h.Log[len(h.Log)-healthLogEntries:]
	}
	old := h.Status
	switch {
	case res.ExitCode == 0:
		h.FailingStreak = 0
		h.Status = container.Healthy
	case inStart && h.Status == container.Starting:
		// Failures while the container starts up do not count.
	default:
		h.FailingStreak++
		if h.FailingStreak >= p.retries {
			h.Status = container.Unhealthy
		}
	}
	changed := h.Status != old
	if changed {
		logErr(s.log, "save container state", s.store.saveLocked(c), "container_id", c.ID)
		c.notifyLocked()
	}
	status := h.Status
	c.mu.Unlock()
	if changed {
		s.publish(c, "health_status: "+string(status), nil)
	}
}
