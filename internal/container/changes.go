package container

import (
	"context"
	"errors"

	"github.com/moby/moby/api/types/container"

	"berth/internal/errdefs"
	"berth/internal/image"
)

// layerDiffer is what diff and commit need from the image service, beyond
// Images; *image.Service has it.
type layerDiffer interface {
	RootfsChanges(ctx context.Context, containerID string) ([]container.FilesystemChange, error)
	Commit(ctx context.Context, containerID string, opts image.CommitOptions) (string, error)
}

func (s *Service) differ() (layerDiffer, error) {
	d, ok := s.cfg.Images.(layerDiffer)
	if !ok {
		return nil, errdefs.NotImplemented(errors.New("the image service cannot compare container file systems"))
	}
	return d, nil
}

// Changes lists what changed in a container's file system against its
// image (`docker diff`), running or not.
func (s *Service) Changes(ctx context.Context, ref string) ([]container.FilesystemChange, error) {
	d, err := s.differ()
	if err != nil {
		return nil, err
	}
	c, err := s.store.get(ref)
	if err != nil {
		return nil, err
	}
	return d.RootfsChanges(ctx, c.ID)
}
