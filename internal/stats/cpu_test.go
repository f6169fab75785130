package stats

import (
	"errors"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// TestReadCPU: the cheap read agrees with the whole one on what a later
// sample takes from it, on both cgroup versions, and knows a gone cgroup.
func TestReadCPU(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		h := fixtureHost(t, v2, nil)
		target := Target{CgroupPath: "/berth/0123abc"}
		var whole container.StatsResponse
		if err := h.NewReader(target).Read(&whole); err != nil {
			t.Fatal(err)
		}
		var cs container.CPUStats
		if err := h.NewReader(target).ReadCPU(&cs); err != nil {
			t.Fatal(err)
		}
		if cs.CPUUsage.TotalUsage == 0 || cs.CPUUsage.TotalUsage != whole.CPUStats.CPUUsage.TotalUsage {
			t.Errorf("v2=%v: total usage %d, whole read %d", v2, cs.CPUUsage.TotalUsage, whole.CPUStats.CPUUsage.TotalUsage)
		}
		if cs.SystemUsage == 0 || cs.SystemUsage != whole.CPUStats.SystemUsage || cs.OnlineCPUs != whole.CPUStats.OnlineCPUs {
			t.Errorf("v2=%v: system %d/%d CPUs, whole read %d/%d", v2, cs.SystemUsage, cs.OnlineCPUs, whole.CPUStats.SystemUsage, whole.CPUStats.OnlineCPUs)
		}
		if err := h.NewReader(Target{CgroupPath: "/berth/gone"}).ReadCPU(&container.CPUStats{}); !errors.Is(err, ErrNotRunning) {
			t.Errorf("v2=%v: gone cgroup: err = %v, want ErrNotRunning", v2, err)
		}
	}
}
