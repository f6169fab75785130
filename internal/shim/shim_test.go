package shim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bruntime "berth/internal/runtime"
	"berth/internal/shim"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestExitCodes(t *testing.T) {
	tests := []struct {
		doc  string
		args []string
		kill bool
		want int
	}{
		{doc: "true", args: []string{"true"}, want: 0},
		{doc: "exit 3", args: []string{"sh", "-c", "exit 3"}, want: 3},
		{doc: "SIGKILL", args: []string{"sleep", "100"}, kill: true, want: 137},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			ctx := testCtx(t)
			b := newBox(t, boxOpts{args: tc.args})
			s := b.launch(ctx)
			if s.Pid() <= 0 {
				t.Fatalf("pid %d", s.Pid())
			}
			st, err := s.State(ctx)
			if err != nil || st.Status != shim.StatusCreated || st.Pid != s.Pid() {
				t.Fatalf("State = %+v, %v", st, err)
			}
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.kill {
				if err := s.Kill(ctx, syscall.SIGKILL, false); err != nil {
					t.Fatal(err)
				}
			}
			exit, err := b.exitStatus(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if exit.Code != tc.want || exit.ExitedAt.IsZero() {
				t.Fatalf("exit = %+v, want code %d", exit, tc.want)
			}
			// The exit file says the same, and the shim goes away.
			b.waitShimExit(ctx)
			recorded, err := bruntime.ReadExitFile(b.cfg.ExitFile)
			if err != nil || recorded.Code != tc.want {
				t.Fatalf("exit file = %+v, %v", recorded, err)
			}
			if _, err := bruntime.Connect(ctx, b.cfg.Socket); !errors.Is(err, bruntime.ErrShimGone) {
				t.Fatalf("Connect after exit: %v, want ErrShimGone", err)
			}
			// The container is gone from the runtime.
			if err := exec.Command(testEnv.runc, "--root", b.cfg.RuntimeRoot, "state", b.cfg.ID).Run(); err == nil {
				t.Fatal("container still known to runc")
			}
		})
	}
}

func TestLogFormat(t *testing.T) {
	ctx := testCtx(t)
	b := newBox(t, boxOpts{args: []string{"sh", "-c", "echo hello; echo oops >&2; printf 'no newline'"}})
	before := time.Now()
	if st := b.run(ctx); st.Code != 0 {
		t.Fatalf("exit %d", st.Code)
	}
	entries := logEntries(t, b.cfg.LogPath)
	got := map[string]string{}
	for _, e := range entries {
		if len(e) != 3 {
			t.Errorf("entry has keys %v", e)
		}
		ts, err := time.Parse(time.RFC3339Nano, e["time"])
		if err != nil || !strings.HasSuffix(e["time"], "Z") || ts.Before(before.Add(-time.Second)) {
			t.Errorf("time %q: %v", e["time"], err)
		}
		got[e["log"]] = e["stream"]
	}
	want := map[string]string{"hello\n": "stdout", "oops\n": "stderr", "no newline": "stdout"}
	if len(entries) != len(want) {
		t.Fatalf("entries %v", entries)
	}
	for line, stream := range want {
		if got[line] != stream {
			t.Errorf("%q logged on %q, want %q (all: %v)", line, got[line], stream, entries)
		}
	}
	// The raw line is byte-exact Docker format.
	raw, _ := os.ReadFile(b.cfg.LogPath)
	if !bytes.Contains(raw, []byte(`{"log":"hello\n","stream":"stdout","time":"`)) {
		t.Errorf("raw log:\n%s", raw)
	}
}

func TestLogRotation(t *testing.T) {
	ctx := testCtx(t)
	b := newBox(t, boxOpts{
		args:    []string{"sh", "-c", `i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done`},
		maxSize: 1024, maxFiles: 3,
	})
	if st := b.run(ctx); st.Code != 0 {
		t.Fatalf("exit %d", st.Code)
	}
	for _, suffix := range []string{"", ".1", ".2"} {
		fi, err := os.Stat(b.cfg.LogPath + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 1024+200 {
			t.Errorf("%s: %d bytes", suffix, fi.Size())
		}
	}
	if _, err := os.Stat(b.cfg.LogPath + ".3"); !os.IsNotExist(err) {
		t.Errorf(".3 exists: %v", err)
	}
	live := logEntries(t, b.cfg.LogPath)
	if last := live[len(live)-1]["log"]; last != "line 299\n" {
		t.Errorf("last line %q", last)
	}
}

func TestAttachStdcopy(t *testing.T) {
	tests := []struct {
		doc            string
		stdout, stderr bool
		wantOut        string
		wantErr        string
	}{
		{doc: "both", stdout: true, stderr: true, wantOut: "out\n", wantErr: "err\n"},
		{doc: "stdout only", stdout: true, wantOut: "out\n"},
		{doc: "stderr only", stderr: true, wantErr: "err\n"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			ctx := testCtx(t)
			b := newBox(t, boxOpts{args: []string{"sh", "-c", "echo out; echo err >&2"}})
			s := b.launch(ctx)
			conn, err := s.Attach(ctx, false, tc.stdout, tc.stderr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			out, errOut := demux(t, conn)
			if out != tc.wantOut || errOut != tc.wantErr {
				t.Fatalf("stdout %q stderr %q", out, errOut)
			}
			if st, err := b.exitStatus(ctx, s); err != nil || st.Code != 0 {
				t.Fatalf("Wait = %+v, %v", st, err)
			}
		})
	}
}

func TestAttachStdin(t *testing.T) {
	ctx := testCtx(t)
	b := newBox(t, boxOpts{args: []string{"cat"}, openStdin: true, stdinOnce: true})
	s := b.launch(ctx)
	conn, err := s.Attach(ctx, true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("ping\npong\n")); err != nil {
		t.Fatal(err)
	}
	// Half-close: with StdinOnce the container's stdin closes and cat ends.
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	out, errOut := demux(t, conn)
	if out != "ping\npong\n" || errOut != "" {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	if st, err := b.exitStatus(ctx, s); err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
}

func TestTerminal(t *testing.T) {
	ctx := testCtx(t)
	b := newBox(t, boxOpts{
		args: []string{"sh", "-c", `stty size; read a; echo "got:$a"; stty size; echo oops >&2`},
		tty:  true, openStdin: true,
	})
	s := b.launch(ctx) // the spec's console size is 30x100
	conn, err := s.Attach(ctx, true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var acc bytes.Buffer
	readUntil(t, conn, &acc, "30 100\r\n")
	if err := s.Resize(ctx, "", 40, 120); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, conn, &acc, "got:hi\r\n")
	// The terminal echoes input, and stderr comes on the same raw stream.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	rest, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	acc.Write(rest)
	for _, want := range []string{"hi\r\n", "40 120\r\n", "oops\r\n"} {
		if !strings.Contains(acc.String(), want) {
			t.Errorf("output %q lacks %q", acc.String(), want)
		}
	}
	if st, err := b.exitStatus(ctx, s); err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	// With a terminal everything is logged as stdout.
	for _, e := range logEntries(t, b.cfg.LogPath) {
		if e["stream"] != "stdout" {
			t.Errorf("entry on %q: %v", e["stream"], e)
		}
	}
}

func execProcess(tty bool, args ...string) *specs.Process {
	return &specs.Process{Terminal: tty, Args: args, Env: []string{"PATH=/bin"}, Cwd: "/"}
}

func TestExec(t *testing.T) {
	ctx := testCtx(t)
	b := newBox(t, boxOpts{args: []string{"sleep", "100"}})
	s := b.launch(ctx)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("output and exit code", func(t *testing.T) {
		conn, pid, err := s.Exec(ctx, "e1", shim.Request{Process: execProcess(false, "sh", "-c", "echo exec-out; echo exec-err >&2; exit 5")})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if pid <= 0 || pid == s.Pid() {
			t.Errorf("exec pid %d", pid)
		}
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		out, errOut := demux(t, conn)
		if out != "exec-out\n" || errOut != "exec-err\n" {
			t.Fatalf("stdout %q stderr %q", out, errOut)
		}
		st, err := s.ExecWait(ctx, "e1")
		if err != nil || st.Code != 5 {
			t.Fatalf("ExecWait = %+v, %v", st, err)
		}
	})

	t.Run("stdin", func(t *testing.T) {
		conn, _, err := s.Exec(ctx, "e2", shim.Request{Process: execProcess(false, "cat")})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.Write([]byte("to exec\n"))
		conn.(interface{ CloseWrite() error }).CloseWrite()
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if out, _ := demux(t, conn); out != "to exec\n" {
			t.Fatalf("stdout %q", out)
		}
		if st, err := s.ExecWait(ctx, "e2"); err != nil || st.Code != 0 {
			t.Fatalf("ExecWait = %+v, %v", st, err)
		}
	})

	t.Run("no stdin", func(t *testing.T) {
		conn, _, err := s.Exec(ctx, "e3", shim.Request{NoStdin: true, Process: execProcess(false, "cat")})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if out, _ := demux(t, conn); out != "" {
			t.Fatalf("stdout %q", out)
		}
		if st, err := s.ExecWait(ctx, "e3"); err != nil || st.Code != 0 {
			t.Fatalf("ExecWait = %+v, %v", st, err)
		}
	})

	t.Run("detached", func(t *testing.T) {
		conn, pid, err := s.Exec(ctx, "d1", shim.Request{Detach: true, Process: execProcess(false, "sh", "-c", "echo marker > /tmp/m")})
		if err != nil || conn != nil || pid <= 0 {
			t.Fatalf("Exec = %v, %d, %v", conn, pid, err)
		}
		if st, err := s.ExecWait(ctx, "d1"); err != nil || st.Code != 0 {
			t.Fatalf("ExecWait = %+v, %v", st, err)
		}
		conn, _, err = s.Exec(ctx, "d2", shim.Request{Process: execProcess(false, "cat", "/tmp/m")})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if out, _ := demux(t, conn); out != "marker\n" {
			t.Fatalf("stdout %q", out)
		}
	})

	t.Run("terminal", func(t *testing.T) {
		conn, _, err := s.Exec(ctx, "t1", shim.Request{Process: execProcess(true, "sh", "-c", "read a; stty size; echo got:$a")})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := s.Resize(ctx, "t1", 25, 90); err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte("x\n"))
		var acc bytes.Buffer
		readUntil(t, conn, &acc, "got:x")
		if !strings.Contains(acc.String(), "25 90") {
			t.Fatalf("output %q", acc.String())
		}
		if st, err := s.ExecWait(ctx, "t1"); err != nil || st.Code != 0 {
			t.Fatalf("ExecWait = %+v, %v", st, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, _, err := s.Exec(ctx, "bad", shim.Request{Process: execProcess(false, "/nope")})
		if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
			t.Fatalf("exec /nope: %v", err)
		}
		if _, err := s.ExecWait(ctx, "unknown"); err == nil {
			t.Fatal("ExecWait of unknown exec succeeded")
		}
	})

	if err := s.Kill(ctx, syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	if st, err := b.exitStatus(ctx, s); err != nil || st.Code != 137 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
}

func TestLaunchErrors(t *testing.T) {
	tests := []struct {
		doc  string
		args []string
		want []string // one of them
	}{
		{doc: "missing", args: []string{"/nope"}, want: []string{"no such file or directory"}},
		{doc: "directory", args: []string{"/etc"}, want: []string{"is a directory", "permission denied"}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			ctx := testCtx(t)
			b := newBox(t, boxOpts{args: tc.args})
			s, err := bruntime.Launch(ctx, testEnv.shimBin, b.cfg)
			if err == nil {
				b.shim = s
				t.Fatal("Launch succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "OCI runtime create failed: ") {
				t.Errorf("error %q lacks dockerd's prefix", msg)
			}
			found := false
			for _, w := range tc.want {
				found = found || strings.Contains(msg, w)
			}
			if !found {
				t.Errorf("error %q contains none of %q", msg, tc.want)
			}
			if _, err := os.Stat(b.cfg.Socket); !os.IsNotExist(err) {
				t.Errorf("socket left behind: %v", err)
			}
			if err := exec.Command(testEnv.runc, "--root", b.cfg.RuntimeRoot, "state", b.cfg.ID).Run(); err == nil {
				t.Error("container left in runc")
			}
			// runc's message went to the container's stderr too; it must not
			// reach the log.
			if data, _ := os.ReadFile(b.cfg.LogPath); len(data) != 0 {
				t.Errorf("log has %q", data)
			}
		})
	}
}

// TestShimSurvivesClient launches from a separate process that then exits,
// as berthd does when it is killed, and drives the shim from here.
func TestShimSurvivesClient(t *testing.T) {
	ctx := testCtx(t)
	b := newBox(t, boxOpts{args: []string{"sh", "-c", "echo before; read x; echo after:$x"}, openStdin: true})
	cfgJSON, _ := json.Marshal(b.cfg)
	helper := exec.CommandContext(ctx, os.Args[0])
	helper.Env = append(os.Environ(), launchHelperEnv+"="+string(cfgJSON), launchHelperEnv+"_BIN="+testEnv.shimBin)
	out, err := helper.Output()
	shimPid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	t.Cleanup(func() {
		// Let a shim whose container ended finish its clean-up first.
		if b.shim != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			b.shim.Gone(ctx)
			cancel()
		}
		killShim(shimPid)
	})
	if err != nil || shimPid <= 0 {
		t.Fatalf("helper: %v %q", err, out)
	}
	// Neither the parent's death nor SIGHUP ends the shim.
	if err := syscall.Kill(shimPid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s, err := bruntime.Connect(ctx, b.cfg.Socket)
	if err != nil {
		t.Fatal(err)
	}
	b.shim = s
	if s.ShimPid() != shimPid {
		t.Errorf("ShimPid %d, helper said %d", s.ShimPid(), shimPid)
	}
	st, err := s.State(ctx)
	if err != nil || st.Status != shim.StatusRunning {
		t.Fatalf("State = %+v, %v", st, err)
	}
	conn, err := s.Attach(ctx, true, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("reconnected\n"))
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	// "before" may still be in the pipe when the attach arrives.
	if out, _ := demux(t, conn); out != "after:reconnected\n" && out != "before\nafter:reconnected\n" {
		t.Errorf("attach got %q", out)
	}
	exit, err := b.exitStatus(ctx, s)
	if err != nil || exit.Code != 0 {
		t.Fatalf("Wait = %+v, %v", exit, err)
	}
	// Output written while no client was attached is in the log.
	var lines []string
	for _, e := range logEntries(t, b.cfg.LogPath) {
		lines = append(lines, e["log"])
	}
	if strings.Join(lines, "") != "before\nafter:reconnected\n" {
		t.Errorf("log %q", lines)
	}
}

// TestWaitShimGone: a Wait pending when the shim dies returns ErrShimGone.
func TestWaitShimGone(t *testing.T) {
	ctx := testCtx(t)
	b := newBox(t, boxOpts{args: []string{"sleep", "100"}})
	s := b.launch(ctx)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Wait(ctx)
		errc <- err
	}()
	// The wait is pending once the shim reports state on a later connection;
	// requests are served concurrently, so check the Wait has not returned.
	if _, err := s.State(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		t.Fatalf("Wait returned early: %v", err)
	default:
	}
	killShim(s.ShimPid())
	if err := <-errc; !errors.Is(err, bruntime.ErrShimGone) {
		t.Fatalf("Wait = %v, want ErrShimGone", err)
	}
}

// TestWaitContext: a Wait ends with its context and leaves the shim serving.
func TestWaitContext(t *testing.T) {
	ctx := testCtx(t)
	b := newBox(t, boxOpts{args: []string{"sleep", "100"}})
	s := b.launch(ctx)
	wctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Wait(wctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v", err)
	}
	if st, err := s.State(ctx); err != nil || st.Status != shim.StatusCreated {
		t.Fatalf("State = %+v, %v", st, err)
	}
}

// TestHotPath reports Launch+Start+Wait for `true`, and the shim's resident
// memory while it holds a running container.
// BenchmarkHotPath is the shim's share of `run --rm busybox true`:
// Launch, Start and Wait of a container running `true`. Compare with
// BenchmarkBareRunc for the runtime's own cost.
func BenchmarkHotPath(b *testing.B) {
	ctx := testCtx(b)
	for b.Loop() {
		bx := newBox(b, boxOpts{args: []string{"true"}})
		s := bx.launch(ctx)
		if err := s.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if st, err := bx.exitStatus(ctx, s); err != nil || st.Code != 0 {
			b.Fatalf("Wait = %+v, %v", st, err)
		}
	}
}

// BenchmarkBareRunc runs the same container with one `runc run`.
func BenchmarkBareRunc(b *testing.B) {
	ctx := testCtx(b)
	for b.Loop() {
		bx := newBox(b, boxOpts{args: []string{"true"}})
		cmd := exec.CommandContext(ctx, testEnv.runc, "--root", bx.cfg.RuntimeRoot, "run", "--bundle", bx.cfg.Bundle, bx.cfg.ID)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("runc run: %v: %s", err, out)
		}
	}
}

// BenchmarkShimRSS reports the resident memory of a shim holding a
// running container (target: at most 0.35x containerd-shim's 13 MB).
func BenchmarkShimRSS(b *testing.B) {
	ctx := testCtx(b)
	bx := newBox(b, boxOpts{args: []string{"sh", "-c", "echo up; exec sleep 100"}})
	s := bx.launch(ctx)
	conn, err := s.Attach(ctx, false, true, true)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	var acc bytes.Buffer
	readUntil(b, conn, &acc, "up")
	var rss int
	for b.Loop() {
		rss = vmRSS(b, s.ShimPid())
	}
	b.ReportMetric(float64(rss), "rss-kB")
}

func vmRSS(t testing.TB, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// Ensure net.Conn from Attach supports half-close as documented.
var _ interface{ CloseWrite() error } = (*net.UnixConn)(nil)
