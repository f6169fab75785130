package image

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	cerrdefs "github.com/containerd/errdefs"

	"berth/internal/errdefs"
)

// gcRootLabel keeps a container's snapshot from garbage collection until
// RemoveRootfs: it needs no lease, so preparing costs one transaction.
const gcRootLabel = "containerd.io/gc.root"

// containerKey is the snapshot key of a container's writable layer.
func containerKey(containerID string) string { return "container-" + containerID }

// PrepareRootfs makes the writable layer for containerID on top of image
// imageID. It is kept (leased) until RemoveRootfs.
func (s *Service) PrepareRootfs(ctx context.Context, containerID, imageID string) error {
	ctx = s.ns(ctx)
	e, _, err := s.lookup(ctx, imageID)
	if err != nil {
		return err
	}
	labels := map[string]string{
		gcRootLabel:     time.Now().UTC().Format(time.RFC3339),
		"berth.image":   e.info.ID(),
		"berth.created": "container",
	}
	_, err = s.sn.Prepare(ctx, containerKey(containerID), e.info.topChainID(), snapshots.WithLabels(labels))
	if cerrdefs.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("prepare rootfs of %s: %w", containerID, err)
	}
	return nil
}

// MountRootfs mounts containerID's file system at target (which exists).
func (s *Service) MountRootfs(ctx context.Context, containerID, target string) error {
	ctx = s.ns(ctx)
	mounts, err := s.sn.Mounts(ctx, containerKey(containerID))
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return errdefs.NotFound(fmt.Errorf("no file system prepared for container %s", containerID))
		}
		return err
	}
	if err := mount.All(mounts, target); err != nil {
		return fmt.Errorf("mount rootfs of %s: %w", containerID, err)
	}
	return nil
}

// UnmountRootfs undoes MountRootfs; not mounted is not an error.
func (s *Service) UnmountRootfs(ctx context.Context, target string) error {
	if err := mount.UnmountAll(target, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

// RemoveRootfs deletes containerID's writable layer.
func (s *Service) RemoveRootfs(ctx context.Context, containerID string) error {
	ctx = s.ns(ctx)
	if err := s.sn.Remove(ctx, containerKey(containerID)); err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("remove rootfs of %s: %w", containerID, err)
	}
	s.scheduleGC()
	return nil
}

// RootfsSize returns the size of containerID's writable layer and of the
// whole file system it sees (for `ps -s`).
func (s *Service) RootfsSize(ctx context.Context, containerID string) (rw, virtual int64, err error) {
	ctx = s.ns(ctx)
	key := containerKey(containerID)
	u, err := s.sn.Usage(ctx, key)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return 0, 0, errdefs.NotFound(fmt.Errorf("no file system prepared for container %s", containerID))
		}
		return 0, 0, err
	}
	info, err := s.sn.Stat(ctx, key)
	if err != nil {
		return 0, 0, err
	}
	base, err := s.chainSize(ctx, info.Parent)
	if err != nil {
		return 0, 0, err
	}
	return u.Size, u.Size + base, nil
}

// layerSize is the unpacked size of the one layer that snapshot chainID
// adds to its parent; committed snapshots never change, so it is cached.
func (s *Service) layerSize(ctx context.Context, chainID string) (int64, error) {
	s.cacheMu.Lock()
	n, ok := s.sizes[chainID]
	s.cacheMu.Unlock()
	if ok {
		return n, nil
	}
	u, err := s.sn.Usage(ctx, chainID)
	if err != nil {
		return 0, err
	}
	s.cacheMu.Lock()
	s.sizes[chainID] = u.Size
	s.cacheMu.Unlock()
	return u.Size, nil
}

// chainSize sums the layers of snapshot chainID and all its parents.
func (s *Service) chainSize(ctx context.Context, chainID string) (int64, error) {
	var total int64
	for chainID != "" {
		n, err := s.layerSize(ctx, chainID)
		if err != nil {
			return 0, err
		}
		total += n
		info, err := s.sn.Stat(ctx, chainID)
		if err != nil {
			return 0, err
		}
		chainID = info.Parent
	}
	return total, nil
}

// imageSize is the unpacked size of all of an image's layers.
func (s *Service) imageSize(ctx context.Context, inf *imageInfo) int64 {
	var total int64
	for _, c := range inf.chainIDs {
		n, err := s.layerSize(ctx, c.String())
		if err != nil {
			s.log.DebugContext(ctx, "layer size", "chain", c, "error", err)
			continue
		}
		total += n
	}
	return total
}

// RootfsContainers lists the containers that have a writable layer, so
// that berthd can remove the layers of containers it no longer knows (a
// removal cut short by a crash).
func (s *Service) RootfsContainers(ctx context.Context) ([]string, error) {
	ctx = s.ns(ctx)
	var ids []string
	err := s.sn.Walk(ctx, func(ctx context.Context, info snapshots.Info) error {
		if id, ok := strings.CutPrefix(info.Name, containerKey("")); ok {
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}
