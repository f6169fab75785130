package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// defaultShmSize is /dev/shm's size when HostConfig.ShmSize is 0 (64 MiB,
// Docker's default).
const defaultShmSize = 64 << 20

// defaultMounts returns Docker's default mounts (oci.DefaultLinuxSpec).
func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777"}},
	}
}

// defaultMaskedPaths returns the paths Docker hides from a container
// (defaultLinuxMaskedPaths), including the per-CPU thermal_throttle
// directories that exist on this host (GHSA-6fw5-f8r9-fgfm).
func defaultMaskedPaths() []string {
	paths := []string{
		"/proc/acpi",
		"/proc/asound",
		"/proc/interrupts",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/sys/devices/virtual/powercap",
		"/sys/firmware",
	}
	cpus, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*/thermal_throttle")
	sort.Slice(cpus, func(i, j int) bool { return cpuNumber(cpus[i]) < cpuNumber(cpus[j]) })
	return append(paths, cpus...)
}

func cpuNumber(p string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(filepath.Dir(p)), "cpu"))
	return n
}

// defaultReadonlyPaths returns the /proc paths Docker makes read-only.
func defaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// setMounts assembles the mount list as Docker's WithMounts does: the
// defaults (minus those a container mount replaces, and /dev/shm with
// --ipc none), then the container's own mounts (network files, --tmpfs,
// volumes) ordered so parents come before children, then --init's binary.
func setMounts(s *specs.Spec, opts SpecOptions) error {
	hc := opts.HostConfig

	var user []specs.Mount
	netFile := func(src, dst string) {
		if src == "" {
			return
		}
		o := []string{"rbind"}
		if hc.ReadonlyRootfs {
			o = append(o, "ro")
		}
		user = append(user, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append(o, "rprivate")})
	}
	netFile(opts.ResolvConfPath, "/etc/resolv.conf")
	netFile(opts.HostnamePath, "/etc/hostname")
	netFile(opts.HostsPath, "/etc/hosts")

	tmpfsDests := make([]string, 0, len(hc.Tmpfs))
	for d := range hc.Tmpfs {
		tmpfsDests = append(tmpfsDests, d)
	}
	sort.Strings(tmpfsDests)
	for _, d := range tmpfsDests {
		if !filepath.IsAbs(d) {
			return errdefs.Invalid(fmt.Errorf("invalid mount config for type \"tmpfs\": invalid mount path: '%s' mount path must be absolute", d))
		}
		o := []string{"noexec", "nosuid", "nodev", "rprivate"}
		if data := hc.Tmpfs[d]; data != "" {
			o = append(o, strings.Split(data, ",")...)
		}
		user = append(user, specs.Mount{Destination: filepath.Clean(d), Type: "tmpfs", Source: "tmpfs", Options: mergeTmpfsOptions(o)})
	}
	user = append(user, opts.Mounts...)
	sort.SliceStable(user, func(i, j int) bool { return mountDepth(user[i].Destination) < mountDepth(user[j].Destination) })

	userDests := make(map[string]bool, len(user))
	for _, m := range user {
		userDests[filepath.Clean(m.Destination)] = true
	}
	shmSize := hc.ShmSize
	if shmSize <= 0 {
		shmSize = defaultShmSize
	}
	var mounts []specs.Mount
	for _, m := range defaultMounts() {
		if userDests[m.Destination] || (userDests["/dev"] && strings.HasPrefix(m.Destination, "/dev/")) {
			continue
		}
		if m.Destination == "/dev/shm" {
			if hc.IpcMode.IsNone() {
				continue
			}
			m.Options = append(m.Options, "size="+strconv.FormatInt(shmSize, 10))
		}
		if hc.ReadonlyRootfs && !slices.Contains([]string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"}, m.Destination) && !slices.Contains(m.Options, "ro") {
			m.Options = append(m.Options, "ro")
		}
		if hc.Privileged && (m.Destination == "/sys" || m.Type == "cgroup") {
			m.Options = slices.DeleteFunc(m.Options, func(o string) bool { return o == "ro" })
		}
		mounts = append(mounts, m)
	}
	mounts = append(mounts, user...)
	setRootfsPropagation(s, user)

	if wantsInit(hc) {
		if _, err := os.Stat(opts.InitPath); err != nil {
			return fmt.Errorf("init binary: %w", err)
		}
		mounts = append(mounts, specs.Mount{Destination: InitPathInContainer, Type: "bind", Source: opts.InitPath, Options: []string{"bind", "ro"}})
	}
	s.Mounts = mounts
	return nil
}

// mountDepth is the number of path elements in a mount destination; Docker
// sorts the container's mounts by it so /a is mounted before /a/b.
func mountDepth(p string) int {
	return len(strings.Split(filepath.Clean(p), string(filepath.Separator)))
}

// tmpfsOpposites pairs flags where a later one cancels an earlier one.
var tmpfsOpposites = map[string]string{
	"exec": "noexec", "noexec": "exec",
	"suid": "nosuid", "nosuid": "suid",
	"dev": "nodev", "nodev": "dev",
	"ro": "rw", "rw": "ro",
	"atime": "noatime", "noatime": "atime",
	"diratime": "nodiratime", "nodiratime": "diratime",
	"relatime": "norelatime", "norelatime": "relatime",
	"strictatime": "nostrictatime", "nostrictatime": "strictatime",
	"sync": "async", "async": "sync",
	"private": "", "rprivate": "", "shared": "", "rshared": "", "slave": "", "rslave": "",
}

var propagationFlags = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave"}

// mergeTmpfsOptions folds a tmpfs option list so that a later option wins
// over an earlier conflicting one (noexec then exec gives exec; size=1m then
// size=2m gives size=2m), as Docker's mount.MergeTmpfsOptions.
func mergeTmpfsOptions(in []string) []string {
	var out []string
	for _, o := range in {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		key, _, isKV := strings.Cut(o, "=")
		out = slices.DeleteFunc(out, func(e string) bool {
			if isKV {
				k, _, ok := strings.Cut(e, "=")
				return ok && k == key
			}
			if slices.Contains(propagationFlags, o) {
				return slices.Contains(propagationFlags, e)
			}
			return e == o || (tmpfsOpposites[o] != "" && e == tmpfsOpposites[o])
		})
		out = append(out, o)
	}
	return out
}

// setRootfsPropagation makes the container's root mount shared when a
// mount asks for shared propagation, or a slave when one asks for slave
// propagation, so that mount events can travel through it, as Docker's
// WithMounts does. Otherwise the runtime's default (rslave) stays.
func setRootfsPropagation(s *specs.Spec, ms []specs.Mount) {
	for _, m := range ms {
		if m.Type != "bind" {
			continue
		}
		cur := s.Linux.RootfsPropagation
		switch {
		case slices.Contains(m.Options, "shared") || slices.Contains(m.Options, "rshared"):
			if cur != "shared" && cur != "rshared" {
				s.Linux.RootfsPropagation = "shared"
			}
		case slices.Contains(m.Options, "slave") || slices.Contains(m.Options, "rslave"):
			if cur == "" || cur == "private" || cur == "rprivate" {
				s.Linux.RootfsPropagation = "rslave"
			}
		}
	}
}

// CheckSourcePropagation checks that the host mount holding source allows
// the propagation a bind mount of it asks for: shared propagation needs a
// shared mount, slave propagation a shared or slave one. The errors are
// Docker's texts ("path /x is mounted on / but it is not a shared mount").
func CheckSourcePropagation(source, propagation string) error {
	var want []string
	switch propagation {
	case "shared", "rshared":
		want = []string{"shared:"}
	case "slave", "rslave":
		want = []string{"shared:", "master:"}
	default:
		return nil
	}
	mp, optional, err := sourceMount(source)
	if err != nil {
		return err
	}
	for _, f := range strings.Fields(optional) {
		for _, w := range want {
			if strings.HasPrefix(f, w) {
				return nil
			}
		}
	}
	if len(want) == 1 {
		return fmt.Errorf("path %s is mounted on %s but it is not a shared mount", source, mp)
	}
	return fmt.Errorf("path %s is mounted on %s but it is not a shared or slave mount", source, mp)
}

// sourceMount finds the mount that holds path (symbolic links resolved):
// its mount point and its mountinfo optional fields ("shared:N master:M").
func sourceMount(path string) (mountPoint, optional string, err error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", "", err
	}
	infos, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return !pathWithin(real, m.Mountpoint), false
	})
	if err != nil {
		return "", "", err
	}
	var best *mountinfo.Info
	for _, m := range infos {
		// The last of equally long mount points is the one on top.
		if best == nil || len(m.Mountpoint) >= len(best.Mountpoint) {
			best = m
		}
	}
	if best == nil {
		return "", "", fmt.Errorf("can't find mount point of %s", path)
	}
	return best.Mountpoint, best.Optional, nil
}

// pathWithin reports whether p is dir or below it, element by element.
func pathWithin(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// RecursiveReadOnlySupported returns nil when the kernel can make a mount
// read-only with its submounts (mount_setattr with AT_RECURSIVE, Linux
// 5.12), which the runtime's "rro" option needs; otherwise Docker's error.
func RecursiveReadOnlySupported() error {
	// A bad descriptor is refused (EBADF) by a kernel that has the call;
	// one without it answers ENOSYS.
	err := unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{})
	if errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("rro is not supported: failed to call mount_setattr: %w (kernel is older than 5.12?)", err)
	}
	return nil
}
