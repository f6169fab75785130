package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"berth/internal/shim"
)

// fakeShim serves one canned behaviour per connection on a unix socket.
func fakeShim(t *testing.T, serve func(req shim.Request, conn net.Conn, br *bufio.Reader)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(conn)
			line, err := br.ReadBytes('\n')
			if err != nil {
				conn.Close()
				continue
			}
			var req shim.Request
			if err := json.Unmarshal(line, &req); err != nil {
				conn.Close()
				continue
			}
			serve(req, conn, br)
			conn.Close()
		}
	}()
	return path
}

func reply(conn net.Conn, resp shim.Response) {
	b, _ := json.Marshal(resp)
	conn.Write(append(b, '\n'))
}

func TestShimClientGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	// A socket file nobody listens on any more.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	hangup := fakeShim(t, func(req shim.Request, conn net.Conn, br *bufio.Reader) {})

	tests := []struct {
		doc  string
		call func() error
	}{
		{doc: "no socket", call: func() error { _, err := Connect(ctx, filepath.Join(dir, "none.sock")); return err }},
		{doc: "refused", call: func() error { _, err := Connect(ctx, stale); return err }},
		{doc: "closed without answer", call: func() error { _, err := (&Shim{socket: hangup}).Wait(ctx); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrShimGone) {
				t.Fatalf("got %v, want ErrShimGone", err)
			}
		})
	}
}

func TestShimClientRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan shim.Request, 16)
	sock := fakeShim(t, func(req shim.Request, conn net.Conn, br *bufio.Reader) {
		got <- req
		switch req.Op {
		case "state":
			reply(conn, shim.Response{Pid: 42, State: &shim.State{ID: "c", Pid: 42, Status: shim.StatusRunning, ShimPid: 7}})
		case "kill":
			reply(conn, shim.Response{Error: "container not running"})
		case "wait", "exec-wait":
			reply(conn, shim.Response{Exit: &shim.ExitStatus{Code: 3}})
		case "attach", "exec":
			// The stream starts right behind the response, in the same write.
			b, _ := json.Marshal(shim.Response{Pid: 9})
			conn.Write(append(append(b, '\n'), "stream"...))
			in, _ := io.ReadAll(br) // until the client half-closes
			conn.Write([]byte(":" + string(in)))
		default:
			reply(conn, shim.Response{})
		}
	})
	s, err := Connect(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pid() != 42 || s.ShimPid() != 7 || s.Socket() != sock {
		t.Fatalf("Connect = %+v", s)
	}
	<-got
	if err := s.Kill(ctx, syscall.SIGTERM, true); err == nil || err.Error() != "container not running" {
		t.Fatalf("Kill = %v", err)
	}
	if req := <-got; req.Op != "kill" || req.Signal != 15 || !req.All {
		t.Fatalf("kill request %+v", req)
	}
	if st, err := s.Wait(ctx); err != nil || st.Code != 3 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	<-got
	if err := s.Resize(ctx, "e1", 24, 80); err != nil {
		t.Fatal(err)
	}
	if req := <-got; req.Op != "resize" || req.ExecID != "e1" || req.Height != 24 || req.Width != 80 {
		t.Fatalf("resize request %+v", req)
	}
	conn, pid, err := s.Exec(ctx, "e2", shim.Request{NoStdin: true})
	if err != nil || pid != 9 {
		t.Fatalf("Exec = %d, %v", pid, err)
	}
	if req := <-got; req.Op != "exec" || req.ExecID != "e2" || !req.NoStdin {
		t.Fatalf("exec request %+v", req)
	}
	conn.Write([]byte("in"))
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(conn)
	if err != nil || string(out) != "stream:in" {
		t.Fatalf("stream %q, %v", out, err)
	}
	conn.Close()
}

func TestLaunchReportsShimFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bundle := t.TempDir()
	// A "shim" that exits without reporting.
	_, err := Launch(ctx, "/bin/true", shim.Config{ID: "x", Bundle: bundle, Socket: filepath.Join(bundle, "s.sock")})
	if err == nil || !strings.Contains(err.Error(), "shim exited before reporting") {
		t.Fatalf("Launch = %v", err)
	}
	if _, err := os.Stat(filepath.Join(bundle, shim.ConfigFile)); err != nil {
		t.Fatalf("shim.json not written: %v", err)
	}
}
