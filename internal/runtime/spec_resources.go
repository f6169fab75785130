package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// rlimitResources maps Docker's --ulimit names to the kernel's resources.
var rlimitResources = map[string]int{
	"as":         unix.RLIMIT_AS,
	"core":       unix.RLIMIT_CORE,
	"cpu":        unix.RLIMIT_CPU,
	"data":       unix.RLIMIT_DATA,
	"fsize":      unix.RLIMIT_FSIZE,
	"locks":      unix.RLIMIT_LOCKS,
	"memlock":    unix.RLIMIT_MEMLOCK,
	"msgqueue":   unix.RLIMIT_MSGQUEUE,
	"nice":       unix.RLIMIT_NICE,
	"nofile":     unix.RLIMIT_NOFILE,
	"nproc":      unix.RLIMIT_NPROC,
	"rss":        unix.RLIMIT_RSS,
	"rtprio":     unix.RLIMIT_RTPRIO,
	"rttime":     unix.RLIMIT_RTTIME,
	"sigpending": unix.RLIMIT_SIGPENDING,
	"stack":      unix.RLIMIT_STACK,
}

// defaultNofile is the open-files limit a Docker container sees: dockerd's
// systemd unit runs with LimitNOFILE=infinity, which the kernel caps at
// fs.nr_open (1048576), and containers inherit it.
const defaultNofile = 1048576

// containerRlimits returns the process's rlimits: Docker's open-files limit
// overridden or extended by --ulimit. Raising a hard limit above our own
// needs CAP_SYS_RESOURCE; on a host whose bounding set lacks it (berthd in
// a container) every limit is clamped to this process's hard limit, or the
// runtime would fail to start the container at all.
func containerRlimits(ulimits []*container.Ulimit, hostCaps []string) ([]specs.POSIXRlimit, error) {
	type limit struct {
		name       string
		soft, hard uint64
	}
	limits := []limit{{"nofile", defaultNofile, defaultNofile}}
	for _, u := range ulimits {
		if u == nil {
			continue
		}
		name := strings.ToLower(u.Name)
		if _, ok := rlimitResources[name]; !ok {
			return nil, errdefs.Invalid(fmt.Errorf("invalid ulimit type: %s", u.Name))
		}
		if u.Soft > u.Hard && u.Hard >= 0 {
			return nil, errdefs.Invalid(fmt.Errorf("ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard))
		}
		l := limit{name, toRlim(u.Soft), toRlim(u.Hard)}
		if i := slices.IndexFunc(limits, func(x limit) bool { return x.name == name }); i >= 0 {
			limits[i] = l
		} else {
			limits = append(limits, l)
		}
	}
	clamp := !slices.Contains(hostCaps, "CAP_SYS_RESOURCE")
	out := make([]specs.POSIXRlimit, 0, len(limits))
	for _, l := range limits {
		if clamp {
			var cur unix.Rlimit
			if err := unix.Getrlimit(rlimitResources[l.name], &cur); err != nil {
				return nil, fmt.Errorf("getrlimit %s: %w", l.name, err)
			}
			l.hard = min(l.hard, cur.Max)
			l.soft = min(l.soft, l.hard)
		}
		out = append(out, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(l.name), Soft: l.soft, Hard: l.hard})
	}
	return out, nil
}

// toRlim converts a --ulimit value, where -1 means unlimited.
func toRlim(v int64) uint64 {
	if v < 0 {
		return unix.RLIM_INFINITY
	}
	return uint64(v)
}

// containerResources converts HostConfig's cgroup settings as Docker's
// WithResources does (memory, CPU, pids, block I/O weight).
func containerResources(r container.Resources) (*specs.LinuxResources, error) {
	out := &specs.LinuxResources{}

	mem := &specs.LinuxMemory{}
	if r.Memory > 0 {
		mem.Limit = ptr(r.Memory)
	}
	if r.MemoryReservation > 0 {
		mem.Reservation = ptr(r.MemoryReservation)
	}
	// Swap is memory plus swap. -1 ("unlimited") is the cgroup's default
	// and is not written, as dockerd does not: runc would fail on a host
	// without swap accounting, where dockerd stores -1 for every limit.
	if r.MemorySwap > 0 {
		mem.Swap = ptr(r.MemorySwap)
	}
	if r.MemorySwappiness != nil && *r.MemorySwappiness >= 0 {
		mem.Swappiness = ptr(uint64(*r.MemorySwappiness))
	}
	if r.OomKillDisable != nil {
		mem.DisableOOMKiller = ptr(*r.OomKillDisable)
	}
	if *mem != (specs.LinuxMemory{}) {
		out.Memory = mem
	}

	if r.CPUShares < 0 {
		return nil, errdefs.Invalid(fmt.Errorf("shares: invalid argument"))
	}
	if r.NanoCPUs > 0 && (r.CPUPeriod > 0 || r.CPUQuota > 0) {
		return nil, errdefs.Invalid(errors.New("Conflicting options: Nano CPUs and CPU Period cannot both be set"))
	}
	cpu := &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
	if r.CPUShares > 0 {
		cpu.Shares = ptr(uint64(r.CPUShares))
	}
	if r.NanoCPUs > 0 {
		// Docker's --cpus: a 100ms CFS period and the matching quota.
		const period = 100000
		cpu.Period = ptr(uint64(period))
		cpu.Quota = ptr(r.NanoCPUs * period / 1e9)
	}
	if r.CPUPeriod != 0 {
		cpu.Period = ptr(uint64(r.CPUPeriod))
	}
	if r.CPUQuota != 0 {
		cpu.Quota = ptr(r.CPUQuota)
	}
	if r.CPURealtimePeriod != 0 {
		cpu.RealtimePeriod = ptr(uint64(r.CPURealtimePeriod))
	}
	if r.CPURealtimeRuntime != 0 {
		cpu.RealtimeRuntime = ptr(r.CPURealtimeRuntime)
	}
	if *cpu != (specs.LinuxCPU{}) {
		out.CPU = cpu
	}

	if r.PidsLimit != nil {
		limit := *r.PidsLimit
		if limit <= 0 {
			// The API takes 0 and negatives as "unlimited"; runtimes want -1.
			limit = -1
		}
		out.Pids = &specs.LinuxPids{Limit: &limit}
	}
	blkio, err := blockIO(r)
	if err != nil {
		return nil, err
	}
	if blkio != nil {
		out.BlockIO = blkio
	}
	return out, nil
}

// Resources converts a container's cgroup settings as its spec holds them;
// `runtime update --resources` takes the same JSON for a running container.
func Resources(r container.Resources) (*specs.LinuxResources, error) {
	return containerResources(r)
}

// blockIO converts --blkio-weight, --blkio-weight-device and the
// --device-{read,write}-{bps,iops} throttles. The cgroup names a device by
// its numbers, so each host path is looked up now.
func blockIO(r container.Resources) (*specs.LinuxBlockIO, error) {
	out := &specs.LinuxBlockIO{}
	if r.BlkioWeight != 0 {
		out.Weight = ptr(r.BlkioWeight)
	}
	for _, d := range r.BlkioWeightDevice {
		if d == nil {
			continue
		}
		major, minor, err := deviceNumbers(d.Path)
		if err != nil {
			return nil, err
		}
		wd := specs.LinuxWeightDevice{Weight: ptr(d.Weight)}
		wd.Major, wd.Minor = major, minor
		out.WeightDevice = append(out.WeightDevice, wd)
	}
	for _, t := range []struct {
		from []*blkiodev.ThrottleDevice
		to   *[]specs.LinuxThrottleDevice
	}{
		{r.BlkioDeviceReadBps, &out.ThrottleReadBpsDevice},
		{r.BlkioDeviceWriteBps, &out.ThrottleWriteBpsDevice},
		{r.BlkioDeviceReadIOps, &out.ThrottleReadIOPSDevice},
		{r.BlkioDeviceWriteIOps, &out.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.from {
			if d == nil {
				continue
			}
			major, minor, err := deviceNumbers(d.Path)
			if err != nil {
				return nil, err
			}
			td := specs.LinuxThrottleDevice{Rate: d.Rate}
			td.Major, td.Minor = major, minor
			*t.to = append(*t.to, td)
		}
	}
	if out.Weight == nil && len(out.WeightDevice) == 0 && len(out.ThrottleReadBpsDevice) == 0 &&
		len(out.ThrottleWriteBpsDevice) == 0 && len(out.ThrottleReadIOPSDevice) == 0 && len(out.ThrottleWriteIOPSDevice) == 0 {
		return nil, nil
	}
	return out, nil
}

// deviceNumbers returns the major and minor numbers of a host device.
func deviceNumbers(path string) (int64, int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, errdefs.Invalid(&os.PathError{Op: "stat", Path: path, Err: err})
	}
	return int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev)), nil
}

func ptr[T any](v T) *T { return &v }

// defaultDeviceRules is the device cgroup of an unprivileged container:
// Docker's list (deny everything, allow the standard character devices,
// deny /dev/net/tun) with the rules runc would add on its own written out
// (mknod of any device, /dev/full, /dev/ptmx, the PTYs), so crun, which does
// not add them, behaves the same.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	rule := func(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		r := specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Access: access}
		if major >= 0 {
			r.Major = ptr(major)
		}
		if minor >= 0 {
			r.Minor = ptr(minor)
		}
		return r
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		rule(true, "c", 1, 3, "rwm"),     // null
		rule(true, "c", 1, 5, "rwm"),     // zero
		rule(true, "c", 1, 7, "rwm"),     // full
		rule(true, "c", 1, 8, "rwm"),     // random
		rule(true, "c", 1, 9, "rwm"),     // urandom
		rule(true, "c", 5, 0, "rwm"),     // tty
		rule(true, "c", 5, 1, "rwm"),     // console
		rule(true, "c", 5, 2, "rwm"),     // ptmx
		rule(true, "c", 136, -1, "rwm"),  // pts
		rule(false, "c", 10, 229, "rwm"), // fuse
		// The wildcards come last: cgroup v1 cannot deny a device inside a
		// wildcard rule already allowed.
		rule(true, "c", -1, -1, "m"),
		rule(true, "b", -1, -1, "m"),
	}
}

// hostDevices lists the host's device nodes for --privileged, skipping the
// directories that are mounted afresh in the container (pts, shm, mqueue)
// and /dev/console, which the runtime provides.
func hostDevices() ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	err := filepath.WalkDir("/dev", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				return filepath.SkipDir
			}
			return nil
		}
		if path == "/dev/console" || d.Type()&(fs.ModeDevice) == 0 {
			return nil
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		typ := "b"
		if fi.Mode()&fs.ModeCharDevice != 0 {
			typ = "c"
		}
		mode := fi.Mode().Perm()
		out = append(out, specs.LinuxDevice{
			Path:     path,
			Type:     typ,
			Major:    int64(unix.Major(st.Rdev)),
			Minor:    int64(unix.Minor(st.Rdev)),
			FileMode: &mode,
			UID:      ptr(st.Uid),
			GID:      ptr(st.Gid),
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list host devices: %w", err)
	}
	return out, nil
}

// sysctlExists reports whether the kernel has the sysctl; runtimes fail on
// unknown ones, so Docker's defaults are only added where they exist.
func sysctlExists(name string) bool {
	_, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	return err == nil
}

// apparmorEnabled reports whether the kernel enforces AppArmor; setting a
// profile on a host without it makes the runtime fail.
func apparmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}
