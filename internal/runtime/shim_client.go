package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"berth/internal/shim"
)

// ErrShimGone means the shim is not there any more: the container has
// exited and its shim finished, or it died. The caller reads the exit file.
var ErrShimGone = errors.New("shim is gone")

// Shim is a connection to one container's berth-shim.
type Shim struct {
	socket  string
	pid     int // container init pid
	shimPid int
	gone    chan struct{} // closed when a shim this process launched has ended
}

// ShimLogFile is the shim's own diagnostics log inside the bundle.
const ShimLogFile = "shim.log"

// Launch starts `shimBinary <cfg.Bundle>` as a detached process (own session,
// survives berthd), after writing cfg to <bundle>/shim.json. It returns once
// the runtime runs the container, whose output the shim holds back until
// Start so that attachments made in between miss nothing; or with the
// runtime's error text when creation failed.
func Launch(ctx context.Context, shimBinary string, cfg shim.Config) (*Shim, error) {
	bundle, err := filepath.Abs(cfg.Bundle)
	if err != nil {
		return nil, err
	}
	cfg.Bundle = bundle
	cfg.SealedRuntime = cfg.RuntimeFile != nil
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg.Bundle, shim.ConfigFile), data, 0o600); err != nil {
		return nil, fmt.Errorf("write shim config: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(cfg.Bundle, ShimLogFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("shim log: %w", err)
	}
	defer logf.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	cmd := exec.Command(shimBinary, cfg.Bundle)
	cmd.Dir = cfg.Bundle
	cmd.Env = shimEnv()
	cmd.Stderr = logf
	cmd.ExtraFiles = []*os.File{readyW} // shim.ReadyFD
	if cfg.RuntimeFile != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, cfg.RuntimeFile) // shim.RuntimeFD
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if cfg.V1View {
		// The shim, and every runtime command it runs, in the v1 view: a
		// mount namespace of its own, which the shim makes the view
		// (shim.EnterV1View) before anything else.
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
	}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return nil, fmt.Errorf("start shim: %w", err)
	}
	// Reap the shim when it ends; if berthd ends first, init adopts it.
	gone := make(chan struct{})
	go func() {
		cmd.Wait()
		close(gone)
	}()

	type result struct {
		ready shim.Ready
		err   error
	}
	got := make(chan result, 1)
	go func() {
		var r result
		line, err := bufio.NewReader(readyR).ReadBytes('\n')
		switch {
		case len(line) > 0:
			r.err = json.Unmarshal(line, &r.ready)
		case errors.Is(err, io.EOF):
			r.err = fmt.Errorf("shim exited before reporting; see %s", filepath.Join(cfg.Bundle, ShimLogFile))
		default:
			r.err = err
		}
		got <- r
	}()
	var r result
	select {
	case r = <-got:
	case <-ctx.Done():
		// The container may be half made; the shim's own clean-up on
		// failure does not run when it is killed, so berthd must delete it
		// from the runtime.
		cmd.Process.Kill()
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, fmt.Errorf("start shim: %w", r.err)
	}
	if r.ready.Error != "" {
		return nil, errors.New(r.ready.Error)
	}
	return &Shim{socket: cfg.Socket, pid: r.ready.Pid, shimPid: cmd.Process.Pid, gone: gone}, nil
}

// shimEnv is the environment a shim (and the runtime it runs) gets.
func shimEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	if v := os.Getenv("TMPDIR"); v != "" {
		env = append(env, "TMPDIR="+v)
	}
	return env
}

// Connect attaches to the shim serving socket, as berthd does on restart.
// It returns ErrShimGone when nobody listens there.
func Connect(ctx context.Context, socket string) (*Shim, error) {
	s := &Shim{socket: socket}
	st, err := s.State(ctx)
	if err != nil {
		return nil, err
	}
	s.pid, s.shimPid = st.Pid, st.ShimPid
	return s, nil
}

// Pid is the container's init process as seen from the host.
func (s *Shim) Pid() int { return s.pid }

// ShimPid is the pid of the berth-shim process itself.
func (s *Shim) ShimPid() int { return s.shimPid }

// Socket is the path the shim listens on.
func (s *Shim) Socket() string { return s.socket }

// Start lets the container's output flow to its log and attached clients.
func (s *Shim) Start(ctx context.Context) error {
	_, err := s.call(ctx, shim.Request{Op: "start"})
	return err
}

// State asks the shim for the container's state.
func (s *Shim) State(ctx context.Context) (shim.State, error) {
	resp, err := s.call(ctx, shim.Request{Op: "state"})
	if err != nil {
		return shim.State{}, err
	}
	if resp.State == nil {
		return shim.State{}, errors.New("shim: state missing from response")
	}
	return *resp.State, nil
}

// Wait blocks until the container's init exits (or ctx ends) and returns
// how it ended. If the shim is gone it returns ErrShimGone.
func (s *Shim) Wait(ctx context.Context) (shim.ExitStatus, error) {
	resp, err := s.call(ctx, shim.Request{Op: "wait"})
	if err != nil {
		return shim.ExitStatus{}, err
	}
	if resp.Exit == nil {
		return shim.ExitStatus{}, errors.New("shim: exit missing from response")
	}
	return *resp.Exit, nil
}

// Kill sends sig to the container's init, or to every process if all.
func (s *Shim) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	_, err := s.call(ctx, shim.Request{Op: "kill", Signal: int(sig), All: all})
	return err
}

// Attach opens a stream to the container's stdio. After it returns, reads
// from conn give the output (raw with a terminal, stdcopy-multiplexed
// without), writes go to the container's stdin, and CloseWrite on conn
// closes the attachment's stdin. conn ends when the container exits.
func (s *Shim) Attach(ctx context.Context, stdin, stdout, stderr bool) (net.Conn, error) {
	conn, _, err := s.stream(ctx, shim.Request{Op: "attach", Stdin: stdin, Stdout: stdout, Stderr: stderr})
	return conn, err
}

// Resize sets the terminal size of the container (execID "") or an exec.
func (s *Shim) Resize(ctx context.Context, execID string, height, width uint16) error {
	_, err := s.call(ctx, shim.Request{Op: "resize", ExecID: execID, Height: height, Width: width})
	return err
}

// Exec starts proc in the container. Unless detach, conn carries the exec's
// stdio exactly as Attach does (stdin only if proc.Terminal or stdin was
// requested by proc's caller; the shim always accepts writes). It returns
// the exec's host pid.
//
// Without req.NoStdin the exec's stdin is a pipe that closes when the caller
// half-closes conn (CloseWrite); with it the exec reads /dev/null. conn is
// nil when req.Detach.
func (s *Shim) Exec(ctx context.Context, execID string, req shim.Request) (conn net.Conn, pid int, err error) {
	req.Op = "exec"
	req.ExecID = execID
	if req.Detach {
		resp, err := s.call(ctx, req)
		if err != nil {
			return nil, 0, err
		}
		return nil, resp.Pid, nil
	}
	conn, resp, err := s.stream(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	return conn, resp.Pid, nil
}

// ExecWait blocks until the exec ends and returns how.
func (s *Shim) ExecWait(ctx context.Context, execID string) (shim.ExitStatus, error) {
	resp, err := s.call(ctx, shim.Request{Op: "exec-wait", ExecID: execID})
	if err != nil {
		return shim.ExitStatus{}, err
	}
	if resp.Exit == nil {
		return shim.ExitStatus{}, errors.New("shim: exit missing from response")
	}
	return *resp.Exit, nil
}

// Close releases the client; the shim and container keep running.
func (s *Shim) Close() error { return nil }
