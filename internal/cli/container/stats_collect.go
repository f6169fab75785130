package container

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"berth/internal/cli/formatter"
)

// statsTimeout is how long a container's collector waits for a sample
// before showing it as "--", as docker does.
const statsTimeout = 2 * time.Second

// statsSet is the containers in the table, in the order they joined.
type statsSet struct {
	mu      sync.Mutex
	entries []*statsEntry // guarded by mu
}

// add starts tracking ref and returns its entry, or nil if it is already
// tracked.
func (s *statsSet) add(ref string) *statsEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.ref == ref {
			return nil
		}
	}
	e := &statsEntry{ref: ref}
	s.entries = append(s.entries, e)
	return e
}

// remove stops showing the container with this ID.
func (s *statsSet) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.entries {
		if e.ref == id {
			s.entries = append(s.entries[:i:i], s.entries[i+1:]...)
			return
		}
	}
}

func (s *statsSet) list() []*statsEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*statsEntry(nil), s.entries...)
}

// rows are the table's rows, one per container.
func (s *statsSet) rows(trunc bool) []any {
	entries := s.list()
	rows := make([]any, len(entries))
	for i, e := range entries {
		row := e.row()
		row.trunc = trunc
		rows[i] = row
	}
	return rows
}

// statsEntry is one container's latest figures.
type statsEntry struct {
	ref string // as the user named it, or the ID

	mu      sync.Mutex
	figures statsFigures // guarded by mu
	err     error        // guarded by mu
}

// statsFigures are what the table shows of one sample, computed with
// docker's arithmetic.
type statsFigures struct {
	name, id            string
	cpuPercent          float64
	mem, memLimit       float64
	memPercent          float64
	netRx, netTx        float64
	blockRead, blkWrite float64
	pids                uint64
	invalid             bool // no sample (yet), or it failed: shown as "--"
}

func (e *statsEntry) set(f statsFigures) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.figures, e.err = f, nil
}

// fail records err; with reset the figures are zeroed too.
func (e *statsEntry) fail(err error, reset bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.err = err
	if reset {
		e.figures = statsFigures{name: e.figures.name, id: e.figures.id}
	}
	e.figures.invalid = true
}

func (e *statsEntry) error() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func (e *statsEntry) row() statsRow {
	e.mu.Lock()
	defer e.mu.Unlock()
	return statsRow{container: e.ref, f: e.figures}
}

// collect reads the container's stats, one sample (stream false) or one a
// second, until ctx ends or the daemon ends the stream. first is called
// once, when the first sample (or error, or timeout) is in.
func (e *statsEntry) collect(ctx context.Context, api client.ContainerAPIClient, stream bool, first func()) {
	var once sync.Once
	firstDone := func() { once.Do(first) }
	defer firstDone()

	res, err := api.ContainerStats(ctx, e.ref, client.ContainerStatsOptions{Stream: stream, IncludePreviousSample: !stream})
	if err != nil {
		e.fail(err, false)
		return
	}
	samples := make(chan error, 1)
	go func() {
		defer res.Body.Close()
		dec := json.NewDecoder(res.Body)
		for {
			var v container.StatsResponse
			err := dec.Decode(&v)
			if err == nil {
				e.set(figuresOf(&v))
			}
			select {
			case samples <- err:
			case <-ctx.Done():
				return
			}
			if err != nil || !stream {
				return
			}
		}
	}()
	timer := time.NewTimer(statsTimeout)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			e.fail(errors.New("timeout waiting for stats"), true)
			firstDone()
		case err := <-samples:
			if err != nil {
				e.fail(err, false)
				if errors.Is(err, io.EOF) {
					return
				}
			}
			firstDone()
		case <-ctx.Done():
			return
		}
		if !stream {
			return
		}
		timer.Reset(statsTimeout)
	}
}

// figuresOf computes a sample's figures as docker's CLI does on Linux.
func figuresOf(v *container.StatsResponse) statsFigures {
	mem := memUsageNoCache(v.MemoryStats)
	f := statsFigures{
		name: v.Name, id: v.ID,
		cpuPercent: cpuPercent(v.PreCPUStats, v.CPUStats),
		mem:        mem, memLimit: float64(v.MemoryStats.Limit),
		pids: v.PidsStats.Current,
	}
	if v.MemoryStats.Limit != 0 {
		f.memPercent = mem / float64(v.MemoryStats.Limit) * 100
	}
	for _, n := range v.Networks {
		f.netRx += float64(n.RxBytes)
		f.netTx += float64(n.TxBytes)
	}
	for _, b := range v.BlkioStats.IoServiceBytesRecursive {
		if b.Op == "" {
			continue
		}
		switch b.Op[0] {
		case 'r', 'R':
			f.blockRead += float64(b.Value)
		case 'w', 'W':
			f.blkWrite += float64(b.Value)
		}
	}
	return f
}

// cpuPercent is the container's share of the host's CPU time between two
// samples, scaled to the number of CPUs: 100% is one busy core.
func cpuPercent(prev, cur container.CPUStats) float64 {
	cpuDelta := float64(cur.CPUUsage.TotalUsage) - float64(prev.CPUUsage.TotalUsage)
	sysDelta := float64(cur.SystemUsage) - float64(prev.SystemUsage)
	cpus := float64(cur.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(cur.CPUUsage.PercpuUsage))
	}
	if sysDelta > 0 && cpuDelta > 0 {
		return cpuDelta / sysDelta * cpus * 100
	}
	return 0
}

// memUsageNoCache is usage without the page cache the kernel can drop at
// once: minus total_inactive_file on cgroup v1, inactive_file on v2.
func memUsageNoCache(m container.MemoryStats) float64 {
	if v, v1 := m.Stats["total_inactive_file"]; v1 && v < m.Usage {
		return float64(m.Usage - v)
	}
	if v := m.Stats["inactive_file"]; v < m.Usage {
		return float64(m.Usage - v)
	}
	return float64(m.Usage)
}

// statsRow is one row for --format: .Container .Name .ID .CPUPerc
// .MemUsage .MemPerc .NetIO .BlockIO .PIDs.
type statsRow struct {
	container string
	f         statsFigures
	trunc     bool
}

const noValue = "--"

func (r statsRow) Container() string { return r.container }

func (r statsRow) Name() string {
	if n := strings.TrimPrefix(r.f.name, "/"); n != "" {
		return n
	}
	return noValue
}

func (r statsRow) ID() string {
	if r.trunc {
		return formatter.TruncateID(r.f.id)
	}
	return r.f.id
}

func (r statsRow) CPUPerc() string {
	if r.f.invalid {
		return noValue
	}
	return percent(r.f.cpuPercent)
}

func (r statsRow) MemUsage() string {
	if r.f.invalid {
		return "-- / --"
	}
	return units.BytesSize(r.f.mem) + " / " + units.BytesSize(r.f.memLimit)
}

func (r statsRow) MemPerc() string {
	if r.f.invalid {
		return noValue
	}
	return percent(r.f.memPercent)
}

func (r statsRow) NetIO() string {
	if r.f.invalid {
		return noValue
	}
	return units.HumanSizeWithPrecision(r.f.netRx, 3) + " / " + units.HumanSizeWithPrecision(r.f.netTx, 3)
}

func (r statsRow) BlockIO() string {
	if r.f.invalid {
		return noValue
	}
	return units.HumanSizeWithPrecision(r.f.blockRead, 3) + " / " + units.HumanSizeWithPrecision(r.f.blkWrite, 3)
}

func (r statsRow) PIDs() string {
	if r.f.invalid {
		return noValue
	}
	return strconv.FormatUint(r.f.pids, 10)
}

// MarshalJSON is the row as {{json .}} shows it: every column as a string.
func (r statsRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Container": r.Container(), "Name": r.Name(), "ID": r.ID(), "CPUPerc": r.CPUPerc(),
		"MemUsage": r.MemUsage(), "MemPerc": r.MemPerc(), "NetIO": r.NetIO(), "BlockIO": r.BlockIO(), "PIDs": r.PIDs(),
	})
}

func percent(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" }

// statsHeader is the table's column titles.
func statsHeader() formatter.Header {
	return formatter.Header{
		"Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %",
		"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
	}
}
