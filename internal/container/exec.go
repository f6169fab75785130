package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"berth/internal/errdefs"
	"berth/internal/runtime"
	"berth/internal/shim"
)

// Exec is a process started (or to be started) inside a running container.
type Exec struct {
	ID          string
	ContainerID string
	Config      container.ExecCreateRequest

	mu       sync.Mutex
	started  bool // guarded by mu
	running  bool // guarded by mu
	exitCode *int // guarded by mu
	pid      int  // guarded by mu
}

// ExecCreate registers an exec for a running container.
func (s *Service) ExecCreate(ctx context.Context, ref string, req container.ExecCreateRequest) (string, error) {
	c, err := s.store.get(ref)
	if err != nil {
		return "", err
	}
	if len(req.Cmd) == 0 {
		return "", errdefs.Invalid(errors.New("No exec command specified"))
	}
	if _, err := parseDetachKeys(req.DetachKeys); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.State.Running() {
		return "", errdefs.Conflict(fmt.Errorf("container %s is not running", c.ID))
	}
	if c.State.Status == container.StatePaused {
		return "", errdefs.Conflict(fmt.Errorf("container %s is paused, unpause the container before exec", c.ID))
	}
	// The exec's start follows: a head start for the runtime's cgroup
	// write (see runtime.PrimeCgroupMigration).
	runtime.PrimeCgroupMigration()
	e := &Exec{ID: newID(), ContainerID: c.ID, Config: req}
	c.execs[e.ID] = e
	s.execMu.Lock()
	s.execs[e.ID] = e
	s.execMu.Unlock()
	go s.publish(c, "exec_create: "+execCommand(req.Cmd), map[string]string{"execID": e.ID})
	return e.ID, nil
}

// execCommand is how an exec's events name its command, as dockerd
// writes it: the entrypoint, a space, then the arguments ("true " for a
// lone `true`).
func execCommand(cmd []string) string {
	if len(cmd) == 0 {
		return " "
	}
	return cmd[0] + " " + strings.Join(cmd[1:], " ")
}

// ExecGet finds an exec by ID.
func (s *Service) ExecGet(id string) (*Exec, error) {
	s.execMu.Lock()
	defer s.execMu.Unlock()
	e, ok := s.execs[id]
	if !ok {
		return nil, errdefs.NotFound(fmt.Errorf("No such exec instance: %s", id))
	}
	return e, nil
}

func (s *Service) dropExecs(c *Container) {
	c.mu.Lock()
	ids := make([]string, 0, len(c.execs))
	for id := range c.execs {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	s.execMu.Lock()
	for _, id := range ids {
		delete(s.execs, id)
	}
	s.execMu.Unlock()
}

// ExecStart runs the exec. Without detach it streams the process's stdio
// over client until the process ends.
func (s *Service) ExecStart(ctx context.Context, e *Exec, detach bool, client io.ReadWriter) (retErr error) {
	c, err := s.store.get(e.ContainerID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("Error: Exec command %s has already run", e.ID))
	}
	e.started = true
	e.mu.Unlock()
	defer func() {
		// An exec that could not start without the runtime saying why
		// (an unknown user, a stopped container) ended with 126, as
		// dockerd records it: the CLI exits with that.
		if retErr == nil {
			return
		}
		e.mu.Lock()
		if e.exitCode == nil && !e.running {
			code := 126
			e.exitCode = &code
		}
		e.mu.Unlock()
	}()

	c.mu.Lock()
	sh := c.shim
	running := c.State.Running()
	c.mu.Unlock()
	if !running || sh == nil {
		return errdefs.Conflict(fmt.Errorf("container %s is not running", c.ID))
	}
	runtime.PrimeCgroupMigration()
	proc, err := s.execProcess(c, e.Config)
	if err != nil {
		return err
	}
	cfg := e.Config
	conn, pid, err := sh.Exec(ctx, e.ID, shim.Request{
		Process: proc, Detach: detach, NoStdin: !cfg.AttachStdin,
		Stdin: cfg.AttachStdin, Stdout: cfg.AttachStdout || !detach, Stderr: cfg.AttachStderr || !detach,
	})
	if err != nil {
		code := startExitCode(err.Error())
		e.mu.Lock()
		e.exitCode = &code
		e.mu.Unlock()
		// The runtime's own words, as dockerd passes them on; a command
		// that cannot run is the caller's mistake.
		if code != 128 {
			return errdefs.Invalid(err)
		}
		return err
	}
	e.mu.Lock()
	e.running, e.pid = true, pid
	e.mu.Unlock()
	if cs := cfg.ConsoleSize; cfg.Tty && cs != nil && cs[0] > 0 && cs[1] > 0 {
		logErr(s.log, "initial exec resize", sh.Resize(ctx, e.ID, uint16(cs[0]), uint16(cs[1])))
	}
	s.publish(c, "exec_start: "+execCommand(cfg.Cmd), map[string]string{"execID": e.ID})

	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		st, err := sh.ExecWait(s.ctx, e.ID)
		code := st.Code
		if err != nil {
			code = 126
			if s.ctx.Err() != nil {
				return
			}
		}
		e.mu.Lock()
		e.running, e.exitCode = false, &code
		e.mu.Unlock()
		s.publish(c, "exec_die", map[string]string{"execID": e.ID, "exitCode": strconv.Itoa(code)})
	}()
	if detach || conn == nil {
		if conn != nil {
			conn.Close()
		}
		return nil
	}
	defer conn.Close()
	keys, _ := parseDetachKeys(cfg.DetachKeys)
	outDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(client, conn)
		outDone <- err
	}()
	if cfg.AttachStdin {
		go func() {
			_, err := io.Copy(conn, newEscapeReader(client, keys))
			if errors.Is(err, ErrDetached) {
				conn.Close()
				return
			}
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		}()
	}
	select {
	case err := <-outDone:
		if err = ignoreClosed(err); err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	// The stream ends with the process; let inspect see the exit code.
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// execProcess derives the exec's process from the container's spec.
func (s *Service) execProcess(c *Container, cfg container.ExecCreateRequest) (*specs.Process, error) {
	data, err := os.ReadFile(filepath.Join(s.execDir(c.ID), "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read container spec: %w", err)
	}
	var base specs.Spec
	if err := json.Unmarshal(data, &base); err != nil {
		return nil, fmt.Errorf("read container spec: %w", err)
	}
	c.mu.Lock()
	user, workdir := c.Config.User, c.Config.WorkingDir
	c.mu.Unlock()
	if cfg.User != "" {
		user = cfg.User
	}
	if cfg.WorkingDir != "" {
		workdir = cfg.WorkingDir
	}
	return runtime.ExecProcess(&base, filepath.Join(s.execDir(c.ID), "rootfs"), runtime.ExecOptions{
		Cmd: cfg.Cmd, Env: cfg.Env, WorkingDir: workdir, User: user, Tty: cfg.Tty, Privileged: cfg.Privileged,
	})
}

// ExecInspect is GET /exec/{id}/json.
func (s *Service) ExecInspect(e *Exec) container.ExecInspectResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := e.Config
	var args []string
	if len(cfg.Cmd) > 1 {
		args = cfg.Cmd[1:]
	}
	priv := cfg.Privileged
	return container.ExecInspectResponse{
		ID: e.ID, Running: e.running, ExitCode: e.exitCode, Pid: e.pid,
		ProcessConfig: &container.ExecProcessConfig{Tty: cfg.Tty, Entrypoint: cfg.Cmd[0], Arguments: args, Privileged: &priv, User: cfg.User},
		OpenStdin:     cfg.AttachStdin, OpenStdout: cfg.AttachStdout, OpenStderr: cfg.AttachStderr,
		ContainerID: e.ContainerID, DetachKeys: []byte(cfg.DetachKeys),
	}
}

// ExecResize sets an exec's terminal size.
func (s *Service) ExecResize(ctx context.Context, e *Exec, h, w uint16) error {
	c, err := s.store.get(e.ContainerID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	sh := c.shim
	c.mu.Unlock()
	if sh == nil {
		return errdefs.Conflict(fmt.Errorf("container %s is not running", c.ID))
	}
	return sh.Resize(ctx, e.ID, h, w)
}

// Resize sets the container's terminal size.
func (s *Service) Resize(ctx context.Context, ref string, h, w uint16) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	sh := c.shim
	c.mu.Unlock()
	if sh == nil {
		return errdefs.Conflict(fmt.Errorf("Container %s is not running", c.ID))
	}
	if err := sh.Resize(ctx, "", h, w); err != nil {
		return err
	}
	s.publish(c, "resize", map[string]string{"height": strconv.Itoa(int(h)), "width": strconv.Itoa(int(w))})
	return nil
}
