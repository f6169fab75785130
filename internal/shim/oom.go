package shim

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// cgroupRoot is where the kernel's cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// oomKilled reports whether the kernel's OOM killer killed any process of
// the container whose cgroup is cgroupPath (relative to each hierarchy's
// root), as dockerd's OOMKilled does. It reads the "oom_kill" counter:
// cgroup v1 keeps it in memory.oom_control of the memory hierarchy, v2 in
// memory.events of the unified one. Both files are tried, so hybrid hosts
// (v1 memory controller, v2 mounted at unified/) need no detection.
func oomKilled(root, cgroupPath string) bool {
	if cgroupPath == "" {
		return false
	}
	for _, f := range []string{
		filepath.Join(root, "memory", cgroupPath, "memory.oom_control"),
		filepath.Join(root, cgroupPath, "memory.events"),
	} {
		if n, ok := oomKillCount(f); ok {
			return n > 0
		}
	}
	return false
}

// oomKillCount reads the "oom_kill N" line of a memory.oom_control or
// memory.events file; ok is false when the file or the line is missing.
func oomKillCount(path string) (n int64, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, val, found := bytes.Cut(sc.Bytes(), []byte(" "))
		if !found || string(key) != "oom_kill" {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(val)), 10, 64)
		return n, err == nil
	}
	return 0, false
}
