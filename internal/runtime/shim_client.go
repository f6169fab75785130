package runtime

import (
	"context"
	"errors"
	"net"
	"syscall"

	"berth/internal/shim"
)

// ErrShimGone means the shim is not there any more: the container has
// exited and its shim finished, or it died. The caller reads the exit file.
var ErrShimGone = errors.New("shim is gone")

// Shim is a connection to one container's berth-shim.
type Shim struct {
	socket string
	pid    int // container init pid
}

// Launch starts `shimBinary <cfg.Bundle>` as a detached process (own session,
// survives berthd), after writing cfg to <bundle>/shim.json. It returns once
// the runtime has created the container (the process exists and waits to be
// started), or with the runtime's error text when creation failed.
func Launch(ctx context.Context, shimBinary string, cfg shim.Config) (*Shim, error) {
	return nil, errors.New("not implemented")
}

// Connect attaches to the shim serving socket, as berthd does on restart.
// It returns ErrShimGone when nobody listens there.
func Connect(ctx context.Context, socket string) (*Shim, error) {
	return nil, errors.New("not implemented")
}

// Pid is the container's init process as seen from the host.
func (s *Shim) Pid() int { return s.pid }

// Socket is the path the shim listens on.
func (s *Shim) Socket() string { return s.socket }

// Start runs the created container's process.
func (s *Shim) Start(ctx context.Context) error { return errors.New("not implemented") }

// State asks the shim for the container's state.
func (s *Shim) State(ctx context.Context) (shim.State, error) {
	return shim.State{}, errors.New("not implemented")
}

// Wait blocks until the container's init exits (or ctx ends) and returns
// how it ended. If the shim is gone it returns ErrShimGone.
func (s *Shim) Wait(ctx context.Context) (shim.ExitStatus, error) {
	return shim.ExitStatus{}, errors.New("not implemented")
}

// Kill sends sig to the container's init, or to every process if all.
func (s *Shim) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	return errors.New("not implemented")
}

// Attach opens a stream to the container's stdio. After it returns, reads
// from conn give the output (raw with a terminal, stdcopy-multiplexed
// without), writes go to the container's stdin, and CloseWrite on conn
// closes the attachment's stdin. conn ends when the container exits.
func (s *Shim) Attach(ctx context.Context, stdin, stdout, stderr bool) (net.Conn, error) {
	return nil, errors.New("not implemented")
}

// Resize sets the terminal size of the container (execID "") or an exec.
func (s *Shim) Resize(ctx context.Context, execID string, height, width uint16) error {
	return errors.New("not implemented")
}

// Exec starts proc in the container. Unless detach, conn carries the exec's
// stdio exactly as Attach does (stdin only if proc.Terminal or stdin was
// requested by proc's caller; the shim always accepts writes). It returns
// the exec's host pid.
func (s *Shim) Exec(ctx context.Context, execID string, req shim.Request) (conn net.Conn, pid int, err error) {
	return nil, 0, errors.New("not implemented")
}

// ExecWait blocks until the exec ends and returns how.
func (s *Shim) ExecWait(ctx context.Context, execID string) (shim.ExitStatus, error) {
	return shim.ExitStatus{}, errors.New("not implemented")
}

// Close releases the client; the shim and container keep running.
func (s *Shim) Close() error { return nil }
