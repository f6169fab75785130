package container

import (
	"context"
	"errors"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"berth/internal/stats"
)

// statsInterval is how often dockerd's collector samples a container: one
// streamed response a second, and the gap between the two samples of a
// non-streamed one.
const statsInterval = time.Second

// StatsTarget is what sampling a container's statistics needs to know
// about it, read under its lock at one moment.
type StatsTarget struct {
	ID   string
	Name string // with the leading "/", as dockerd reports it
	// Running is false for a stopped or restarting container, which
	// dockerd answers with a zeroed sample.
	Running bool
	// Pid is the init process on the host.
	Pid int
	// CgroupPath is the cgroup berth gave the runtime: /<parent>/<id>.
	CgroupPath string
	// Network is whether the container's network namespace is its own (or
	// another container's) and so has counters to report: not with the
	// host's network or with networking disabled.
	Network bool
}

// StatsTarget returns what stats needs to sample the container ref.
func (s *Service) StatsTarget(ref string) (StatsTarget, error) {
	c, err := s.store.get(ref)
	if err != nil {
		return StatsTarget{}, err
	}
	return s.statsTarget(c), nil
}

func (s *Service) statsTarget(c *Container) StatsTarget {
	c.mu.Lock()
	defer c.mu.Unlock()
	return StatsTarget{
		ID:         c.ID,
		Name:       c.Name,
		Running:    c.State.Running() && c.State.Pid > 0,
		Pid:        c.State.Pid,
		CgroupPath: "/" + s.cfg.CgroupParent + "/" + c.ID,
		Network:    !c.Config.NetworkDisabled && !c.HostConfig.NetworkMode.IsHost(),
	}
}

// StatsOptions are GET /containers/{id}/stats's parameters.
type StatsOptions struct {
	// Stream sends a sample every second until the client leaves or the
	// container is removed.
	Stream bool
	// OneShot, without Stream, answers one sample at once, with no
	// previous sample (precpu_stats) to compute rates from.
	OneShot bool
}

// Stats samples the container ref and hands each response to emit, as
// dockerd does (API 1.52): without Stream, one response whose precpu_stats
// and preread come from a sample taken a second earlier (none with
// OneShot), or a zeroed one if the container is not running; with Stream,
// a response every second, each carrying the one before as its previous
// sample (the first carries none), zeroed while the container is stopped,
// until ctx ends or the container is removed.
//
// Each sample reads the cgroup and /proc files directly; nothing is forked.
// The previous sample of a one-off request usually comes from the keeper
// (warmStats).
func (s *Service) Stats(ctx context.Context, ref string, opts StatsOptions, emit func(*ctypes.StatsResponse) error) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	t := s.statsTarget(c)
	if !opts.Stream && !t.Running {
		return emit(zeroStats(t))
	}
	host, err := s.statsHost()
	if err != nil {
		return err
	}
	s.wantStats()
	smp := &sampler{host: host}
	if !opts.Stream {
		cur, err := smp.sample(t)
		if err != nil {
			return err
		}
		if !opts.OneShot {
			// The previous sample is one kept from an earlier request
			// when it is recent enough to give a rate (`watch docker
			// stats --no-stream` answers at once); else one taken a
			// second from now, as dockerd does.
			prev := c.recentStats(cur.Read)
			if prev == nil {
				// With a sample too young to give a rate, wait until
				// it is old enough; with none, a second.
				wait := statsInterval
				if y := c.youngStats(cur.Read); y != nil {
					prev, wait = y, statsKeepMin-cur.Read.Sub(y.Read)
				}
				if !waitStats(ctx, c, wait) {
					return nil
				}
				if prev == nil {
					prev = cur
				}
				if cur, err = smp.sample(s.statsTarget(c)); err != nil {
					return err
				}
			}
			cur.PreRead, cur.PreCPUStats = prev.Read, prev.CPUStats
		}
		c.keepStats(cur)
		return emit(cur)
	}

	var prev ctypes.StatsResponse
	warned := false
	for {
		cur, err := smp.sample(t)
		if err != nil {
			// A stream goes on as dockerd's collector does: the client
			// sees a zeroed sample, the log says why once.
			if !warned {
				s.log.Warn("collecting stats", "container_id", t.ID, "error", err.Error())
				warned = true
			}
			cur = zeroStats(t)
		}
		cur.PreRead, cur.PreCPUStats = prev.Read, prev.CPUStats
		c.keepStats(cur)
		if err := emit(cur); err != nil {
			return err
		}
		prev = *cur
		if !waitStats(ctx, c, statsInterval) {
			return nil
		}
		t = s.statsTarget(c)
	}
}

// waitStats waits d, and reports false if ctx ended or the container was
// removed first.
func waitStats(ctx context.Context, c *Container, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	case <-c.removed:
		return false
	}
}

// zeroStats is dockerd's answer for a container with nothing to sample:
// its identity and nothing else.
func zeroStats(t StatsTarget) *ctypes.StatsResponse {
	return &ctypes.StatsResponse{ID: t.ID, Name: t.Name, OSType: "linux"}
}

// sampler keeps one stats.Reader for as long as the container keeps its
// process, so a stream reuses the reader's buffer and paths.
type sampler struct {
	host   *stats.Host
	reader *stats.Reader
	pid    int
}

// readerFor is the reader of t's current process, made anew when the
// container's process changed.
func (m *sampler) readerFor(t StatsTarget) *stats.Reader {
	if m.reader == nil || m.pid != t.Pid {
		netPid := 0
		if t.Network {
			netPid = t.Pid
		}
		m.reader = m.host.NewReader(stats.Target{CgroupPath: t.CgroupPath, Pid: netPid})
		m.pid = t.Pid
	}
	return m.reader
}

// sampleCPU reads only the CPU times a later sample needs as its previous
// one.
func (m *sampler) sampleCPU(t StatsTarget) (*ctypes.StatsResponse, error) {
	if !t.Running {
		return zeroStats(t), nil
	}
	resp := &ctypes.StatsResponse{ID: t.ID, Name: t.Name, OSType: "linux", Read: time.Now().UTC()}
	if err := m.readerFor(t).ReadCPU(&resp.CPUStats); err != nil {
		if errors.Is(err, stats.ErrNotRunning) {
			return zeroStats(t), nil
		}
		return nil, err
	}
	return resp, nil
}

// sample reads one response. A container that is not running (or stopped
// between the look and the read) gives a zeroed response.
func (m *sampler) sample(t StatsTarget) (*ctypes.StatsResponse, error) {
	if !t.Running {
		return zeroStats(t), nil
	}
	resp := &ctypes.StatsResponse{ID: t.ID, Name: t.Name, OSType: "linux", Read: time.Now().UTC()}
	if err := m.readerFor(t).Read(resp); err != nil {
		if errors.Is(err, stats.ErrNotRunning) {
			return zeroStats(t), nil
		}
		return nil, err
	}
	return resp, nil
}

// Kept samples serve as the previous sample of a later one-off request
// when they are at least statsKeepMin and at most statsKeepMax old.
//
// Two CFS periods at least, so that a CPU limit shows in the rate (a
// shorter window can catch a limited container before its quota runs out).
const (
	statsKeepMin = 200 * time.Millisecond
	statsKeepMax = 30 * time.Second
)

// keepStats remembers sample as c's latest; the one before stays too, for
// a request that comes right after a sample was kept.
func (c *Container) keepStats(sample *ctypes.StatsResponse) {
	cp := *sample
	c.mu.Lock()
	c.olderStats, c.lastStats = c.lastStats, &cp
	c.mu.Unlock()
}

// recentStats is the newest of c's kept samples that can be the previous
// one of a sample read at now, else nil.
func (c *Container) recentStats(now time.Time) *ctypes.StatsResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range []*ctypes.StatsResponse{c.lastStats, c.olderStats} {
		if k == nil {
			continue
		}
		if age := now.Sub(k.Read); age >= statsKeepMin && age <= statsKeepMax {
			return k
		}
	}
	// In its first seconds a container's whole life is a fair window.
	if b := c.startStats; b != nil && !b.Read.Before(c.State.StartedAt) && now.Sub(b.Read) >= statsKeepMin && now.Sub(b.Read) <= statsKeepMax {
		return b
	}
	return nil
}

// baseStats keeps a sample of the CPU times taken as c starts, the
// previous sample of a request that comes before the keeper has one.
func (s *Service) baseStats(c *Container) {
	host, err := s.statsHost()
	if err != nil {
		return
	}
	t := s.statsTarget(c)
	if !t.Running {
		return
	}
	cur, err := (&sampler{host: host}).sampleCPU(t)
	if err != nil || cur.Read.IsZero() {
		return
	}
	c.mu.Lock()
	c.startStats = cur
	c.mu.Unlock()
}

// youngStats is the oldest of c's kept samples of the current run that
// is still too young to give a rate at now, else nil.
func (c *Container) youngStats(now time.Time) *ctypes.StatsResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *ctypes.StatsResponse
	for _, k := range []*ctypes.StatsResponse{c.lastStats, c.olderStats, c.startStats} {
		if k == nil || k.Read.Before(c.State.StartedAt) || now.Sub(k.Read) >= statsKeepMin || now.Before(k.Read) {
			continue
		}
		if best == nil || k.Read.Before(best.Read) {
			best = k
		}
	}
	return best
}

// statsHost finds the host's cgroup layout once.
func (s *Service) statsHost() (*stats.Host, error) {
	s.statsOnce.Do(func() { s.stats, s.statsErr = stats.Detect() })
	return s.stats, s.statsErr
}

// A one-off request (`docker stats --no-stream`) needs a previous sample
// to give CPU rates. dockerd takes one and waits a second; berth keeps one
// at hand instead: while containers run, a keeper reads every running
// container's CPU time every statsWarmEvery (one cgroup file and
// /proc/stat each), and for statsWarmFor after a request (dashboards,
// `watch docker stats --no-stream`) it keeps whole samples. With no
// container running nothing is sampled.
const (
	statsWarmEvery = 2 * time.Second
	statsWarmFor   = 5 * time.Minute
)

// wantStats notes a stats request: whole samples for a while.
func (s *Service) wantStats() {
	s.statsMu.Lock()
	s.statsWanted = time.Now()
	s.statsMu.Unlock()
	s.keepStatsWarm()
}

// keepStatsWarm starts the keeper if it is idle; called after every start.
func (s *Service) keepStatsWarm() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if s.statsWarming {
		return
	}
	s.statsWarming = true
	s.wg.Add(1)
	go s.warmStats()
}

// warmStats samples the running containers every statsWarmEvery: whole
// samples within statsWarmFor of a request, CPU time only otherwise. It
// ends when no container runs (a start brings it back) or the service
// closes.
func (s *Service) warmStats() {
	defer s.wg.Done()
	host, err := s.statsHost()
	samplers := map[string]*sampler{}
	t := time.NewTicker(statsWarmEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			s.statsMu.Lock()
			s.statsWarming = false
			s.statsMu.Unlock()
			return
		case <-t.C:
		}
		s.statsMu.Lock()
		whole := time.Since(s.statsWanted) <= statsWarmFor
		s.statsMu.Unlock()
		seen := map[string]bool{}
		for _, c := range s.store.all() {
			tg := s.statsTarget(c)
			if !tg.Running {
				continue
			}
			seen[tg.ID] = true
			if err != nil {
				continue
			}
			m := samplers[tg.ID]
			if m == nil {
				m = &sampler{host: host}
				samplers[tg.ID] = m
			}
			sample := m.sampleCPU
			if whole {
				sample = m.sample
			}
			if cur, err := sample(tg); err == nil {
				c.keepStats(cur)
			}
		}
		for id := range samplers {
			if !seen[id] {
				delete(samplers, id)
			}
		}
		if len(seen) == 0 && s.stopWarmingIfIdle() {
			return
		}
	}
}

// stopWarmingIfIdle ends the keeper when, looked at again under statsMu, no
// container runs; a start that happened meanwhile sees statsWarming and
// relies on this look.
func (s *Service) stopWarmingIfIdle() bool {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	for _, c := range s.store.all() {
		if s.statsTarget(c).Running {
			return false
		}
	}
	s.statsWarming = false
	return true
}
