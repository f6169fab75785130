package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"

	"berth/internal/errdefs"
)

// writeTree creates files (relative path → content) under a new root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// v1Tree is a cgroup v1 host with every controller and swap accounting.
func v1Tree(t *testing.T, swap bool) string {
	files := map[string]string{
		"memory/memory.limit_in_bytes":         "",
		"memory/memory.soft_limit_in_bytes":    "",
		"memory/memory.swappiness":             "",
		"memory/memory.oom_control":            "",
		"cpu/cpu.shares":                       "",
		"cpu/cpu.cfs_quota_us":                 "",
		"cpuset/cpuset.cpus":                   "0-1\n",
		"cpuset/cpuset.mems":                   "0\n",
		"blkio/blkio.weight":                   "",
		"blkio/blkio.weight_device":            "",
		"blkio/blkio.throttle.read_bps_device": "",
		"pids/pids.max":                        "",
	}
	if swap {
		files["memory/memory.memsw.limit_in_bytes"] = ""
	}
	return writeTree(t, files)
}

func TestProbeHost(t *testing.T) {
	t.Run("cgroup v1", func(t *testing.T) {
		h := probeHost(v1Tree(t, true), false, "")
		if !h.memory || !h.swap || !h.reservation || !h.swappiness || !h.oomKillDisable || !h.cpuShares || !h.cpuCFS || !h.cpuset || !h.blkioWeight || !h.blkioThrottle || !h.pids {
			t.Errorf("v1 host with every controller: %+v", h)
		}
		if h.cpus != "0-1" || h.mems != "0" || len(h.cpuSet) != 2 || len(h.memSet) != 1 {
			t.Errorf("cpuset: cpus %q %v, mems %q %v", h.cpus, h.cpuSet, h.mems, h.memSet)
		}
	})
	t.Run("cgroup v1 without swap accounting", func(t *testing.T) {
		if h := probeHost(v1Tree(t, false), false, ""); h.swap || !h.memory {
			t.Errorf("swap %v memory %v, want false true", h.swap, h.memory)
		}
	})
	t.Run("cgroup v2", func(t *testing.T) {
		root := writeTree(t, map[string]string{
			"cgroup.controllers":                  "cpuset cpu io memory pids\n",
			"cpuset.cpus.effective":               "0-3\n",
			"cpuset.mems.effective":               "0-1\n",
			"system.slice/berthd/memory.swap.max": "max\n",
		})
		h := probeHost(root, true, "/system.slice/berthd")
		if !h.unified || !h.memory || !h.swap || !h.reservation || !h.cpuShares || !h.cpuCFS || !h.cpuset || !h.blkioWeight || !h.blkioThrottle || !h.pids {
			t.Errorf("v2 host with every controller: %+v", h)
		}
		if h.swappiness || h.oomKillDisable {
			t.Errorf("v2 has no swappiness or oom_control: %+v", h)
		}
		if h.cpus != "0-3" || h.mems != "0-1" || len(h.cpuSet) != 4 || len(h.memSet) != 2 {
			t.Errorf("cpuset: cpus %q %v, mems %q %v", h.cpus, h.cpuSet, h.mems, h.memSet)
		}
		if h := probeHost(root, true, "/"); h.swap {
			t.Error("swap found from the root cgroup, which has no memory.swap.max")
		}
	})
	t.Run("cgroup v2 without controllers", func(t *testing.T) {
		root := writeTree(t, map[string]string{"cgroup.controllers": "pids\n"})
		h := probeHost(root, true, "/x")
		if h.memory || h.cpuCFS || h.cpuset || !h.pids {
			t.Errorf("only pids delegated: %+v", h)
		}
	})
}

// fullHost can limit everything, with two CPUs and one memory node.
func fullHost() hostResources {
	return hostResources{
		numCPU: 2, memory: true, swap: true, reservation: true, swappiness: true, oomKillDisable: true,
		cpuShares: true, cpuCFS: true, cpuset: true, cpus: "0-1", mems: "0",
		cpuSet: map[int]struct{}{0: {}, 1: {}}, memSet: map[int]struct{}{0: {}},
		blkioWeight: true, blkioWeightDevice: true, blkioThrottle: true, pids: true,
	}
}

func i64(v int64) *int64 { return &v }

func TestCheckResources(t *testing.T) {
	const mb = 1 << 20
	cases := []struct {
		doc     string
		r       container.Resources
		host    func(*hostResources)
		update  bool
		wantErr string
		warn    string
		check   func(t *testing.T, r container.Resources)
	}{
		{doc: "the seed's example", r: container.Resources{Memory: 1 << 30, MemoryReservation: 750 * mb, MemorySwap: 1536 * mb, NanoCPUs: 1.5e9, CpusetCpus: "0,1", CPUShares: 512}},
		{doc: "memory below 6MB", r: container.Resources{Memory: 4 * mb}, wantErr: "Minimum memory limit allowed is 6MB"},
		{doc: "negative memory", r: container.Resources{Memory: -5}, wantErr: "Minimum memory limit allowed is 6MB"},
		{doc: "swap below memory", r: container.Resources{Memory: 64 * mb, MemorySwap: 32 * mb}, wantErr: "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{doc: "swap without memory", r: container.Resources{MemorySwap: 64 * mb}, wantErr: "You should always set the Memory limit when using Memoryswap limit, see usage"},
		{doc: "swap without memory on update", r: container.Resources{MemorySwap: 64 * mb}, update: true},
		{doc: "reservation above limit", r: container.Resources{Memory: 64 * mb, MemoryReservation: 128 * mb}, wantErr: "Minimum memory limit can not be less than memory reservation limit, see usage"},
		{doc: "reservation below 6MB", r: container.Resources{MemoryReservation: mb}, wantErr: "Minimum memory reservation allowed is 6MB"},
		{doc: "swappiness out of range", r: container.Resources{MemorySwappiness: i64(101)}, wantErr: "Invalid value: 101, valid memory swappiness range is 0-100"},
		{doc: "swappiness -1 is unset", r: container.Resources{MemorySwappiness: i64(-1)}, check: func(t *testing.T, r container.Resources) {
			if r.MemorySwappiness != nil {
				t.Errorf("swappiness %d kept", *r.MemorySwappiness)
			}
		}},
		{doc: "cpus above the host", r: container.Resources{NanoCPUs: 3e9}, wantErr: "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"},
		{doc: "negative cpus", r: container.Resources{NanoCPUs: -1e9}, wantErr: "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"},
		{doc: "cpus and period", r: container.Resources{NanoCPUs: 1e9, CPUPeriod: 100000}, wantErr: "Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{doc: "cpus and quota", r: container.Resources{NanoCPUs: 1e9, CPUQuota: 50000}, wantErr: "Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
		{doc: "period too small", r: container.Resources{CPUPeriod: 999}, wantErr: "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
		{doc: "quota too small", r: container.Resources{CPUQuota: 500}, wantErr: "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{doc: "quota -1 is unlimited", r: container.Resources{CPUQuota: -1}},
		{doc: "negative shares", r: container.Resources{CPUShares: -2}, wantErr: "shares: invalid argument"},
		{doc: "cpuset not on this host", r: container.Resources{CpusetCpus: "0,7"}, wantErr: "Requested CPUs are not available - requested 0,7, available: 0-1"},
		{doc: "cpuset unparsable", r: container.Resources{CpusetCpus: "0-a"}, wantErr: "Invalid value 0-a for cpuset cpus: invalid format: 0-a"},
		{doc: "cpuset absurd", r: container.Resources{CpusetCpus: "0-9223372036854775807"}, wantErr: "Invalid value 0-9223372036854775807 for cpuset cpus: value of out range, maximum is 8192"},
		{doc: "memory node not on this host", r: container.Resources{CpusetMems: "1"}, wantErr: "Requested memory nodes are not available - requested 1, available: 0"},
		{doc: "blkio weight out of range", r: container.Resources{BlkioWeight: 5}, wantErr: "Range of blkio weight is from 10 to 1000"},
		{doc: "windows IO limits", r: container.Resources{IOMaximumIOps: 5}, wantErr: "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps"},
		{
			doc: "no swap accounting: swap discarded", r: container.Resources{Memory: 64 * mb, MemorySwap: 128 * mb},
			host: func(h *hostResources) { h.swap = false },
			warn: "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
			check: func(t *testing.T, r container.Resources) {
				if r.MemorySwap != -1 || r.Memory != 64*mb {
					t.Errorf("memory %d swap %d, want 64MB and -1", r.Memory, r.MemorySwap)
				}
			},
		},
		{
			doc: "cgroup v2: swappiness discarded", r: container.Resources{MemorySwappiness: i64(10)},
			host: func(h *hostResources) { h.swappiness = false },
			warn: "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.",
		},
		{
			doc: "oom killer disabled without a limit", r: container.Resources{OomKillDisable: new(true)},
			warn: "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.",
		},
		{
			doc: "no pids controller", r: container.Resources{PidsLimit: i64(20)},
			host: func(h *hostResources) { h.pids = false },
			warn: "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.",
		},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			h := fullHost()
			if tc.host != nil {
				tc.host(&h)
			}
			r := tc.r
			warnings, err := checkResources(&r, h, tc.update)
			switch {
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tc.wantErr)
			case tc.wantErr != "" && err.Error() != tc.wantErr:
				t.Fatalf("error %q, want %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %q, want none", err)
			}
			if tc.warn != "" && !strings.Contains(strings.Join(warnings, "\n"), tc.warn) {
				t.Errorf("warnings %q lack %q", warnings, tc.warn)
			}
			if tc.warn == "" && len(warnings) > 0 {
				t.Errorf("unexpected warnings %q", warnings)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestCheckHostConfigResourcesClassifiesAsInvalid(t *testing.T) {
	cases := []struct {
		doc  string
		hc   container.HostConfig
		want string
	}{
		{doc: "resources", hc: container.HostConfig{Resources: container.Resources{Memory: 1}}, want: "Minimum memory limit allowed is 6MB"},
		{doc: "negative shm", hc: container.HostConfig{ShmSize: -1}, want: "SHM size can not be less than 0"},
		{doc: "oom score", hc: container.HostConfig{OomScoreAdj: 1001}, want: "Invalid value 1001, range for oom score adj is [-1000, 1000]"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			_, err := checkHostConfigResources(&tc.hc, fullHost(), false)
			if err == nil || err.Error() != tc.want || !errdefs.IsInvalid(err) {
				t.Fatalf("error %v (invalid: %v), want invalid %q", err, errdefs.IsInvalid(err), tc.want)
			}
		})
	}
}

func TestResourceDefaults(t *testing.T) {
	hc := container.HostConfig{Resources: container.Resources{Memory: 32 << 20, PidsLimit: i64(-1)}}
	resourceDefaults(&hc)
	if hc.MemorySwap != 64<<20 {
		t.Errorf("MemorySwap %d, want twice the memory", hc.MemorySwap)
	}
	if hc.ShmSize != 64<<20 {
		t.Errorf("ShmSize %d, want 64MB", hc.ShmSize)
	}
	if hc.OomKillDisable == nil || *hc.OomKillDisable {
		t.Errorf("OomKillDisable %v, want false", hc.OomKillDisable)
	}
	if hc.PidsLimit != nil {
		t.Errorf("PidsLimit %d, want unset", *hc.PidsLimit)
	}
	hc = container.HostConfig{Resources: container.Resources{Memory: 32 << 20, MemorySwap: -1}}
	resourceDefaults(&hc)
	if hc.MemorySwap != -1 {
		t.Errorf("MemorySwap %d, want -1 kept", hc.MemorySwap)
	}
}
