package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"

	"berth/internal/errdefs"
	"berth/internal/runtime"
	"berth/internal/shim"
)

// Start runs a created or stopped container. It returns once the
// container's process is running.
func (s *Service) Start(ctx context.Context, ref string) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.State.Running() {
		c.mu.Unlock()
		return errdefs.NotModified(errors.New("container already started"))
	}
	// A start by hand replaces a pending restart and resets the policy's
	// count and back-off, as dockerd does.
	s.cancelRestartLocked(c)
	c.ManuallyStopped = false
	c.RestartCount = 0
	c.backoff = 0
	if c.busy {
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("container %s is busy", c.ID))
	}
	if c.State.Status == container.StateRemoving || c.State.Status == container.StateDead {
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("container is marked for removal and cannot be started"))
	}
	c.busy = true
	c.stopping = false
	c.mu.Unlock()
	runtime.PrimeCgroupMigration()
	err = s.start(ctx, c)
	c.mu.Lock()
	c.busy = false
	autoRemove := c.HostConfig.AutoRemove
	c.mu.Unlock()
	if err != nil && autoRemove {
		// dockerd removes an auto-remove container whose start failed;
		// `run --rm` waits for exactly that.
		logErr(s.log, "auto-remove after failed start", s.Remove(context.WithoutCancel(ctx), c.ID, RemoveOptions{Force: true}), "container_id", c.ID)
	}
	return err
}

func (s *Service) start(ctx context.Context, c *Container) (retErr error) {
	// The last run's shim answered its exit before cleaning up after it
	// (exit file, runtime delete): let it finish before the next run.
	c.mu.Lock()
	last := c.lastShim
	c.lastShim = nil
	c.mu.Unlock()
	if last != nil {
		if err := last.Gone(ctx); err != nil {
			return fmt.Errorf("wait for the previous shim: %w", err)
		}
	}
	bundle := s.execDir(c.ID)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o710); err != nil {
		return err
	}
	if err := s.cfg.Images.MountRootfs(ctx, c.ID, rootfs); err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	defer func() {
		if retErr != nil {
			logErr(s.log, "unmount after failed start", s.cfg.Images.UnmountRootfs(context.WithoutCancel(ctx), rootfs), "container_id", c.ID)
		}
	}()

	pidNS, ipcNS, shm, err := s.sharedNamespaces(c)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			logErr(s.log, "unmount shm after failed start", unmountShm(s.shmPath(c.ID)), "container_id", c.ID)
		}
	}()
	volMounts, err := s.mountVolumes(ctx, c, rootfs) // mounts.go
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			s.releaseVolumes(context.WithoutCancel(ctx), c) // mounts.go
		}
	}()
	netnsPath, err := s.attachNetwork(ctx, c) // network.go
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			s.detachNetwork(context.WithoutCancel(ctx), c)
		}
	}()
	_, linkEnv := s.linkEntries(c) // network.go
	c.mu.Lock()
	hostnamePath, hostsPath, resolvPath, err := s.containerFiles(c)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	rt, rtErr := s.runtimeFor(c)
	spec, err := runtime.GenerateSpec(runtime.SpecOptions{
		ID:               c.ID,
		Rootfs:           rootfs,
		Config:           withEnv(c.Config, linkEnv),
		HostConfig:       c.HostConfig,
		NetNSPath:        netnsPath,
		HostnamePath:     hostnamePath,
		HostsPath:        hostsPath,
		ResolvConfPath:   resolvPath,
		CgroupsPath:      "/" + s.cfg.CgroupParent + "/" + c.ID,
		InitPath:         s.cfg.InitPath,
		HostCapabilities: s.cfg.HostCaps,
		NoX32:            s.cfg.NoX32,
		PidNSPath:        pidNS,
		IPCNSPath:        ipcNS,
		Mounts:           append(shm, volMounts...),
		// What the runtime is does not change the container: an unknown
		// one fails below.
		PrecompileSeccomp: rt.SeccompBPF,
	})
	logPath, logErrs := s.logPath(c)
	cfg := shim.Config{
		ID:          c.ID,
		Bundle:      bundle,
		Runtime:     rt.Path,
		RuntimeRoot: filepath.Join(s.cfg.ExecRoot, "runtime", c.Runtime),
		RuntimeArgs: rt.Args,
		V1View:      rt.V1View,
		Socket:      s.shimSocket(c.ID),
		ExitFile:    filepath.Join(bundle, "exit.json"),
		LogPath:     logPath,
		Terminal:    c.Config.Tty,
		OpenStdin:   c.Config.OpenStdin,
		StdinOnce:   c.Config.StdinOnce,
		CgroupPath:  "/" + s.cfg.CgroupParent + "/" + c.ID,
	}
	if logPath != "" {
		var err error
		cfg.LogMaxSize, cfg.LogMaxFiles, err = logRotation(c.HostConfig.LogConfig.Config)
		if err != nil {
			logErrs = errors.Join(logErrs, errdefs.Invalid(fmt.Errorf("failed to initialize logging driver: %w", err)))
		}
	}
	if rt.Sealed != nil {
		f, err := rt.Sealed.File()
		logErr(s.log, "sealed runtime binary", err, "runtime", rt.Path)
		cfg.RuntimeFile = f // nil on error: the binary on disk
	}
	c.mu.Unlock()
	if err := errors.Join(err, rtErr, logErrs); err != nil {
		return err
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		return err
	}
	os.Remove(cfg.ExitFile)

	// A client that goes away mid-start must not leave a half-made container:
	// the launch runs to its end whatever happens to the request.
	sh, err := runtime.Launch(context.WithoutCancel(ctx), s.cfg.ShimBinary, cfg)
	if err != nil {
		s.recordStartFailure(c, err)
		return startError(err)
	}
	// Attach requests that arrived before start get the stream from the
	// first byte: connect them before the process runs.
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, p := range pending {
		conn, err := sh.Attach(ctx, p.stdin, p.stdout, p.stderr)
		p.ready <- attachResult{conn: conn, err: err}
	}
	if err := sh.Start(ctx); err != nil {
		_ = sh.Kill(context.WithoutCancel(ctx), syscall.SIGKILL, true)
		sh.Close()
		s.recordStartFailure(c, err)
		return startError(err)
	}

	c.mu.Lock()
	c.shim = sh
	c.ShimSocket = cfg.Socket
	c.State = State{Status: container.StateRunning, Pid: sh.Pid(), StartedAt: time.Now().UTC()}
	c.exited = make(chan struct{})
	exited := c.exited
	c.notifyLocked()
	c.mu.Unlock()
	// The record is saved off the start path: the shim, found by its
	// socket, is what tells a restarted berthd that the container runs,
	// and a save always writes the latest state, so it cannot undo a
	// quicker exit.
	s.saveAsync(c)
	s.publish(c, "start", nil)
	s.watch(c, sh, exited)
	s.watchHealth(c, sh, exited)
	s.baseStats(c)    // stats.go
	s.keepStatsWarm() // stats.go
	return nil
}

// saveAsync persists c's current state in the background.
func (s *Service) saveAsync(c *Container) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.State.Status == container.StateRemoving {
			return // the record is going away
		}
		logErr(s.log, "save container state", s.store.saveLocked(c), "container_id", c.ID)
	}()
}

// watch waits, in the background, for the container's exit.
func (s *Service) watch(c *Container, sh *runtime.Shim, exited chan struct{}) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		st, err := sh.Wait(s.ctx)
		if err != nil && s.ctx.Err() != nil {
			return // the daemon is shutting down; the shim keeps the container
		}
		if err != nil {
			st = s.readExitFile(c.ID, err)
		}
		sh.Close()
		c.mu.Lock()
		c.lastShim = sh
		c.mu.Unlock()
		s.handleExit(c, st, exited)
	}()
}

// readExitFile is how a container ended when its shim could not tell us:
// the shim writes the file before it goes away.
func (s *Service) readExitFile(id string, cause error) shim.ExitStatus {
	var st shim.ExitStatus
	data, err := os.ReadFile(filepath.Join(s.execDir(id), "exit.json"))
	if err == nil && json.Unmarshal(data, &st) == nil {
		return st
	}
	s.log.Warn("container exit status lost", "container_id", id, "error", fmt.Sprint(cause))
	return shim.ExitStatus{Code: 255, ExitedAt: time.Now().UTC(), Error: "shim exited without reporting the container's exit status"}
}

// handleExit records an exit, unmounts the file system, and applies
// auto-removal.
func (s *Service) handleExit(c *Container, st shim.ExitStatus, exited chan struct{}) {
	ctx := s.ctx
	c.mu.Lock()
	current := c.exited == exited
	c.mu.Unlock()
	if !current {
		return // already handled
	}
	// Unmount before anyone hears of the exit: a restart that follows at
	// once mounts the file system again, and must not lose it to us.
	logErr(s.log, "unmount rootfs", s.cfg.Images.UnmountRootfs(ctx, filepath.Join(s.execDir(c.ID), "rootfs")), "container_id", c.ID)
	logErr(s.log, "unmount shm", unmountShm(s.shmPath(c.ID)), "container_id", c.ID)
	s.releaseVolumes(ctx, c) // mounts.go
	s.detachNetwork(ctx, c)  // network.go
	c.mu.Lock()
	c.shim = nil
	c.State.Status = container.StateExited
	c.State.Pid = 0
	c.State.ExitCode = st.Code
	c.State.OOMKilled = st.OOMKilled
	c.State.Error = st.Error
	c.State.FinishedAt = st.ExitedAt.UTC()
	if c.State.FinishedAt.IsZero() {
		c.State.FinishedAt = time.Now().UTC()
	}
	c.exits++
	restart, delay := c.restartDecisionLocked(st)
	if restart {
		c.State.Status = container.StateRestarting
		c.RestartCount++
	}
	autoRemove := c.HostConfig.AutoRemove
	var err error
	if !autoRemove {
		// An auto-removed container's record goes in a moment; should
		// berthd die first, restore finds the exit file and removes it then.
		err = s.store.saveLocked(c)
	}
	close(exited)
	c.notifyLocked()
	c.mu.Unlock()
	logErr(s.log, "save container state", err, "container_id", c.ID)
	if st.OOMKilled {
		s.publish(c, "oom", nil)
	}
	s.publish(c, "die", map[string]string{"exitCode": strconv.Itoa(st.Code)})
	if restart {
		s.scheduleRestart(c, delay)
		return
	}
	if autoRemove {
		logErr(s.log, "auto-remove", s.remove(ctx, c.ID, RemoveOptions{Force: true}, true), "container_id", c.ID)
	}
}

// recordStartFailure keeps the runtime's complaint and Docker's exit code
// for it on the container, which stays "created".
func (s *Service) recordStartFailure(c *Container, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.State.Error = err.Error()
	c.State.ExitCode = startExitCode(err.Error())
	c.State.FinishedAt = time.Now().UTC()
	c.exits++
	logErr(s.log, "save container state", s.store.saveLocked(c), "container_id", c.ID)
	// Attachments waiting for this start end with it: nothing will run.
	for _, p := range c.pending {
		p.ready <- attachResult{}
	}
	c.pending = nil
	c.notifyLocked()
}

// startExitCode is the exit code dockerd records when a container's
// process could not be started at all.
func startExitCode(msg string) int {
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"):
		return 126
	}
	return 128
}

// startError classifies a runtime failure as dockerd does: a command that
// cannot be run is the caller's mistake (400).
func startError(err error) error {
	msg := "failed to create task for container: " + err.Error()
	if startExitCode(err.Error()) != 128 {
		return errdefs.Invalid(errors.New(msg))
	}
	return errors.New(msg)
}

// shimSocket is where c's shim listens: short enough for a unix socket's
// 108-byte limit under any reasonable exec root (the bundle path, with the
// full ID in it, is not). 24 hex digits of the ID do not collide.
func (s *Service) shimSocket(id string) string {
	return filepath.Join(s.cfg.ExecRoot, "s", id[:24]+".sock")
}

func (s *Service) runtimeFor(c *Container) (Runtime, error) {
	rt, ok := s.cfg.Runtimes[c.Runtime]
	if !ok {
		return Runtime{}, errdefs.Invalid(fmt.Errorf("unknown or invalid runtime name: %s", c.Runtime))
	}
	return rt, nil
}

// logPath is where the shim writes the container's json-file log.
// Preconditions: c.mu held.
func (s *Service) logPath(c *Container) (string, error) {
	switch c.HostConfig.LogConfig.Type {
	case "json-file", "":
		return filepath.Join(s.dataDir(c.ID), c.ID+"-json.log"), nil
	case "none":
		return "", nil
	default:
		return "", errdefs.Invalid(fmt.Errorf("failed to create task for container: logger: no log driver named '%s' is registered", c.HostConfig.LogConfig.Type))
	}
}

// LogPath is the json-file log of c ("" when it has none).
func (s *Service) LogPath(c *Container) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, _ := s.logPath(c)
	return p
}

// withEnv is cfg with extra environment variables after its own (the
// container's own win, as with Docker's links).
func withEnv(cfg *container.Config, extra []string) *container.Config {
	if len(extra) == 0 {
		return cfg
	}
	cp := *cfg
	cp.Env = mergeEnv(extra, cfg.Env)
	return &cp
}
