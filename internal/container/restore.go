package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"

	bnet "berth/internal/network"
	"berth/internal/runtime"
)

// Restore loads every container and reconnects to the shims of those that
// were running when berthd last stopped (or crashed). A container whose shim
// is gone gets the exit status its shim left behind.
func (s *Service) Restore(ctx context.Context) error {
	cs, err := s.store.load()
	if err != nil {
		return err
	}
	known := map[string]bool{}
	var wg sync.WaitGroup
	for _, c := range cs {
		known[c.ID] = true
		// The volume service keeps references in memory only.
		s.referenceMounts(c)
		c.mu.Lock()
		running := c.State.Running() || c.State.Status == container.StateRestarting
		removing := c.State.Status == container.StateRemoving
		socket := c.ShimSocket
		c.mu.Unlock()
		if !running && !removing {
			// A start whose record was not saved yet when berthd died:
			// its shim is the proof that the container runs.
			if _, err := os.Stat(s.shimSocket(c.ID)); err == nil {
				running, socket = true, s.shimSocket(c.ID)
			}
		}
		switch {
		case running:
			wg.Add(1)
			go func(c *Container) {
				defer wg.Done()
				s.reconnect(ctx, c, socket)
			}(c)
		case removing:
			logErr(s.log, "finish removal", s.Remove(ctx, c.ID, RemoveOptions{Force: true}), "container_id", c.ID)
		}
	}
	wg.Wait()
	s.keepStatsWarm() // stats.go: live-restored containers
	s.restartOnBoot(ctx)
	// Writable layers of containers that are gone (an auto-removal cut
	// short) are removed now.
	ids, err := s.cfg.Images.RootfsContainers(ctx)
	if err != nil {
		return fmt.Errorf("list container layers: %w", err)
	}
	for _, id := range ids {
		if !known[id] {
			logErr(s.log, "remove orphaned rootfs", s.cfg.Images.RemoveRootfs(ctx, id), "container_id", id)
		}
	}
	s.removeOrphanBundles(ctx, known)
	return nil
}

// removeOrphanBundles removes the bundles of containers that are gone (an
// auto-removal cut short), once no shim is left cleaning up in them and
// nothing is mounted on their rootfs.
func (s *Service) removeOrphanBundles(ctx context.Context, known map[string]bool) {
	bundles, _ := os.ReadDir(s.bundlesDir())
	for _, b := range bundles {
		id := b.Name()
		if known[id] || len(id) < 24 {
			continue
		}
		if _, err := os.Stat(s.shimSocket(id)); err == nil {
			continue
		}
		dir := s.execDir(id)
		if err := s.cfg.Images.UnmountRootfs(ctx, filepath.Join(dir, "rootfs")); err != nil {
			logErr(s.log, "unmount orphaned rootfs", err, "container_id", id)
			continue
		}
		os.RemoveAll(dir)
	}
}

func (s *Service) reconnect(ctx context.Context, c *Container, socket string) {
	exited := make(chan struct{})
	c.mu.Lock()
	c.exited = exited
	c.mu.Unlock()
	sh, err := runtime.Connect(ctx, socket)
	if err != nil {
		if !errors.Is(err, runtime.ErrShimGone) {
			s.log.Warn("reconnect to shim", "container_id", c.ID, "error", err.Error())
		}
		s.handleExit(c, s.readExitFile(c.ID, err), exited)
		return
	}
	// Only a record that predates the start needs what the start gave
	// (below); restore does not change a container's state under us.
	c.mu.Lock()
	unsaved := !c.State.Running()
	c.mu.Unlock()
	var sandbox *bnet.AttachResult
	started := time.Now()
	if unsaved {
		if s.cfg.Networks != nil {
			sandbox, _ = s.cfg.Networks.Sandbox(c.ID)
		}
		if t, err := processStartTime(sh.Pid()); err == nil {
			started = t
		}
	}
	c.mu.Lock()
	c.shim = sh
	c.ShimSocket = socket
	if unsaved {
		// The record predates the start (its save was lost with berthd):
		// what the start gave the container comes from its process, its
		// shim, and the network service, which saved its sandbox before
		// the start.
		// Only a start by hand follows a record that is not "restarting",
		// and such a start resets the restart policy's count.
		if c.State.Status != container.StateRestarting {
			c.ManuallyStopped, c.RestartCount = false, 0
		}
		c.State = State{Status: container.StateRunning, Pid: sh.Pid(), StartedAt: started.UTC()}
		if sandbox != nil {
			c.Networks, c.Ports, c.SandboxKey = sandbox.Endpoints, sandbox.Ports, sandbox.NetNSPath
		}
		logErr(s.log, "save container state", s.store.saveLocked(c), "container_id", c.ID)
	}
	c.mu.Unlock()
	s.log.Debug("reconnected to container", "container_id", c.ID)
	s.watch(c, sh, exited)
	s.watchHealth(c, sh, exited)
}

// Shutdown stops every running container, in parallel, as dockerd does
// on shutdown without live-restore.
func (s *Service) Shutdown(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range s.store.all() {
		c.mu.Lock()
		running := c.State.Running()
		c.mu.Unlock()
		if !running {
			continue
		}
		wg.Add(1)
		go func(c *Container) {
			defer wg.Done()
			if err := s.stop(ctx, c, "", nil); err != nil {
				s.log.Debug("stop on shutdown", "container_id", c.ID, "error", err.Error())
			}
		}(c)
	}
	wg.Wait()
}
