package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"berth/internal/atomicfile"
	"berth/internal/logger/jsonfile"

	"golang.org/x/sys/unix"
)

// LoadConfig reads <bundle>/shim.json.
func LoadConfig(bundle string) (Config, error) {
	var cfg Config
	data, err := os.ReadFile(filepath.Join(bundle, ConfigFile))
	if err != nil {
		return cfg, fmt.Errorf("read shim config: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("read shim config: %w", err)
	}
	if cfg.Bundle == "" {
		cfg.Bundle = bundle
	}
	switch {
	case cfg.ID == "":
		return cfg, errors.New("shim config: no id")
	case cfg.Runtime == "" || cfg.RuntimeRoot == "":
		return cfg, errors.New("shim config: no runtime")
	case cfg.Socket == "":
		return cfg, errors.New("shim config: no socket")
	case cfg.ExitFile == "":
		return cfg, errors.New("shim config: no exit file")
	}
	return cfg, nil
}

// shim is the state of one running berth-shim.
type shim struct {
	cfg  Config
	log  *slog.Logger
	rt   *ociRuntime
	logw *jsonfile.Writer // nil without a log
	init *process

	mu         sync.Mutex
	status     string              // guarded by mu
	initExited bool                // guarded by mu: the reaper reported the init's exit
	exit       *ExitStatus         // guarded by mu: set once the exit is recorded
	execs      map[string]*process // guarded by mu

	// release starts copying the container's output, once: at the start
	// op, so that clients attached between create and start see every byte,
	// or when the process exits without a start.
	release     func()
	releaseOnce sync.Once
	started     chan struct{} // closed by the start op

	stopped  chan struct{} // closed when exit is set: releases waits
	done     chan struct{} // closed when the shim should return
	doneOnce sync.Once
	handlers sync.WaitGroup // request handlers in flight
}

// Run is berth-shim's body. It creates the container described by
// <bundle>/shim.json, reports {"pid":N} or {"error":…} once on ready (then
// closes it), serves the socket while the container lives, records the exit
// and returns once everything is reported. A non-nil error means creation
// failed (already reported on ready).
func Run(ctx context.Context, bundle string, ready io.WriteCloser, log *slog.Logger) error {
	report := func(r Ready) {
		if ready == nil {
			return
		}
		b, _ := json.Marshal(r)
		ready.Write(append(b, '\n'))
		ready.Close()
	}
	cfg, err := LoadConfig(bundle)
	if err != nil {
		report(Ready{Error: err.Error()})
		return err
	}
	log = log.With("container_id", cfg.ID)
	if cfg.V1View {
		// Launch started this shim in a mount namespace of its own.
		if err := EnterV1View(); err != nil {
			report(Ready{Error: err.Error()})
			return err
		}
	}
	s, l, err := setup(ctx, cfg, log)
	if err != nil {
		report(Ready{Error: err.Error()})
		return err
	}
	go s.serve(l)
	report(Ready{Pid: s.init.pid})
	<-s.done
	l.Close()
	os.Remove(cfg.Socket)
	// Let handlers answer (pending waits get the exit) before the process ends.
	waitTimeout(&s.handlers, flushTimeout)
	return nil
}

// setup makes the shim a subreaper, listens on the socket, opens the log and
// creates the container.
func setup(ctx context.Context, cfg Config, log *slog.Logger) (*shim, *os.File, error) {
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, nil, fmt.Errorf("set child subreaper: %w", err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	s := &shim{
		cfg:     cfg,
		log:     log,
		rt:      &ociRuntime{cfg: &cfg, exe: runtimeExe(&cfg), reaper: newReaper(), devnull: devnull},
		status:  StatusCreated,
		execs:   make(map[string]*process),
		stopped: make(chan struct{}),
		started: make(chan struct{}),
		done:    make(chan struct{}),
	}
	// A previous run's exit must not be mistaken for this one's.
	if err := os.Remove(cfg.ExitFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("remove old exit file: %w", err)
	}
	l, err := listen(cfg.Socket)
	if err != nil {
		return nil, nil, err
	}
	if cfg.LogPath != "" {
		s.logw, err = jsonfile.NewWriter(cfg.LogPath, jsonfile.WriterOptions{MaxSize: cfg.LogMaxSize, MaxFiles: cfg.LogMaxFiles})
		if err != nil {
			l.Close()
			os.Remove(cfg.Socket)
			return nil, nil, err
		}
	}
	if err := s.create(ctx); err != nil {
		l.Close()
		os.Remove(cfg.Socket)
		if s.logw != nil {
			s.logw.Close()
		}
		// Nothing may be left behind in the runtime's state.
		s.rt.run(context.WithoutCancel(ctx), runtimeIO{}, "delete", "--force", cfg.ID)
		return nil, nil, err
	}
	return s, l, nil
}

// listen creates the socket with mode 0600, replacing a stale one.
func listen(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("shim socket: %w", err)
	}
	old := unix.Umask(0o077)
	l, err := listenUnix(path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("shim socket: %w", err)
	}
	return l, nil
}

// create runs `runtime create` and starts copying the container's output.
func (s *shim) create(ctx context.Context) error {
	cfg := &s.cfg
	p, err := newProcess("", cfg.Terminal, cfg.OpenStdin, cfg.StdinOnce)
	if err != nil {
		return fmt.Errorf("container stdio: %w", err)
	}
	pidFile := filepath.Join(cfg.Bundle, "init.pid")
	// `run --detach` creates and starts in one runtime invocation (a
	// separate `start` costs runc another ~10 ms of start-up). Until the
	// start op, nothing reads the output, so it waits in the pipes (or the
	// pty) for the clients that attach in between.
	args := []string{"run", "--detach", "--bundle", cfg.Bundle, "--pid-file", pidFile}
	if p.consock != nil {
		args = append(args, "--console-socket", p.consock.path)
	}
	args = append(args, cfg.ID)
	err = s.rt.run(ctx, p.child, args...)
	if err == nil {
		err = p.receiveConsole()
	}
	// Anything the runtime wrote to the container's stderr is dropped with
	// the pipes on failure: its message comes from its log instead.
	p.closeChildEnds()
	if err != nil {
		p.closeAll()
		return fmt.Errorf("OCI runtime create failed: %w", err)
	}
	if p.pid, err = readPidFile(pidFile); err != nil {
		p.closeAll()
		return err
	}
	s.init = p
	var logOut, logErr io.WriteCloser
	if s.logw != nil {
		logOut, logErr = s.logw.Stream("stdout"), s.logw.Stream("stderr")
	}
	s.release = func() { s.releaseOnce.Do(func() { p.startPumps(logOut, logErr) }) }
	go s.monitorInit(s.rt.reaper.watch(p.pid))
	return nil
}

// monitorInit waits for the container's init to exit, then records it:
// output drained and flushed, exit file written, container deleted from
// the runtime, waits answered, clients closed, and the shim told to end.
func (s *shim) monitorInit(exited <-chan ExitStatus) {
	st := <-exited
	// The cgroup goes with `runtime delete`: count its OOM kills first.
	st.OOMKilled = oomKilled(cgroupRoot, s.cfg.CgroupPath)
	s.mu.Lock()
	s.initExited = true
	s.mu.Unlock()
	p := s.init
	// Output of a process that ends before the start op is kept for the
	// clients that attach until then; a start that never comes (berthd
	// died in between) must not hold the shim forever.
	select {
	case <-s.started:
	case <-time.After(startGrace):
	}
	s.release()
	p.drain()
	if s.logw != nil {
		if err := s.logw.Close(); err != nil {
			s.log.Error("close container log", "error", err)
		}
	}
	// Waiters hear of the exit first: it is final, and the exit file and
	// the runtime's delete are only clean-up (berthd waits for this shim to
	// end before it runs the container again). Both are on `run --rm`'s
	// path, so they also overlap each other.
	s.mu.Lock()
	s.exit = &st
	s.status = StatusStopped
	s.mu.Unlock()
	close(s.stopped)
	deleted := make(chan error, 1)
	go func() {
		deleted <- s.rt.run(context.Background(), runtimeIO{}, "delete", "--force", s.cfg.ID)
	}()
	if err := WriteExitFile(s.cfg.ExitFile, st); err != nil {
		s.log.Error("write exit file", "error", err)
	}
	if err := <-deleted; err != nil {
		s.log.Error("delete container", "error", err)
	}
	p.closeAll()
	p.out.wait()
	s.finish()
}

// finish makes Run return.
func (s *shim) finish() { s.doneOnce.Do(func() { close(s.done) }) }

// startGrace is how long the output of a process that exited before the
// start op waits for that op.
const startGrace = 30 * time.Second

// stateSnapshot returns the state as "state" reports it.
func (s *shim) stateSnapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{ID: s.cfg.ID, Pid: s.init.pid, Status: s.status, ShimPid: os.Getpid()}
	if s.exit != nil {
		e := *s.exit
		st.Exit = &e
	}
	return st
}

// WriteExitFile records st at path atomically: a temporary file, fsync,
// rename, fsync of the directory.
func WriteExitFile(path string, st ExitStatus) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

// ReadExitFile reads what WriteExitFile recorded. berthd reads it when the
// shim is gone.
func ReadExitFile(path string) (ExitStatus, error) {
	var st ExitStatus
	data, err := os.ReadFile(path)
	if err != nil {
		return st, fmt.Errorf("read exit file: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("read exit file %s: %w", path, err)
	}
	return st, nil
}

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
