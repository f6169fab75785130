package shim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ociRuntime runs the OCI runtime's command line (crun or runc) for one
// container. Every command logs in JSON to its own file so that a failure
// can be reported with the runtime's own message (Docker's CLI picks exit
// codes 126/127 from that text).
type ociRuntime struct {
	cfg     *Config
	exe     string // what is executed: cfg.Runtime, or its sealed copy
	reaper  *reaper
	devnull *os.File
	seq     atomic.Int64
}

// runtimeIO is the stdio a runtime command runs with; nil means /dev/null.
type runtimeIO struct {
	stdin, stdout, stderr *os.File
}

// runtimeExe is what the shim executes for cfg's runtime: the sealed copy
// at RuntimeFD when berthd passed one (kept out of the runtime's own
// descriptors; executed through this process's /proc entry), else the
// binary on disk.
func runtimeExe(cfg *Config) string {
	if cfg.SealedRuntime {
		if _, err := unix.FcntlInt(RuntimeFD, unix.F_GETFD, 0); err == nil {
			unix.CloseOnExec(RuntimeFD)
			return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), RuntimeFD)
		}
	}
	return cfg.Runtime
}

// run runs `runtime --root R --log L --log-format json [args] <args...>`
// and waits for it through the reaper. A failure carries the runtime's last
// error message.
func (rt *ociRuntime) run(ctx context.Context, stdio runtimeIO, args ...string) error {
	logPath := filepath.Join(rt.cfg.Bundle, fmt.Sprintf(".runtime-%d.log", rt.seq.Add(1)))
	defer os.Remove(logPath)
	argv := make([]string, 0, 8+len(rt.cfg.RuntimeArgs)+len(args))
	argv = append(argv, rt.cfg.Runtime, "--root", rt.cfg.RuntimeRoot, "--log", logPath, "--log-format", "json")
	argv = append(argv, rt.cfg.RuntimeArgs...)
	argv = append(argv, args...)
	files := []*os.File{stdio.stdin, stdio.stdout, stdio.stderr}
	for i, f := range files {
		if f == nil {
			files[i] = rt.devnull
		}
	}
	_, exited, err := rt.reaper.start(func() (int, error) {
		p, err := os.StartProcess(rt.exe, argv, &os.ProcAttr{
			Dir:   rt.cfg.Bundle,
			Files: files,
		})
		if err != nil {
			return 0, err
		}
		pid := p.Pid
		p.Release() // the reaper collects it; drop the pidfd
		return pid, nil
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", filepath.Base(rt.cfg.Runtime), args[0], err)
	}
	var st ExitStatus
	select {
	case st = <-exited:
	case <-ctx.Done():
		// The command keeps running; its exit is collected and dropped.
		return ctx.Err()
	}
	if st.Code == 0 {
		return nil
	}
	if msg := runtimeErrorMessage(logPath); msg != "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%s %s: exit status %d", filepath.Base(rt.cfg.Runtime), args[0], st.Code)
}

// runtimeErrorMessage returns the msg of the last error-level line of a JSON
// runtime log, or the last non-empty line if none parses.
func runtimeErrorMessage(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var msg, last string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		last = line
		var e struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && (e.Level == "error" || e.Level == "fatal") && e.Msg != "" {
			msg = e.Msg
		}
	}
	if msg == "" {
		msg = last
	}
	return runcWords(msg)
}

// runcWords puts a crun message in runc's words where clients read them:
// the Docker CLI (and berthd, for the exit code it records) picks `run`'s
// and `exec`'s 127 or 126 from lower-case errno texts ("no such file or
// directory", "permission denied"), which crun capitalises, and crun
// reports a directory given as the command as EPERM where runc says EACCES.
func runcWords(msg string) string {
	return strings.NewReplacer(
		"No such file or directory", "no such file or directory",
		"Permission denied", "permission denied",
		"Is a directory", "is a directory",
		"open executable: Operation not permitted", "open executable: permission denied",
	).Replace(msg)
}

// readPidFile reads the pid the runtime wrote.
func readPidFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("read pid file %s: bad pid %q", path, data)
	}
	return pid, nil
}

// consoleSocket receives the pty master the runtime sends over
// --console-socket.
type consoleSocket struct {
	dir    string
	path   string
	l      *os.File
	result chan consoleResult
}

type consoleResult struct {
	master *os.File
	err    error
}

// newConsoleSocket listens on a fresh socket in a private directory (short
// path: sun_path holds 108 bytes) and starts waiting for the master.
func newConsoleSocket() (*consoleSocket, error) {
	dir, err := os.MkdirTemp("", "berth-pty-")
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	path := filepath.Join(dir, "pty.sock")
	l, err := listenUnix(path)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	c := &consoleSocket{dir: dir, path: path, l: l, result: make(chan consoleResult, 1)}
	go func() {
		m, err := c.accept()
		c.result <- consoleResult{master: m, err: err}
	}()
	return c, nil
}

func (c *consoleSocket) accept() (*os.File, error) {
	conn, err := acceptUnix(c.l)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	fd, err := recvFd(conn)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	// Non-blocking, so that os.File reads go through the poller instead of
	// parking a thread each.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return os.NewFile(uintptr(fd), "pty-master"), nil
}

// consoleTimeout bounds the wait for a master the runtime should already
// have sent; it only expires when config.json has no terminal.
const consoleTimeout = 5 * time.Second

// master returns the received pty master. Call it after the runtime command
// succeeded: it has sent the master by then.
func (c *consoleSocket) master(timeout time.Duration) (*os.File, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-c.result:
		return r.master, r.err
	case <-t.C:
		return nil, errors.New("console socket: the runtime sent no terminal (process.terminal unset in config.json?)")
	}
}

// close stops listening and removes the socket; a pending accept fails.
func (c *consoleSocket) close() {
	c.l.Close()
	os.RemoveAll(c.dir)
}

// setWinsize sets a pty's window size.
func setWinsize(f *os.File, height, width uint16) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = raw.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: height, Col: width})
	})
	if err == nil {
		err = ioErr
	}
	return err
}
