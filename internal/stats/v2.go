package stats

import (
	"errors"
	"fmt"
	"io/fs"
	"math"

	"github.com/moby/moby/api/types/container"
)

// v2MemoryKeys are the memory.stat keys dockerd reports on cgroup v2.
func v2MemoryKeys() []string {
	return []string{
		"anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty", "file_writeback",
		"anon_thp", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable",
		"slab_reclaimable", "slab_unreclaimable", "pgfault", "pgmajfault",
		"workingset_refault", "workingset_activate", "workingset_nodereclaim",
		"pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed",
		"thp_fault_alloc", "thp_collapse_alloc",
	}
}

// readV2 reads a cgroup v2 container's files. Times are in microseconds
// there; dockerd reports nanoseconds. v2 has no per-CPU usage and no peak
// in dockerd's answer.
func (r *Reader) readV2(s *container.StatsResponse) error {
	// cpu.stat exists in every v2 cgroup, controller enabled or not: its
	// absence means the cgroup is gone.
	b, err := r.readFile(fCPUStat)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	if err != nil {
		return err
	}
	cs := &s.CPUStats
	eachLine(b, func(line []byte) {
		k, v, ok := keyValue(line)
		if !ok {
			return
		}
		switch string(k) {
		case "usage_usec":
			cs.CPUUsage.TotalUsage = v * 1000
		case "user_usec":
			cs.CPUUsage.UsageInUsermode = v * 1000
		case "system_usec":
			cs.CPUUsage.UsageInKernelmode = v * 1000
		case "nr_periods":
			cs.ThrottlingData.Periods = v
		case "nr_throttled":
			cs.ThrottlingData.ThrottledPeriods = v
		case "throttled_usec":
			cs.ThrottlingData.ThrottledTime = v * 1000
		}
	})
	if err := r.readV2Memory(&s.MemoryStats); err != nil {
		return err
	}
	if s.BlkioStats.IoServiceBytesRecursive, err = r.readIOStat(); err != nil {
		return err
	}
	if s.PidsStats.Current, err = r.readUint(fPidsCurrent, 0); err != nil {
		return err
	}
	if s.PidsStats.Limit, err = r.readUint(fPidsMax, math.MaxUint64); err != nil {
		return err
	}
	return nil
}

// readV2Memory reads memory.current, memory.max, memory.stat, and the
// "oom" count of memory.events, which dockerd reports as failcnt.
func (r *Reader) readV2Memory(ms *container.MemoryStats) error {
	var err error
	if ms.Usage, err = r.readUint(fMemUsage, 0); err != nil {
		return err
	}
	limit, err := r.readUint(fMemLimit, math.MaxUint64)
	if err != nil {
		return err
	}
	ms.Limit = r.memLimit(limit)
	b, err := r.readOptional(fMemStat)
	if err != nil {
		return err
	}
	ms.Stats = r.memStats(b)
	if b, err = r.readOptional(fMemFailcnt); err != nil {
		return err
	}
	eachLine(b, func(line []byte) {
		if k, v, ok := keyValue(line); ok && string(k) == "oom" {
			ms.Failcnt = v
		}
	})
	return nil
}

// readIOStat turns io.stat lines ("8:0 rbytes=1 wbytes=2 rios=3 …") into
// dockerd's read and write byte entries per device; nil when there are
// none, as dockerd answers.
func (r *Reader) readIOStat() ([]container.BlkioStatEntry, error) {
	b, err := r.readOptional(fIOBytes)
	if err != nil {
		return nil, err
	}
	var out []container.BlkioStatEntry
	var arr [8][]byte
	eachLine(b, func(line []byte) {
		f := fields(arr[:0], line)
		if len(f) < 2 {
			return
		}
		major, minor, ok := majorMinor(f[0])
		if !ok {
			return
		}
		var rb, wb uint64
		for _, kv := range f[1:] {
			for i, c := range kv {
				if c != '=' {
					continue
				}
				v, ok := parseUint(kv[i+1:])
				if !ok {
					break
				}
				switch string(kv[:i]) {
				case "rbytes":
					rb = v
				case "wbytes":
					wb = v
				}
				break
			}
		}
		out = append(out,
			container.BlkioStatEntry{Major: major, Minor: minor, Op: "read", Value: rb},
			container.BlkioStatEntry{Major: major, Minor: minor, Op: "write", Value: wb})
	})
	return out, nil
}
