package stats

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/moby/moby/api/types/container"
)

// v1MemoryKeys are the memory.stat keys dockerd reports on cgroup v1.
func v1MemoryKeys() []string {
	return []string{
		"cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback",
		"pgpgin", "pgpgout", "pgfault", "pgmajfault",
		"inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable",
		"hierarchical_memory_limit", "hierarchical_memsw_limit",
		"total_cache", "total_rss", "total_rss_huge", "total_mapped_file", "total_dirty", "total_writeback",
		"total_pgpgin", "total_pgpgout", "total_pgfault", "total_pgmajfault",
		"total_inactive_anon", "total_active_anon", "total_inactive_file", "total_active_file", "total_unevictable",
	}
}

// readV1 reads the controllers' files of a cgroup v1 container.
func (r *Reader) readV1(s *container.StatsResponse) error {
	// cpuacct.usage is the one file every running container has: its
	// absence means the cgroup is gone.
	usage, err := r.readFile(fCPUUsage)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	if err != nil {
		return err
	}
	cpu := &s.CPUStats.CPUUsage
	var ok bool
	if cpu.TotalUsage, ok = parseUint(trimSpace(usage)); !ok {
		return fmt.Errorf("%s: not a number: %q", r.paths[fCPUUsage], usage)
	}
	if err := r.readV1CPU(&s.CPUStats); err != nil {
		return err
	}
	if err := r.readV1Memory(&s.MemoryStats); err != nil {
		return err
	}
	if err := r.readV1Blkio(&s.BlkioStats); err != nil {
		return err
	}
	if s.PidsStats.Current, err = r.readUint(fPidsCurrent, 0); err != nil {
		return err
	}
	// containerd's v1 reader (and so dockerd) reports "max" as 0.
	if s.PidsStats.Limit, err = r.readUint(fPidsMax, 0); err != nil {
		return err
	}
	return nil
}

// readV1CPU reads per-CPU usage, user and system time, and throttling.
func (r *Reader) readV1CPU(cs *container.CPUStats) error {
	var arr [64][]byte
	b, err := r.readOptional(fCPUPercpu)
	if err != nil {
		return err
	}
	if f := fields(arr[:0], trimSpace(b)); len(f) > 0 {
		cs.CPUUsage.PercpuUsage = make([]uint64, len(f))
		for i, v := range f {
			cs.CPUUsage.PercpuUsage[i], _ = parseUint(v)
		}
	}
	// cpuacct.stat counts clock ticks; dockerd reports nanoseconds.
	if b, err = r.readOptional(fCPUAcctStat); err != nil {
		return err
	}
	eachLine(b, func(line []byte) {
		k, v, ok := keyValue(line)
		switch {
		case !ok:
		case string(k) == "user":
			cs.CPUUsage.UsageInUsermode = v * (1e9 / clockTicks)
		case string(k) == "system":
			cs.CPUUsage.UsageInKernelmode = v * (1e9 / clockTicks)
		}
	})
	if b, err = r.readOptional(fCPUStat); err != nil {
		return err
	}
	eachLine(b, func(line []byte) {
		k, v, ok := keyValue(line)
		switch {
		case !ok:
		case string(k) == "nr_periods":
			cs.ThrottlingData.Periods = v
		case string(k) == "nr_throttled":
			cs.ThrottlingData.ThrottledPeriods = v
		case string(k) == "throttled_time":
			cs.ThrottlingData.ThrottledTime = v
		}
	})
	return nil
}

// readV1Memory reads usage, peak, limit, failures and memory.stat.
func (r *Reader) readV1Memory(ms *container.MemoryStats) error {
	var err error
	if ms.Usage, err = r.readUint(fMemUsage, 0); err != nil {
		return err
	}
	if ms.MaxUsage, err = r.readUint(fMemMaxUsage, 0); err != nil {
		return err
	}
	limit, err := r.readUint(fMemLimit, 0)
	if err != nil {
		return err
	}
	ms.Limit = r.memLimit(limit)
	if ms.Failcnt, err = r.readUint(fMemFailcnt, 0); err != nil {
		return err
	}
	b, err := r.readOptional(fMemStat)
	if err != nil {
		return err
	}
	ms.Stats = r.memStats(b)
	return nil
}

// readV1Blkio reads the throttle policy's byte and operation counts, the
// ones every v1 kernel keeps (CFQ's are gone since Linux 5.0). dockerd
// reports every list, empty when the kernel has nothing for it.
func (r *Reader) readV1Blkio(bs *container.BlkioStats) error {
	var err error
	if bs.IoServiceBytesRecursive, err = r.readV1BlkioFile(fIOBytes); err != nil {
		return err
	}
	if bs.IoServicedRecursive, err = r.readV1BlkioFile(fIOServiced); err != nil {
		return err
	}
	bs.IoQueuedRecursive = []container.BlkioStatEntry{}
	bs.IoServiceTimeRecursive = []container.BlkioStatEntry{}
	bs.IoWaitTimeRecursive = []container.BlkioStatEntry{}
	bs.IoMergedRecursive = []container.BlkioStatEntry{}
	bs.IoTimeRecursive = []container.BlkioStatEntry{}
	bs.SectorsRecursive = []container.BlkioStatEntry{}
	return nil
}

// readV1BlkioFile parses lines of "MAJ:MIN Op value", skipping the closing
// "Total value" line.
func (r *Reader) readV1BlkioFile(i int) ([]container.BlkioStatEntry, error) {
	b, err := r.readOptional(i)
	if err != nil {
		return nil, err
	}
	out := make([]container.BlkioStatEntry, 0, 8)
	var arr [4][]byte
	var bad []byte
	eachLine(b, func(line []byte) {
		f := fields(arr[:0], line)
		if len(f) != 3 {
			return // "Total N"
		}
		major, minor, ok1 := majorMinor(f[0])
		v, ok2 := parseUint(f[2])
		if !ok1 || !ok2 {
			bad = line
			return
		}
		out = append(out, container.BlkioStatEntry{Major: major, Minor: minor, Op: string(f[1]), Value: v})
	})
	if bad != nil {
		return nil, fmt.Errorf("%s: bad line %q", r.paths[i], bad)
	}
	return out, nil
}

// majorMinor parses "8:16".
func majorMinor(b []byte) (uint64, uint64, bool) {
	for i, c := range b {
		if c == ':' {
			major, ok1 := parseUint(b[:i])
			minor, ok2 := parseUint(b[i+1:])
			return major, minor, ok1 && ok2
		}
	}
	return 0, 0, false
}
