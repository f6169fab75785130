package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"berth/internal/shim"
)

// Shutdown asks the shim of a stopped container to exit now. A shim ends by
// itself once the container's exit is recorded, so ErrShimGone is the usual
// answer and means the same.
func (s *Shim) Shutdown(ctx context.Context) error {
	_, err := s.call(ctx, shim.Request{Op: "shutdown"})
	return err
}

// dial connects to the shim; nothing listening is ErrShimGone.
func (s *Shim) dial(ctx context.Context) (*net.UnixConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", s.socket)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("%w: %s", ErrShimGone, s.socket)
		}
		return nil, fmt.Errorf("connect to shim: %w", err)
	}
	return c.(*net.UnixConn), nil
}

// roundTrip sends req on a new connection and reads the response line. The
// connection is closed if ctx ends first. A shim that closes the connection
// without answering is gone (it exited, or died).
func (s *Shim) roundTrip(ctx context.Context, req shim.Request) (*net.UnixConn, *bufio.Reader, shim.Response, error) {
	var resp shim.Response
	conn, err := s.dial(ctx)
	if err != nil {
		return nil, nil, resp, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*net.UnixConn, *bufio.Reader, shim.Response, error) {
		conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, nil, resp, err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return fail(err)
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			err = ErrShimGone
		}
		return fail(err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			err = ErrShimGone
		}
		return fail(err)
	}
	if !stop() {
		return fail(ctx.Err())
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return fail(fmt.Errorf("shim: bad response: %w", err))
	}
	if resp.Error != "" {
		return fail(errors.New(resp.Error))
	}
	return conn, br, resp, nil
}

// call runs a request that has no stream after its response.
func (s *Shim) call(ctx context.Context, req shim.Request) (shim.Response, error) {
	conn, _, resp, err := s.roundTrip(ctx, req)
	if err != nil {
		return resp, err
	}
	conn.Close()
	return resp, nil
}

// stream runs a request whose connection then carries a raw stream.
func (s *Shim) stream(ctx context.Context, req shim.Request) (net.Conn, shim.Response, error) {
	conn, br, resp, err := s.roundTrip(ctx, req)
	if err != nil {
		return nil, resp, err
	}
	return &streamConn{UnixConn: conn, r: br}, resp, nil
}

// streamConn is an attach or exec stream: reads start with whatever the
// response reader had already buffered.
type streamConn struct {
	*net.UnixConn
	r *bufio.Reader
}

func (c *streamConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the connection: the shim closes the process's stdin.
func (c *streamConn) CloseWrite() error { return c.UnixConn.CloseWrite() }

// ReadExitFile reads the exit status a shim recorded in cfg.ExitFile, for
// when Wait or Connect said ErrShimGone.
func ReadExitFile(path string) (shim.ExitStatus, error) {
	st, err := shim.ReadExitFile(path)
	if err != nil && errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("no exit status recorded: %w", err)
	}
	return st, err
}

// Gone blocks until the shim process has ended, its clean-up (exit file,
// runtime delete) done, or ctx ends. A shim answers Wait before that
// clean-up, so the container must not run again until its last shim is gone.
func (s *Shim) Gone(ctx context.Context) error {
	if s.gone != nil {
		select {
		case <-s.gone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// A shim from before a daemon restart is not our child: watch its pidfd,
	// once sure the pid is still that shim's (pids are reused).
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.shimPid)); err != nil || !bytes.Contains(cmdline, []byte("berth-shim")) {
		return nil
	}
	fd, err := unix.PidfdOpen(s.shimPid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("watch shim %d: %w", s.shimPid, err)
	}
	done := make(chan error, 1)
	go func() {
		// The goroutine owns fd; it ends when the shim does, which is soon
		// once the container has exited.
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, -1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			done <- err
			return
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// KillExec sends sig to the exec execID's process.
func (s *Shim) KillExec(ctx context.Context, execID string, sig syscall.Signal) error {
	_, err := s.call(ctx, shim.Request{Op: "kill", ExecID: execID, Signal: int(sig)})
	return err
}
