package shim_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bruntime "berth/internal/runtime"
	"berth/internal/shim"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// env is what TestMain prepared: the shim binary, a busybox rootfs and the
// runtime. skip names what the machine lacks when it cannot run containers.
type env struct {
	shimBin string
	rootfs  string
	runc    string
	skip    string
}

var testEnv env

const cgroupParent = "berth-test"

// launchHelperEnv makes the test binary act as a short-lived berthd: it
// launches and starts the container whose shim config is in the variable,
// prints the shim pid and exits (TestShimSurvivesClient).
const launchHelperEnv = "BERTH_SHIM_TEST_LAUNCH"

func TestMain(m *testing.M) {
	if v := os.Getenv(launchHelperEnv); v != "" {
		os.Exit(launchHelper(v))
	}
	dir, err := os.MkdirTemp("", "berth-shim-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testEnv, err = prepare(dir)
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	// runc delete removes each container's cgroups; drop the common parent.
	if parents, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent); len(parents) > 0 {
		for _, p := range parents {
			os.Remove(p)
		}
	}
	os.Exit(code)
}

// prepare builds berth-shim and a busybox rootfs into dir.
func prepare(dir string) (env, error) {
	var e env
	if os.Geteuid() != 0 {
		e.skip = "containers need root"
		return e, nil
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		e.skip = "runc is not installed"
		return e, nil
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		e.skip = "busybox is not installed"
		return e, nil
	}
	e.runc = runc
	e.shimBin = filepath.Join(dir, "berth-shim")
	build := exec.Command("go", "build", "-o", e.shimBin, "berth/cmd/berth-shim")
	if out, err := build.CombinedOutput(); err != nil {
		return e, fmt.Errorf("build berth-shim: %v\n%s", err, out)
	}
	e.rootfs = filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(e.rootfs, d), 0o755); err != nil {
			return e, err
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return e, err
	}
	if err := os.WriteFile(filepath.Join(e.rootfs, "bin", "busybox"), data, 0o755); err != nil {
		return e, err
	}
	install := exec.Command("chroot", e.rootfs, "/bin/busybox", "--install", "-s", "/bin")
	if out, err := install.CombinedOutput(); err != nil {
		return e, fmt.Errorf("busybox --install: %v\n%s", err, out)
	}
	return e, nil
}

// box is one test container: its bundle, config and, once launched, shim.
type box struct {
	t    testing.TB
	cfg  shim.Config
	shim *bruntime.Shim
}

type boxOpts struct {
	args      []string
	tty       bool
	openStdin bool
	stdinOnce bool
	maxSize   int64
	maxFiles  int
}

// newBox writes a bundle for args. Clean-up deletes the container from runc
// and kills a shim still running, even when the test failed.
func newBox(t testing.TB, o boxOpts) *box {
	t.Helper()
	if testEnv.skip != "" {
		t.Skip(testEnv.skip)
	}
	dir := t.TempDir()
	id := "bt-" + randHex(6)
	cfg := shim.Config{
		ID:          id,
		Bundle:      filepath.Join(dir, "bundle"),
		Runtime:     testEnv.runc,
		RuntimeRoot: filepath.Join(dir, "runc"),
		Socket:      filepath.Join(dir, "shim.sock"),
		ExitFile:    filepath.Join(dir, "exit.json"),
		LogPath:     filepath.Join(dir, id+"-json.log"),
		LogMaxSize:  o.maxSize,
		LogMaxFiles: o.maxFiles,
		Terminal:    o.tty,
		OpenStdin:   o.openStdin,
		StdinOnce:   o.stdinOnce,
	}
	if err := os.MkdirAll(cfg.Bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	writeSpec(t, cfg, o.args, o.tty)
	b := &box{t: t, cfg: cfg}
	t.Cleanup(b.cleanup)
	return b
}

func writeSpec(t testing.TB, cfg shim.Config, args []string, tty bool) {
	t.Helper()
	spec := specs.Spec{
		Version:  bruntime.OCIVersion, // crun refuses newer ones
		Root:     &specs.Root{Path: testEnv.rootfs, Readonly: true},
		Hostname: "box",
		Process: &specs.Process{
			Terminal:        tty,
			Args:            args,
			ConsoleSize:     consoleSize(tty),
			Env:             []string{"PATH=/bin", "TERM=xterm"},
			Cwd:             "/",
			NoNewPrivileges: true,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/" + cgroupParent + "/" + cfg.ID,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
			},
		},
	}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Bundle, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (b *box) cleanup() {
	if b.shim != nil {
		// A shim whose container exited is still cleaning up (exit file,
		// runtime delete) in the directories about to be removed: let it
		// finish; kill one whose container still runs.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := b.shim.Gone(ctx)
		cancel()
		if err != nil {
			killShim(b.shim.ShimPid())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			b.shim.Gone(ctx)
			cancel()
		}
	}
	exec.Command(testEnv.runc, "--root", b.cfg.RuntimeRoot, "delete", "--force", b.cfg.ID).Run()
}

// killShim kills pid if it is still a berth-shim (pids are reused).
func killShim(pid int) {
	if pid <= 0 {
		return
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !bytes.Contains(cmdline, []byte("berth-shim")) {
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

func (b *box) launch(ctx context.Context) *bruntime.Shim {
	b.t.Helper()
	s, err := bruntime.Launch(ctx, testEnv.shimBin, b.cfg)
	if err != nil {
		b.t.Fatalf("Launch: %v", err)
	}
	b.shim = s
	return s
}

// run launches, starts and waits for the container.
func (b *box) run(ctx context.Context) shim.ExitStatus {
	b.t.Helper()
	s := b.launch(ctx)
	if err := s.Start(ctx); err != nil {
		b.t.Fatalf("Start: %v", err)
	}
	st, err := b.exitStatus(ctx, s)
	if err != nil {
		b.t.Fatalf("Wait: %v", err)
	}
	return st
}

// exitStatus is how the container ended, learnt as berthd learns it: from
// Wait, or from the exit file when the shim had already finished (a Wait
// sent after a quick exit may find nobody listening any more).
func (b *box) exitStatus(ctx context.Context, s *bruntime.Shim) (shim.ExitStatus, error) {
	st, err := s.Wait(ctx)
	if errors.Is(err, bruntime.ErrShimGone) {
		return bruntime.ReadExitFile(b.cfg.ExitFile)
	}
	return st, err
}

// waitShimExit blocks until the shim process has ended.
func (b *box) waitShimExit(ctx context.Context) {
	b.t.Helper()
	waitPidExit(b.t, ctx, b.shim.ShimPid())
}

// waitPidExit blocks on a pidfd until pid ends (or ctx's deadline passes).
func waitPidExit(t testing.TB, ctx context.Context, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("pidfd_open: %v", err)
	}
	defer unix.Close(fd)
	timeout := -1
	if dl, ok := ctx.Deadline(); ok {
		timeout = int(time.Until(dl).Milliseconds())
	}
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, timeout)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("process %d did not exit (%v)", pid, err)
		}
		return
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// demux splits a stdcopy stream into stdout and stderr.
func demux(t testing.TB, r io.Reader) (stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out.String(), errb.String()
			}
			t.Fatalf("frame header: %v", err)
		}
		if hdr[1] != 0 || hdr[2] != 0 || hdr[3] != 0 {
			t.Fatalf("bad frame header %v", hdr)
		}
		n := binary.BigEndian.Uint32(hdr[4:])
		var dst *bytes.Buffer
		switch hdr[0] {
		case 1:
			dst = &out
		case 2:
			dst = &errb
		default:
			t.Fatalf("bad stream %d", hdr[0])
		}
		if _, err := io.CopyN(dst, r, int64(n)); err != nil {
			t.Fatalf("frame body: %v", err)
		}
	}
}

// readUntil reads raw output from conn until it contains want.
func readUntil(t testing.TB, conn net.Conn, acc *bytes.Buffer, want string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	buf := make([]byte, 4096)
	for !strings.Contains(acc.String(), want) {
		n, err := conn.Read(buf)
		acc.Write(buf[:n])
		if err != nil {
			t.Fatalf("waiting for %q: %v; got %q", want, err, acc.String())
		}
	}
}

// logEntries reads a json-file log.
func logEntries(t testing.TB, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e map[string]string
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// launchHelper launches and starts the container configured in cfgJSON,
// prints the shim's pid and returns, leaving the shim to run on.
func launchHelper(cfgJSON string) int {
	var cfg shim.Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	s, err := bruntime.Launch(ctx, os.Getenv(launchHelperEnv+"_BIN"), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := s.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(s.ShimPid())
	return 0
}

// consoleSize is the initial terminal size the daemon puts in the spec
// (from the client's create request): 30 rows, 100 columns.
func consoleSize(tty bool) *specs.Box {
	if !tty {
		return nil
	}
	return &specs.Box{Height: 30, Width: 100}
}
