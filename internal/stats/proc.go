package stats

import (
	"fmt"

	"github.com/moby/moby/api/types/container"
)

// readSystemCPU sets the host's CPU time and online CPUs from /proc/stat,
// as dockerd computes them: the first seven columns (user … steal) of the
// "cpu" line in nanoseconds, and the number of "cpuN" lines.
func (r *Reader) readSystemCPU(cs *container.CPUStats) error {
	b, err := r.readFile(fProcStat)
	if err != nil {
		return err
	}
	var arr [12][]byte
	var bad error
	done := false
	eachLine(b, func(line []byte) {
		if done || bad != nil {
			return
		}
		// The cpu lines come first (glibc counts CPUs the same way).
		if len(line) < 4 || string(line[:3]) != "cpu" {
			done = true
			return
		}
		if line[3] >= '0' && line[3] <= '9' {
			cs.OnlineCPUs++
			return
		}
		f := fields(arr[:0], line)
		if len(f) < 8 {
			bad = fmt.Errorf("%s: short cpu line %q", r.paths[fProcStat], line)
			return
		}
		var ticks uint64
		for _, v := range f[1:8] {
			n, ok := parseUint(v)
			if !ok {
				bad = fmt.Errorf("%s: bad cpu line %q", r.paths[fProcStat], line)
				return
			}
			ticks += n
		}
		cs.SystemUsage = ticks * 1e9 / clockTicks
	})
	return bad
}

// readNetDev reads the counters of every interface but lo from the
// container's /proc/<pid>/net/dev; nil when it has none (--network none).
//
//	Inter-|   Receive                            …|  Transmit
//	 face |bytes packets errs drop fifo frame …   |bytes packets errs drop …
//	  eth0:  1296      16    0    0    0     0 …      726       9    0    0 …
func (r *Reader) readNetDev() (map[string]container.NetworkStats, error) {
	b, err := r.readFile(fNetDev)
	if err != nil {
		return nil, err
	}
	var nets map[string]container.NetworkStats
	var arr [20][]byte
	var bad error
	eachLine(b, func(line []byte) {
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
		}
		if colon < 0 || bad != nil {
			return // the two header lines
		}
		name := trimSpace(line[:colon])
		if string(name) == "lo" {
			return
		}
		f := fields(arr[:0], line[colon+1:])
		if len(f) < 16 {
			bad = fmt.Errorf("%s: short line %q", r.paths[fNetDev], line)
			return
		}
		var v [16]uint64
		for i := range v {
			n, ok := parseUint(f[i])
			if !ok {
				bad = fmt.Errorf("%s: bad line %q", r.paths[fNetDev], line)
				return
			}
			v[i] = n
		}
		if nets == nil {
			nets = map[string]container.NetworkStats{}
		}
		nets[string(name)] = container.NetworkStats{
			RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrors: v[10], TxDropped: v[11],
		}
	})
	return nets, bad
}
