// Package volume owns berth's volumes: their records (in berth.db), the
// local driver (a directory under <data-root>/volumes/<name>/_data, or a
// mount of the options' type/device/o), reference counting by containers,
// removal and pruning. Containers reach it through the methods marked
// "container-facing"; the API router through the rest.
package volume

import (
	"context"
	"errors"
	"log/slog"

	"github.com/moby/moby/api/types/volume"
	bolt "go.etcd.io/bbolt"

	"berth/internal/api/filters"
	"berth/internal/events"
)

// Config is what the volume service needs.
type Config struct {
	DB     *bolt.DB // berth.db: the service keeps its records in its own buckets
	Root   string   // <data-root>/volumes
	Events *events.Bus
	Logger *slog.Logger
}

// Service manages volumes.
type Service struct {
	cfg Config
}

// New opens the volume store under cfg.Root and reconciles it with disk.
func New(ctx context.Context, cfg Config) (*Service, error) {
	return &Service{cfg: cfg}, errors.New("not implemented")
}

// Create makes a volume (a random 64-hex name when name is ""); creating
// an existing local volume with the same options returns it, as dockerd.
func (s *Service) Create(ctx context.Context, name, driver string, opts, labels map[string]string) (*volume.Volume, error) {
	return nil, errors.New("not implemented")
}

// Get finds a volume: errdefs.NotFound("get NAME: no such volume").
func (s *Service) Get(ctx context.Context, name string) (*volume.Volume, error) {
	return nil, errors.New("not implemented")
}

// List answers `volume ls` (filters dangling, driver, label, name).
func (s *Service) List(ctx context.Context, f filters.Args) ([]*volume.Volume, error) {
	return nil, errors.New("not implemented")
}

// Remove deletes a volume; one in use is errdefs.Conflict with dockerd's
// message unless force... (dockerd refuses in-use volumes even with force).
func (s *Service) Remove(ctx context.Context, name string, force bool) error {
	return errors.New("not implemented")
}

// Prune removes unused volumes (anonymous only, unless filter all=true).
func (s *Service) Prune(ctx context.Context, f filters.Args) (*volume.PruneReport, error) {
	return nil, errors.New("not implemented")
}

// Acquire is container-facing: it makes sure volume name is ready to be
// mounted for containerID (mounting the local driver's device if it has
// one), records the reference, and returns the host path to bind-mount.
func (s *Service) Acquire(ctx context.Context, name, containerID string) (string, error) {
	return "", errors.New("not implemented")
}

// Release is container-facing: containerID no longer has name mounted
// (the device is unmounted when nobody has).
func (s *Service) Release(ctx context.Context, name, containerID string) error {
	return errors.New("not implemented")
}

// Reference is container-facing: containerID uses name (created, not
// necessarily running); Dereference undoes it. A referenced volume cannot
// be removed.
func (s *Service) Reference(name, containerID string) error { return errors.New("not implemented") }

// Dereference undoes Reference.
func (s *Service) Dereference(name, containerID string) {}

// Anonymous reports whether name was created as an anonymous volume (for
// `rm -v`).
func (s *Service) Anonymous(ctx context.Context, name string) bool { return false }
