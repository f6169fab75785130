package image

import (
	"context"
	"errors"
	"log/slog"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"berth/internal/events"
)

// Config is what the image service needs.
type Config struct {
	Root   string // the data root; the service keeps its stores beneath it
	Driver string // "overlay2" (overlayfs snapshots) or "vfs" (full copies)
	Events *events.Bus
	Logger *slog.Logger
	// InUse lists the containers (IDs) created from imageID; rmi answers
	// 409 while it is not empty. Set by the daemon.
	InUse func(imageID string) []string
}

// Image is what a container needs to know of its image.
type Image struct {
	ID       string // "sha256:" + hex of the config digest
	RepoTags []string
	Config   dockerspec.DockerOCIImage
}

// Service owns images, their content and the snapshots of image and
// container file systems.
type Service struct {
	cfg Config
}

// New opens (or creates) the stores under cfg.Root.
func New(ctx context.Context, cfg Config) (*Service, error) {
	return &Service{cfg: cfg}, nil
}

// Close releases the stores.
func (s *Service) Close() error { return nil }

// Resolve finds an image by name[:tag], name@digest, full or short ID.
// An unknown reference is errdefs.NotFound("No such image: <ref>").
func (s *Service) Resolve(ctx context.Context, ref string) (*Image, error) {
	return nil, errors.New("not implemented")
}

// PrepareRootfs makes the writable layer for containerID on top of image
// imageID. It is kept (leased) until RemoveRootfs.
func (s *Service) PrepareRootfs(ctx context.Context, containerID, imageID string) error {
	return errors.New("not implemented")
}

// MountRootfs mounts containerID's file system at target (which exists).
func (s *Service) MountRootfs(ctx context.Context, containerID, target string) error {
	return errors.New("not implemented")
}

// UnmountRootfs undoes MountRootfs; not mounted is not an error.
func (s *Service) UnmountRootfs(ctx context.Context, target string) error {
	return errors.New("not implemented")
}

// RemoveRootfs deletes containerID's writable layer.
func (s *Service) RemoveRootfs(ctx context.Context, containerID string) error {
	return errors.New("not implemented")
}

// RootfsSize returns the size of containerID's writable layer and of the
// whole file system it sees (for `ps -s`).
func (s *Service) RootfsSize(ctx context.Context, containerID string) (rw, virtual int64, err error) {
	return 0, 0, errors.New("not implemented")
}
