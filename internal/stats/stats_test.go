package stats

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// memTotal is testdata/proc/meminfo's MemTotal in bytes.
const memTotal = 8135212 * 1024

// systemUsage is testdata/proc/stat's user…steal ticks in nanoseconds.
const systemUsage = (186183 + 0 + 175553 + 435305 + 11744 + 0 + 1878) * 10_000_000

func fixtureHost(t *testing.T, v2 bool, mounts map[string]string) *Host {
	t.Helper()
	root := "testdata/v1/sys/fs/cgroup"
	if v2 {
		root = "testdata/v2/sys/fs/cgroup"
	}
	h, err := New(Config{CgroupV2: v2, CgroupRoot: root, Mounts: mounts, ProcRoot: "testdata/proc"})
	if err != nil {
		t.Fatal(err)
	}
	if h.MemTotal() != memTotal {
		t.Fatalf("MemTotal = %d, want %d from testdata/proc/meminfo", h.MemTotal(), memTotal)
	}
	return h
}

func read(t *testing.T, h *Host, target Target) container.StatsResponse {
	t.Helper()
	var s container.StatsResponse
	if err := h.NewReader(target).Read(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func entries(spec ...any) []container.BlkioStatEntry {
	var out []container.BlkioStatEntry
	for i := 0; i < len(spec); i += 4 {
		out = append(out, container.BlkioStatEntry{Major: uint64(spec[i].(int)), Minor: uint64(spec[i+1].(int)), Op: spec[i+2].(string), Value: uint64(spec[i+3].(int))})
	}
	return out
}

var wantNets = map[string]container.NetworkStats{
	"eth0": {RxBytes: 1296, RxPackets: 16, RxErrors: 1, RxDropped: 2, TxBytes: 726, TxPackets: 9, TxErrors: 3, TxDropped: 4},
	"eth1": {RxBytes: 10, RxPackets: 1, TxBytes: 20, TxPackets: 2},
}

func TestReadV1(t *testing.T) {
	h := fixtureHost(t, false, nil)
	s := read(t, h, Target{CgroupPath: "/berth/0123abc", Pid: 4242})

	wantCPU := container.CPUStats{
		CPUUsage: container.CPUUsage{
			TotalUsage: 1_500_000_000, PercpuUsage: []uint64{1_000_000_000, 500_000_000},
			UsageInUsermode: 120 * 10_000_000, UsageInKernelmode: 30 * 10_000_000,
		},
		SystemUsage:    systemUsage,
		OnlineCPUs:     2,
		ThrottlingData: container.ThrottlingData{Periods: 50, ThrottledPeriods: 20, ThrottledTime: 987654321},
	}
	if !reflect.DeepEqual(s.CPUStats, wantCPU) {
		t.Errorf("CPUStats =\n%+v\nwant\n%+v", s.CPUStats, wantCPU)
	}

	m := s.MemoryStats
	if m.Usage != 23068672 || m.MaxUsage != 25165824 || m.Failcnt != 3 {
		t.Errorf("memory usage/max/failcnt = %d/%d/%d", m.Usage, m.MaxUsage, m.Failcnt)
	}
	if m.Limit != memTotal {
		t.Errorf("memory limit = %d, want the host's %d for an unlimited container", m.Limit, uint64(memTotal))
	}
	if len(m.Stats) != len(v1MemoryKeys()) {
		t.Errorf("memory stats has %d keys, want dockerd's %d: %v", len(m.Stats), len(v1MemoryKeys()), m.Stats)
	}
	for k, want := range map[string]uint64{"total_inactive_file": 1572864, "inactive_file": 1572864, "rss": 20480000, "cache": 2097152, "hierarchical_memory_limit": 9223372036854771712, "unevictable": 0} {
		if got, ok := m.Stats[k]; !ok || got != want {
			t.Errorf("memory stats[%q] = %d (present %v), want %d", k, got, ok, want)
		}
	}
	for _, k := range []string{"swap", "shmem", "total_workingset_refault_file"} {
		if _, ok := m.Stats[k]; ok {
			t.Errorf("memory stats has %q, which dockerd does not report", k)
		}
	}

	wantBytes := entries(8, 0, "Read", 4096000, 8, 0, "Write", 8192, 8, 0, "Sync", 8192, 8, 0, "Async", 4096000, 8, 0, "Discard", 0, 8, 0, "Total", 4104192)
	wantIOs := entries(8, 0, "Read", 100, 8, 0, "Write", 2, 8, 0, "Sync", 2, 8, 0, "Async", 100, 8, 0, "Discard", 0, 8, 0, "Total", 102)
	if !reflect.DeepEqual(s.BlkioStats.IoServiceBytesRecursive, wantBytes) {
		t.Errorf("io_service_bytes_recursive = %+v", s.BlkioStats.IoServiceBytesRecursive)
	}
	if !reflect.DeepEqual(s.BlkioStats.IoServicedRecursive, wantIOs) {
		t.Errorf("io_serviced_recursive = %+v", s.BlkioStats.IoServicedRecursive)
	}
	// dockerd's v1 answer has every blkio list, empty ones as [].
	b, err := json.Marshal(s.BlkioStats)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "null") || !strings.Contains(string(b), `"sectors_recursive":[]`) {
		t.Errorf("blkio_stats JSON = %s, want [] for the lists the kernel does not keep", b)
	}

	if s.PidsStats != (container.PidsStats{Current: 3, Limit: 0}) {
		t.Errorf("pids = %+v, want current 3 and limit 0 for max (as containerd's v1 reader)", s.PidsStats)
	}
	if !reflect.DeepEqual(s.Networks, wantNets) {
		t.Errorf("networks = %+v, want %+v (no lo)", s.Networks, wantNets)
	}
}

func TestReadV2(t *testing.T) {
	h := fixtureHost(t, true, nil)
	cases := []struct {
		doc       string
		target    Target
		cpu       container.CPUUsage
		throttle  container.ThrottlingData
		mem       [3]uint64 // usage, limit, failcnt
		memStat   map[string]uint64
		blkio     []container.BlkioStatEntry
		pids      container.PidsStats
		nets      map[string]container.NetworkStats
		wantNoKey []string
	}{
		{
			doc:       "limited memory, unlimited pids, two disks, eth0 and eth1",
			target:    Target{CgroupPath: "/berth/0123abc", Pid: 4242},
			cpu:       container.CPUUsage{TotalUsage: 2_500_000_000, UsageInUsermode: 2_000_000_000, UsageInKernelmode: 500_000_000},
			throttle:  container.ThrottlingData{Periods: 40, ThrottledPeriods: 12, ThrottledTime: 600_000_000},
			mem:       [3]uint64{31457280, 67108864, 2},
			memStat:   map[string]uint64{"inactive_file": 3145728, "anon": 26214400, "file": 4194304, "slab": 700000, "pgfault": 7000, "thp_collapse_alloc": 0},
			blkio:     entries(8, 0, "read", 4096000, 8, 0, "write", 8192, 253, 1, "read", 512, 253, 1, "write", 0),
			pids:      container.PidsStats{Current: 4, Limit: math.MaxUint64},
			nets:      wantNets,
			wantNoKey: []string{"kernel", "pagetables", "zswap", "workingset_refault_file"},
		},
		{
			doc:     "unlimited memory, pids limit, no I/O, no memory.events, no network",
			target:  Target{CgroupPath: "/berth/limited"},
			cpu:     container.CPUUsage{TotalUsage: 10_000, UsageInUsermode: 6_000, UsageInKernelmode: 4_000},
			mem:     [3]uint64{1048576, memTotal, 0},
			memStat: map[string]uint64{"anon": 1048576, "inactive_file": 0, "file": 0},
			pids:    container.PidsStats{Current: 1, Limit: 20},
		},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			s := read(t, h, tc.target)
			if !reflect.DeepEqual(s.CPUStats.CPUUsage, tc.cpu) || s.CPUStats.ThrottlingData != tc.throttle {
				t.Errorf("cpu = %+v %+v, want %+v %+v", s.CPUStats.CPUUsage, s.CPUStats.ThrottlingData, tc.cpu, tc.throttle)
			}
			if s.CPUStats.SystemUsage != systemUsage || s.CPUStats.OnlineCPUs != 2 {
				t.Errorf("system usage %d on %d CPUs, want %d on 2", s.CPUStats.SystemUsage, s.CPUStats.OnlineCPUs, uint64(systemUsage))
			}
			m := s.MemoryStats
			if got := [3]uint64{m.Usage, m.Limit, m.Failcnt}; got != tc.mem {
				t.Errorf("memory usage/limit/failcnt = %v, want %v", got, tc.mem)
			}
			if m.MaxUsage != 0 {
				t.Errorf("max_usage = %d; dockerd reports none on v2", m.MaxUsage)
			}
			if len(m.Stats) != len(v2MemoryKeys()) {
				t.Errorf("memory stats has %d keys, want dockerd's %d", len(m.Stats), len(v2MemoryKeys()))
			}
			for k, want := range tc.memStat {
				if got, ok := m.Stats[k]; !ok || got != want {
					t.Errorf("memory stats[%q] = %d (present %v), want %d", k, got, ok, want)
				}
			}
			for _, k := range tc.wantNoKey {
				if _, ok := m.Stats[k]; ok {
					t.Errorf("memory stats has %q, which dockerd does not report", k)
				}
			}
			if !reflect.DeepEqual(s.BlkioStats.IoServiceBytesRecursive, tc.blkio) {
				t.Errorf("io_service_bytes_recursive = %+v, want %+v", s.BlkioStats.IoServiceBytesRecursive, tc.blkio)
			}
			if s.BlkioStats.IoServicedRecursive != nil || s.BlkioStats.SectorsRecursive != nil {
				t.Errorf("v2 blkio has lists dockerd leaves null: %+v", s.BlkioStats)
			}
			if s.PidsStats != tc.pids {
				t.Errorf("pids = %+v, want %+v", s.PidsStats, tc.pids)
			}
			if !reflect.DeepEqual(s.Networks, tc.nets) {
				t.Errorf("networks = %+v, want %+v", s.Networks, tc.nets)
			}
		})
	}
}

func TestNotRunning(t *testing.T) {
	cases := []struct {
		doc    string
		v2     bool
		target Target
	}{
		{doc: "v1 cgroup gone", target: Target{CgroupPath: "/berth/gone"}},
		{doc: "v2 cgroup gone", v2: true, target: Target{CgroupPath: "/berth/gone"}},
		{doc: "v1 process gone", target: Target{CgroupPath: "/berth/0123abc", Pid: 999999}},
		{doc: "v2 process gone", v2: true, target: Target{CgroupPath: "/berth/0123abc", Pid: 999999}},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			var s container.StatsResponse
			err := fixtureHost(t, tc.v2, nil).NewReader(tc.target).Read(&s)
			if !errors.Is(err, ErrNotRunning) {
				t.Fatalf("Read = %v, want ErrNotRunning", err)
			}
		})
	}
}

func TestParseV1Mounts(t *testing.T) {
	f, err := os.Open("testdata/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := parseV1Mounts(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"memory": "/sys/fs/cgroup/memory", "blkio": "/sys/fs/cgroup/blk io", "pids": "/sys/fs/cgroup/pids",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("mount of %s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["cgroup2"]; ok {
		t.Errorf("the cgroup2 mount is not a v1 controller: %v", got)
	}
}

// TestCombinedCPUHierarchy reads a host that mounts cpu and cpuacct as one
// hierarchy ("cpu,cpuacct"), the usual v1 layout.
func TestCombinedCPUHierarchy(t *testing.T) {
	dir := t.TempDir()
	combined := filepath.Join(dir, "cpu,cpuacct")
	cg := filepath.Join(combined, "berth", "c1")
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"cpuacct.usage": "77\n", "cpu.stat": "nr_periods 9\nnr_throttled 1\nthrottled_time 5\n"} {
		if err := os.WriteFile(filepath.Join(cg, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := New(Config{CgroupRoot: dir, Mounts: map[string]string{"cpu": combined, "cpuacct": combined}, ProcRoot: "testdata/proc"})
	if err != nil {
		t.Fatal(err)
	}
	s := read(t, h, Target{CgroupPath: "/berth/c1"})
	if s.CPUStats.CPUUsage.TotalUsage != 77 || s.CPUStats.ThrottlingData.Periods != 9 {
		t.Errorf("cpu = %+v", s.CPUStats)
	}
	// The controllers this host lacks read as zero, not as an error.
	if s.MemoryStats.Usage != 0 || s.PidsStats.Current != 0 || len(s.BlkioStats.IoServiceBytesRecursive) != 0 {
		t.Errorf("missing controllers: %+v %+v", s.MemoryStats, s.PidsStats)
	}
}

// TestThisHost reads the real root cgroup and this process's network
// namespace with the detected layout.
func TestThisHost(t *testing.T) {
	h, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	var s container.StatsResponse
	if err := h.NewReader(Target{CgroupPath: "/", Pid: os.Getpid()}).Read(&s); err != nil {
		t.Fatal(err)
	}
	if s.CPUStats.CPUUsage.TotalUsage == 0 || s.CPUStats.SystemUsage == 0 || s.CPUStats.OnlineCPUs == 0 {
		t.Errorf("cpu = %+v", s.CPUStats)
	}
	if !h.CgroupV2() && (s.MemoryStats.Usage == 0 || len(s.CPUStats.CPUUsage.PercpuUsage) == 0) {
		t.Errorf("v1 root cgroup: memory %+v, per-CPU %v", s.MemoryStats, s.CPUStats.CPUUsage.PercpuUsage)
	}
	if _, ok := s.Networks["lo"]; ok {
		t.Errorf("networks include lo: %v", s.Networks)
	}
}

// TestReadAllocations keeps a sample cheap: the Reader reuses its buffer
// and paths, so what remains is the response's own maps and slices.
func TestReadAllocations(t *testing.T) {
	h := fixtureHost(t, false, nil)
	r := h.NewReader(Target{CgroupPath: "/berth/0123abc", Pid: 4242})
	allocs := testing.AllocsPerRun(50, func() {
		var s container.StatsResponse
		if err := r.Read(&s); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 30 {
		t.Errorf("%.0f allocations per sample, want at most 30", allocs)
	}
}
