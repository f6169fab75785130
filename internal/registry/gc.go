package registry

import (
	"context"
	"fmt"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
)

// GCOptions are `registry garbage-collect`'s flags.
type GCOptions struct {
	// DryRun marks and reports but deletes nothing.
	DryRun bool
	// DeleteUntagged also deletes manifests no tag points at.
	DeleteUntagged bool
	// Quiet silences the per-blob output.
	Quiet bool
}

// GarbageCollect runs distribution's mark-and-sweep over the storage cfg
// names: blobs no manifest references are deleted (and, with
// DeleteUntagged, manifests no tag references). Run it while no one
// pushes: distribution's collector does not lock the storage.
func GarbageCollect(ctx context.Context, cfg *configuration.Configuration, opts GCOptions) error {
	driver, err := factory.Create(ctx, cfg.Storage.Type(), cfg.Storage.Parameters())
	if err != nil {
		return fmt.Errorf("failed to construct %s driver: %w", cfg.Storage.Type(), err)
	}
	reg, err := storage.NewRegistry(ctx, driver)
	if err != nil {
		return fmt.Errorf("failed to construct registry: %w", err)
	}
	err = storage.MarkAndSweep(ctx, driver, reg, storage.GCOpts{
		DryRun:         opts.DryRun,
		RemoveUntagged: opts.DeleteUntagged,
		Quiet:          opts.Quiet,
	})
	if err != nil {
		return fmt.Errorf("failed to garbage collect: %w", err)
	}
	return nil
}
