package container

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// cgroupMount is where the kernel's cgroup hierarchies are mounted.
const cgroupMount = "/sys/fs/cgroup"

const (
	// minMemory is dockerd's smallest memory limit or reservation: not a
	// kernel limit, room for a container to start at all.
	minMemory = 6 << 20
	// defaultShmSize is /dev/shm's size when none is asked for (64 MiB),
	// which dockerd records in HostConfig.ShmSize.
	defaultShmSize = 64 << 20
	// maxCpusetEntries bounds the CPU and memory-node numbers a cpuset may
	// name, so "0-9223372036854775807" cannot exhaust memory (CVE-2018-20699).
	maxCpusetEntries = 8192
)

// hostResources is what the host's cgroups can limit, as dockerd's sysinfo
// probes it: a setting the host cannot apply is discarded with a warning,
// one it can apply is checked against what exists (CPUs, memory nodes).
type hostResources struct {
	unified bool // cgroup v2
	numCPU  int

	memory, swap, reservation, swappiness, oomKillDisable bool
	cpuShares, cpuCFS                                     bool
	cpuset                                                bool
	cpus, mems                                            string // as the kernel lists them, e.g. "0-1"
	cpuSet, memSet                                        map[int]struct{}
	blkioWeight, blkioWeightDevice, blkioThrottle         bool
	pids                                                  bool
}

// probeHost inspects the cgroup hierarchies under root. selfGroup is the
// calling process's cgroup v2 path (for the swap probe, as dockerd does:
// the root cgroup has no memory.swap.max).
func probeHost(root string, unified bool, selfGroup string) hostResources {
	h := hostResources{unified: unified, numCPU: goruntime.NumCPU()}
	exists := func(parts ...string) bool {
		_, err := os.Stat(filepath.Join(append([]string{root}, parts...)...))
		return err == nil
	}
	var cpusFile, memsFile string
	if unified {
		controllers := map[string]bool{}
		if data, err := os.ReadFile(filepath.Join(root, "cgroup.controllers")); err == nil {
			for _, c := range strings.Fields(string(data)) {
				controllers[c] = true
			}
		}
		h.memory = controllers["memory"]
		h.reservation = h.memory
		h.swap = h.memory && selfGroup != "" && selfGroup != "/" && exists(selfGroup, "memory.swap.max")
		h.cpuShares, h.cpuCFS = controllers["cpu"], controllers["cpu"]
		h.blkioWeight, h.blkioWeightDevice, h.blkioThrottle = controllers["io"], controllers["io"], controllers["io"]
		h.pids = controllers["pids"]
		h.cpuset = controllers["cpuset"]
		cpusFile, memsFile = filepath.Join(root, "cpuset.cpus.effective"), filepath.Join(root, "cpuset.mems.effective")
	} else {
		h.memory = exists("memory")
		h.swap = exists("memory", "memory.memsw.limit_in_bytes")
		h.reservation = exists("memory", "memory.soft_limit_in_bytes")
		h.swappiness = exists("memory", "memory.swappiness")
		h.oomKillDisable = exists("memory", "memory.oom_control")
		h.cpuShares = exists("cpu", "cpu.shares")
		h.cpuCFS = exists("cpu", "cpu.cfs_quota_us")
		h.blkioWeight = exists("blkio", "blkio.weight")
		h.blkioWeightDevice = exists("blkio", "blkio.weight_device")
		h.blkioThrottle = exists("blkio", "blkio.throttle.read_bps_device")
		h.pids = exists("pids")
		h.cpuset = exists("cpuset")
		cpusFile, memsFile = filepath.Join(root, "cpuset", "cpuset.cpus"), filepath.Join(root, "cpuset", "cpuset.mems")
	}
	if h.cpuset {
		if data, err := os.ReadFile(cpusFile); err == nil {
			h.cpus = strings.TrimSpace(string(data))
			h.cpuSet, _ = parseCPUList(h.cpus, 0)
		}
		if data, err := os.ReadFile(memsFile); err == nil {
			h.mems = strings.TrimSpace(string(data))
			h.memSet, _ = parseCPUList(h.mems, 0)
		}
	}
	return h
}

// thisHost probes the host berthd runs on.
func thisHost() hostResources {
	var st unix.Statfs_t
	unified := unix.Statfs(cgroupMount, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	return probeHost(cgroupMount, unified, ownCgroupV2())
}

// ownCgroupV2 is this process's cgroup v2 path ("0::/path" in
// /proc/self/cgroup), or "".
func ownCgroupV2() string {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return p
		}
	}
	return ""
}

// validateResources rejects resource settings dockerd rejects at create
// time (negative or impossible sizes, cpus beyond the host, unknown
// cpusets), with Docker's messages, then fills what dockerd fills: swap
// twice the memory limit, the default /dev/shm size, OomKillDisable false,
// no pids limit for 0 or negative values. Nothing is created before it
// runs, so a rejection leaves nothing behind.
func (s *Service) validateResources(hc *container.HostConfig) error {
	_, err := s.createResources(hc)
	return err
}

// createResources is validateResources with the warnings dockerd returns
// from create (a limit this host cannot apply, discarded).
func (s *Service) createResources(hc *container.HostConfig) ([]string, error) {
	warnings, err := checkHostConfigResources(hc, thisHost(), false)
	if err != nil {
		return warnings, err
	}
	resourceDefaults(hc)
	return warnings, nil
}

// checkHostConfigResources checks the resources and the settings next to
// them that dockerd's verifyPlatformContainerSettings checks.
func checkHostConfigResources(hc *container.HostConfig, h hostResources, update bool) ([]string, error) {
	warnings, err := checkResources(&hc.Resources, h, update)
	if err != nil {
		return warnings, errdefs.Invalid(err)
	}
	if hc.ShmSize < 0 {
		return warnings, errdefs.Invalid(errors.New("SHM size can not be less than 0"))
	}
	if hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000 {
		return warnings, errdefs.Invalid(fmt.Errorf("Invalid value %d, range for oom score adj is [-1000, 1000]", hc.OomScoreAdj))
	}
	return warnings, nil
}

// resourceDefaults fills what dockerd decides at create.
func resourceDefaults(hc *container.HostConfig) {
	if hc.Memory > 0 && hc.MemorySwap == 0 {
		hc.MemorySwap = 2 * hc.Memory
	}
	if hc.ShmSize == 0 {
		hc.ShmSize = defaultShmSize
	}
	if hc.OomKillDisable == nil {
		b := false
		hc.OomKillDisable = &b
	}
	if hc.PidsLimit != nil && *hc.PidsLimit <= 0 {
		hc.PidsLimit = nil
	}
}

// checkResources is dockerd's verifyPlatformContainerResources: it rejects
// impossible settings with dockerd's messages (unclassified: the caller
// classifies them) and discards, with a warning, what this host cannot
// limit. update relaxes the checks that only make sense for a whole
// configuration.
func checkResources(r *container.Resources, h hostResources, update bool) (warnings []string, _ error) {
	// The CLI sends -1 for "not set".
	if r.MemorySwappiness != nil && *r.MemorySwappiness == -1 {
		r.MemorySwappiness = nil
	}

	// Memory.
	if r.Memory != 0 && r.Memory < minMemory {
		return warnings, errors.New("Minimum memory limit allowed is 6MB")
	}
	if r.Memory > 0 && !h.memory {
		warnings = append(warnings, "Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.Memory = 0
		r.MemorySwap = -1
	}
	if r.Memory > 0 && r.MemorySwap != -1 && !h.swap {
		warnings = append(warnings, "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
		r.MemorySwap = -1
	}
	if r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return warnings, errors.New("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if r.Memory == 0 && r.MemorySwap > 0 && !update {
		return warnings, errors.New("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if r.MemorySwappiness != nil && !h.swappiness {
		warnings = append(warnings, "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.")
		r.MemorySwappiness = nil
	}
	if r.MemorySwappiness != nil && (*r.MemorySwappiness < 0 || *r.MemorySwappiness > 100) {
		return warnings, fmt.Errorf("Invalid value: %v, valid memory swappiness range is 0-100", *r.MemorySwappiness)
	}
	if r.MemoryReservation > 0 && !h.reservation {
		warnings = append(warnings, "Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.MemoryReservation = 0
	}
	if r.MemoryReservation != 0 && r.MemoryReservation < minMemory {
		return warnings, errors.New("Minimum memory reservation allowed is 6MB")
	}
	if r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation {
		return warnings, errors.New("Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if r.OomKillDisable != nil && !h.oomKillDisable {
		if *r.OomKillDisable {
			warnings = append(warnings, "Your kernel does not support OomKillDisable. OomKillDisable discarded.")
		}
		r.OomKillDisable = nil
	}
	if r.OomKillDisable != nil && *r.OomKillDisable && r.Memory == 0 {
		warnings = append(warnings, "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.")
	}
	if r.PidsLimit != nil && !h.pids {
		if *r.PidsLimit > 0 {
			warnings = append(warnings, "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.")
		}
		r.PidsLimit = nil
	}

	// CPU.
	if r.NanoCPUs > 0 && r.CPUPeriod > 0 {
		return warnings, errors.New("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if r.NanoCPUs > 0 && r.CPUQuota > 0 {
		return warnings, errors.New("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	if r.NanoCPUs > 0 && !h.cpuCFS {
		return warnings, errors.New("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted")
	}
	if r.NanoCPUs < 0 || r.NanoCPUs > int64(h.numCPU)*1e9 {
		return warnings, fmt.Errorf("Range of CPUs is from 0.01 to %[1]d.00, as there are only %[1]d CPUs available", h.numCPU)
	}
	if r.CPUShares < 0 {
		// dockerd finds this only when it builds the spec, after the
		// container exists; it is caught here so nothing is left behind.
		return warnings, errors.New("shares: invalid argument")
	}
	if r.CPUShares > 0 && !h.cpuShares {
		warnings = append(warnings, "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.")
		r.CPUShares = 0
	}
	if (r.CPUPeriod != 0 || r.CPUQuota != 0) && !h.cpuCFS {
		warnings = append(warnings, "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
		r.CPUPeriod, r.CPUQuota = 0, 0
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return warnings, errors.New("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota > 0 && r.CPUQuota < 1000 {
		return warnings, errors.New("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if r.CPUPercent > 0 {
		warnings = append(warnings, "linux does not support CPU percent. Percent discarded.")
		r.CPUPercent = 0
	}

	// Cpuset.
	if (r.CpusetCpus != "" || r.CpusetMems != "") && !h.cpuset {
		warnings = append(warnings, "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.")
		r.CpusetCpus, r.CpusetMems = "", ""
	}
	ok, err := cpusetAvailable(r.CpusetCpus, h.cpuSet)
	if err != nil {
		return warnings, fmt.Errorf("Invalid value %s for cpuset cpus: %w", r.CpusetCpus, err)
	}
	if !ok {
		return warnings, fmt.Errorf("Requested CPUs are not available - requested %s, available: %s", r.CpusetCpus, h.cpus)
	}
	ok, err = cpusetAvailable(r.CpusetMems, h.memSet)
	if err != nil {
		return warnings, fmt.Errorf("Invalid value %s for cpuset mems: %w", r.CpusetMems, err)
	}
	if !ok {
		return warnings, fmt.Errorf("Requested memory nodes are not available - requested %s, available: %s", r.CpusetMems, h.mems)
	}

	// Block I/O.
	if r.BlkioWeight > 0 && !h.blkioWeight {
		warnings = append(warnings, "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
		r.BlkioWeight = 0
	}
	if r.BlkioWeight > 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return warnings, errors.New("Range of blkio weight is from 10 to 1000")
	}
	if r.IOMaximumBandwidth != 0 || r.IOMaximumIOps != 0 {
		return warnings, errors.New("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps")
	}
	if len(r.BlkioWeightDevice) > 0 && !h.blkioWeightDevice {
		warnings = append(warnings, "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.")
		r.BlkioWeightDevice = nil
	}
	if !h.blkioThrottle {
		for _, t := range []struct {
			devs *[]*blkiodev.ThrottleDevice
			msg  string
		}{
			{&r.BlkioDeviceReadBps, "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded."},
			{&r.BlkioDeviceWriteBps, "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded."},
			{&r.BlkioDeviceReadIOps, "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded."},
			{&r.BlkioDeviceWriteIOps, "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded."},
		} {
			if len(*t.devs) > 0 {
				warnings = append(warnings, t.msg)
				*t.devs = nil
			}
		}
	}
	return warnings, nil
}

// cpusetAvailable reports whether every CPU (or memory node) the list
// names is in available. An empty list asks for nothing.
func cpusetAvailable(list string, available map[int]struct{}) (bool, error) {
	if list == "" {
		return true, nil
	}
	limit := maxCpusetEntries
	for n := range available {
		limit = max(limit, n)
	}
	want, err := parseCPUList(list, limit)
	if err != nil {
		return false, err
	}
	for n := range want {
		if _, ok := available[n]; !ok {
			return false, nil
		}
	}
	return true, nil
}

// parseCPUList parses a cpuset list as the kernel writes it ("0-3,7"),
// with dockerd's messages. A positive limit bounds the numbers.
func parseCPUList(list string, limit int) (map[int]struct{}, error) {
	out := map[int]struct{}{}
	if list == "" {
		return out, nil
	}
	invalid := fmt.Errorf("invalid format: %s", list)
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			return nil, invalid
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first {
				return nil, invalid
			}
		}
		if limit > 0 && last > limit {
			return nil, fmt.Errorf("value of out range, maximum is %d", limit)
		}
		for n := first; n <= last; n++ {
			out[n] = struct{}{}
		}
	}
	return out, nil
}
