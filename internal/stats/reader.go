package stats

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strconv"
	"unsafe"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// ErrNotRunning reports that the container's cgroup is gone: it has exited
// (or never ran) since the caller looked.
var ErrNotRunning = errors.New("container is not running")

// Target names the container a Reader samples.
type Target struct {
	// CgroupPath is the container's cgroup below each hierarchy's root,
	// as handed to the runtime: "/berth/<id>".
	CgroupPath string
	// Pid is the container's init process: /proc/<pid>/net/dev lists the
	// interfaces of its network namespace. 0 reads no network statistics
	// (host network, or networking disabled).
	Pid int
}

// The files a Reader reads, as indexes into Reader.paths. Where v1 and v2
// name the same figure differently, one index serves both.
const (
	fCPUUsage    = iota // v1 cpuacct.usage
	fCPUPercpu          // v1 cpuacct.usage_percpu
	fCPUAcctStat        // v1 cpuacct.stat
	fCPUStat            // v1 cpu.stat (throttling); v2 cpu.stat (all CPU figures)
	fMemUsage           // v1 memory.usage_in_bytes; v2 memory.current
	fMemMaxUsage        // v1 memory.max_usage_in_bytes
	fMemLimit           // v1 memory.limit_in_bytes; v2 memory.max
	fMemFailcnt         // v1 memory.failcnt; v2 memory.events
	fMemStat            // memory.stat
	fIOBytes            // v1 blkio.throttle.io_service_bytes_recursive; v2 io.stat
	fIOServiced         // v1 blkio.throttle.io_serviced_recursive
	fPidsCurrent        // pids.current
	fPidsMax            // pids.max
	fNetDev             // /proc/<pid>/net/dev
	fProcStat           // /proc/stat
	nFiles
)

// clockTicks is USER_HZ, the unit of /proc/stat and cpuacct.stat: 100 on
// every Linux architecture Docker runs on (dockerd hard-codes it too).
const clockTicks = 100

// Reader samples one container. It keeps its read buffer and file paths
// between samples, so a stream of samples allocates little. A Reader is not
// safe for concurrent use.
type Reader struct {
	h     *Host
	pid   int
	paths [nFiles]string
	// cpaths are paths as NUL-terminated strings for open(2), made once
	// so that a sample allocates nothing to open its files.
	cpaths [nFiles]*byte
	buf    []byte
	// memKeys are the memory.stat keys dockerd reports for this cgroup
	// version, in its order; memIdx maps a key to its index there.
	memKeys []string
	memIdx  map[string]int
	memVals []uint64
}

// NewReader returns a Reader of the container t.
func (h *Host) NewReader(t Target) *Reader {
	r := &Reader{h: h, pid: t.Pid, buf: make([]byte, 4096)}
	if h.v2 {
		dir := filepath.Join(h.root, t.CgroupPath)
		r.paths[fCPUStat] = filepath.Join(dir, "cpu.stat")
		r.paths[fMemUsage] = filepath.Join(dir, "memory.current")
		r.paths[fMemLimit] = filepath.Join(dir, "memory.max")
		r.paths[fMemFailcnt] = filepath.Join(dir, "memory.events")
		r.paths[fMemStat] = filepath.Join(dir, "memory.stat")
		r.paths[fIOBytes] = filepath.Join(dir, "io.stat")
		r.paths[fPidsCurrent] = filepath.Join(dir, "pids.current")
		r.paths[fPidsMax] = filepath.Join(dir, "pids.max")
		r.memKeys = v2MemoryKeys()
	} else {
		ctl := func(c, file string) string { return filepath.Join(h.mounts[c], t.CgroupPath, file) }
		r.paths[fCPUUsage] = ctl("cpuacct", "cpuacct.usage")
		r.paths[fCPUPercpu] = ctl("cpuacct", "cpuacct.usage_percpu")
		r.paths[fCPUAcctStat] = ctl("cpuacct", "cpuacct.stat")
		r.paths[fCPUStat] = ctl("cpu", "cpu.stat")
		r.paths[fMemUsage] = ctl("memory", "memory.usage_in_bytes")
		r.paths[fMemMaxUsage] = ctl("memory", "memory.max_usage_in_bytes")
		r.paths[fMemLimit] = ctl("memory", "memory.limit_in_bytes")
		r.paths[fMemFailcnt] = ctl("memory", "memory.failcnt")
		r.paths[fMemStat] = ctl("memory", "memory.stat")
		r.paths[fIOBytes] = ctl("blkio", "blkio.throttle.io_service_bytes_recursive")
		r.paths[fIOServiced] = ctl("blkio", "blkio.throttle.io_serviced_recursive")
		r.paths[fPidsCurrent] = ctl("pids", "pids.current")
		r.paths[fPidsMax] = ctl("pids", "pids.max")
		r.memKeys = v1MemoryKeys()
	}
	r.memIdx = make(map[string]int, len(r.memKeys))
	for i, k := range r.memKeys {
		r.memIdx[k] = i
	}
	r.memVals = make([]uint64, len(r.memKeys))
	if t.Pid > 0 {
		r.paths[fNetDev] = filepath.Join(h.proc, strconv.Itoa(t.Pid), "net", "dev")
	}
	r.paths[fProcStat] = filepath.Join(h.proc, "stat")
	for i, p := range r.paths {
		if p != "" {
			// A path with a NUL byte stays nil and fails to open.
			r.cpaths[i], _ = unix.BytePtrFromString(p)
		}
	}
	return r
}

// Read fills s's CPU, memory, block I/O, PIDs and network figures and the
// host's CPU time. It leaves ID, Name, Read and the previous sample to the
// caller. ErrNotRunning means the cgroup is gone.
func (r *Reader) Read(s *container.StatsResponse) error {
	var err error
	if r.h.v2 {
		err = r.readV2(s)
	} else {
		err = r.readV1(s)
	}
	if err != nil {
		return err
	}
	if err := r.readSystemCPU(&s.CPUStats); err != nil {
		return err
	}
	if r.pid > 0 {
		nets, err := r.readNetDev()
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("%w: process %d is gone", ErrNotRunning, r.pid)
		}
		if err != nil {
			return err
		}
		s.Networks = nets
	}
	return nil
}

// memLimit turns a cgroup's memory limit into what dockerd reports: the
// host's memory when the limit is above it (no limit).
func (r *Reader) memLimit(limit uint64) uint64 {
	if r.h.memTotal > 0 && limit > r.h.memTotal {
		return r.h.memTotal
	}
	return limit
}

// memStats parses memory.stat into the map dockerd reports: exactly its
// keys, zero when the kernel does not have one.
func (r *Reader) memStats(b []byte) map[string]uint64 {
	clear(r.memVals)
	eachLine(b, func(line []byte) {
		k, v, ok := keyValue(line)
		if !ok {
			return
		}
		if i, ok := r.memIdx[string(k)]; ok {
			r.memVals[i] = v
		}
	})
	m := make(map[string]uint64, len(r.memKeys))
	for i, k := range r.memKeys {
		m[k] = r.memVals[i]
	}
	return m
}

// readFile reads the whole of file i into the Reader's buffer and returns
// it; the bytes are valid until the next read.
func (r *Reader) readFile(i int) ([]byte, error) {
	path := r.paths[i]
	if r.cpaths[i] == nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: unix.EINVAL}
	}
	fd, err := openat(r.cpaths[i])
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for {
		if n == len(r.buf) {
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
		m, err := unix.Read(fd, r.buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return r.buf[:n], nil
		}
		n += m
	}
}

// openat opens a file read-only, as unix.Open does but without converting
// the path on every call.
func openat(path *byte) (int, error) {
	dirfd := unix.AT_FDCWD
	for {
		fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(path)),
			uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
		switch errno {
		case 0:
			return int(fd), nil
		case unix.EINTR:
			continue
		default:
			return -1, errno
		}
	}
}

// readOptional is readFile where a missing file (a controller the kernel
// lacks) reads as empty.
func (r *Reader) readOptional(i int) ([]byte, error) {
	b, err := r.readFile(i)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// readUint reads a file holding one number; "max" is maxValue and a missing
// file 0.
func (r *Reader) readUint(i int, maxValue uint64) (uint64, error) {
	b, err := r.readOptional(i)
	if err != nil || b == nil {
		return 0, err
	}
	b = trimSpace(b)
	if string(b) == "max" {
		return maxValue, nil
	}
	v, ok := parseUint(b)
	if !ok {
		return 0, fmt.Errorf("%s: not a number: %q", r.paths[i], b)
	}
	return v, nil
}

// eachLine calls f with every non-empty line of b.
func eachLine(b []byte, f func(line []byte)) {
	for len(b) > 0 {
		end := 0
		for end < len(b) && b[end] != '\n' {
			end++
		}
		if end > 0 {
			f(b[:end])
		}
		if end == len(b) {
			return
		}
		b = b[end+1:]
	}
}

// fields splits b at runs of spaces and tabs into dst, reusing it.
func fields(dst [][]byte, b []byte) [][]byte {
	dst = dst[:0]
	i := 0
	for i < len(b) {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		start := i
		for i < len(b) && b[i] != ' ' && b[i] != '\t' {
			i++
		}
		if i > start {
			dst = append(dst, b[start:i])
		}
	}
	return dst
}

// keyValue splits a "key value" line.
func keyValue(line []byte) ([]byte, uint64, bool) {
	var arr [3][]byte
	f := fields(arr[:0], line)
	if len(f) != 2 {
		return nil, 0, false
	}
	v, ok := parseUint(f[1])
	return f[0], v, ok
}

// parseUint parses a decimal number without allocating. A negative number
// (v1 files show -1 for "unset" in places) reads as 0, as containerd does.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	if b[0] == '-' {
		_, ok := parseUint(b[1:])
		return 0, ok
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
