package stats

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Config describes the host a Host reads from. Detect fills it from the
// running system; tests point it at files.
type Config struct {
	// CgroupV2 selects the unified hierarchy, mounted at CgroupRoot.
	CgroupV2 bool
	// CgroupRoot is the v2 mount point, or on v1 the directory whose
	// <controller> subdirectories are the hierarchies Mounts does not name.
	CgroupRoot string
	// Mounts maps a v1 controller ("cpuacct", "memory", …) to the mount
	// point of its hierarchy.
	Mounts map[string]string
	// ProcRoot is where proc is mounted: stat, meminfo, <pid>/net/dev.
	ProcRoot string
	// MemTotal is the host's memory in bytes, the limit reported for an
	// unlimited container; 0 reads MemTotal from ProcRoot/meminfo.
	MemTotal uint64
}

// Host reads statistics of containers on one host. It is immutable and
// safe for concurrent use; each sampler takes its own Reader.
type Host struct {
	v2       bool
	root     string
	mounts   map[string]string
	proc     string
	memTotal uint64
}

// New checks cfg and returns a Host over it.
func New(cfg Config) (*Host, error) {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/sys/fs/cgroup"
	}
	h := &Host{v2: cfg.CgroupV2, root: cfg.CgroupRoot, proc: cfg.ProcRoot, memTotal: cfg.MemTotal, mounts: map[string]string{}}
	if !h.v2 {
		// The v1 controllers statistics come from.
		for _, c := range []string{"cpu", "cpuacct", "memory", "blkio", "pids"} {
			if m, ok := cfg.Mounts[c]; ok {
				h.mounts[c] = m
			} else {
				h.mounts[c] = filepath.Join(cfg.CgroupRoot, c)
			}
		}
	}
	if h.memTotal == 0 {
		n, err := readMemTotal(filepath.Join(cfg.ProcRoot, "meminfo"))
		if err != nil {
			return nil, err
		}
		h.memTotal = n
	}
	return h, nil
}

// Detect finds how this host mounts cgroups: v2 when /sys/fs/cgroup is the
// unified hierarchy, otherwise v1 with each controller's mount point taken
// from /proc/self/mountinfo (hybrid hosts mount them under /sys/fs/cgroup,
// sometimes as "cpu,cpuacct").
func Detect() (*Host, error) {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return nil, fmt.Errorf("cgroup mount: %w", err)
	}
	cfg := Config{CgroupRoot: "/sys/fs/cgroup", ProcRoot: "/proc"}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		cfg.CgroupV2 = true
		return New(cfg)
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg.Mounts, err = parseV1Mounts(f)
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

// parseV1Mounts maps each cgroup v1 controller to its mount point, from
// mountinfo lines such as
//
//	35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
//
// where the controllers are among the super options after the fs type.
func parseV1Mounts(f io.Reader) (map[string]string, error) {
	mounts := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields := strings.Fields(post)
		if len(fields) < 3 || fields[0] != "cgroup" {
			continue
		}
		pf := strings.Fields(pre)
		if len(pf) < 5 {
			continue
		}
		mp := unescapeMount(pf[4])
		for _, opt := range strings.Split(fields[2], ",") {
			if _, seen := mounts[opt]; !seen {
				mounts[opt] = mp
			}
		}
	}
	return mounts, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readMemTotal reads MemTotal from a meminfo file, in bytes.
func readMemTotal(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte("MemTotal:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: MemTotal: %w", path, err)
		}
		if len(f) > 1 && string(f[1]) == "kB" {
			n *= 1024
		}
		return n, nil
	}
	return 0, errors.New(path + ": no MemTotal")
}

// CgroupV2 reports whether the host uses the unified hierarchy.
func (h *Host) CgroupV2() bool { return h.v2 }

// MemTotal is the host's memory in bytes.
func (h *Host) MemTotal() uint64 { return h.memTotal }
