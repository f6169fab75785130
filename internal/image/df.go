package image

import (
	"context"
	"sync"

	imagetypes "github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DiskUsage is the image side of `system df`. Every image is listed with
// its size on disk (its unpacked layers plus the blobs it was stored as:
// manifest, config and layer archives), the part of that it shares with
// other images, and the number of containers created from it: inUse maps
// image IDs to those counts (the caller counts all containers once; nil
// asks the container side image by image). layersSize is what all images
// take together, each layer and blob counted once.
func (s *Service) DiskUsage(ctx context.Context, inUse map[string]int) (layersSize int64, out []imagetypes.Summary, err error) {
	ctx = s.ns(ctx)
	all, err := s.entries(ctx)
	if err != nil {
		return 0, nil, err
	}
	sorted := sortedEntries(all)
	parts := make([]map[string]int64, len(sorted))
	users := map[string]int{}
	sizes := map[string]int64{}
	for i, e := range sorted {
		parts[i] = s.diskParts(ctx, e.info)
		for k, n := range parts[i] {
			users[k]++
			sizes[k] = n
		}
	}
	for _, n := range sizes {
		layersSize += n
	}
	if inUse == nil {
		inUse = map[string]int{}
		for _, e := range sorted {
			inUse[e.info.ID()] = len(s.cfg.InUse(e.info.ID()))
		}
	}
	out = make([]imagetypes.Summary, 0, len(sorted))
	for i, e := range sorted {
		sum := imagetypes.Summary{
			Containers:  int64(inUse[e.info.ID()]),
			Created:     e.created().Unix(),
			ID:          e.info.ID(),
			Labels:      e.info.config.Config.Labels,
			RepoDigests: s.repoDigests(ctx, e.info), // pull.go
			RepoTags:    e.tags(),
		}
		if sum.Labels == nil {
			sum.Labels = map[string]string{}
		}
		if sum.RepoTags == nil {
			sum.RepoTags = []string{}
		}
		for k, n := range parts[i] {
			sum.Size += n
			if users[k] > 1 {
				sum.SharedSize += n
			}
		}
		out = append(out, sum)
	}
	return layersSize, out, nil
}

// diskParts are the pieces of storage an image occupies, keyed so that
// pieces shared between images have the same key: "snapshot/<chain ID>"
// for an unpacked layer and "blob/<digest>" for stored content.
func (s *Service) diskParts(ctx context.Context, inf *imageInfo) map[string]int64 {
	parts := map[string]int64{}
	for _, c := range inf.chainIDs {
		n, err := s.layerSize(ctx, c.String())
		if err != nil {
			s.log.DebugContext(ctx, "layer size", "chain", c, "error", err)
			continue
		}
		parts["snapshot/"+c.String()] = n
	}
	descs := append([]ocispec.Descriptor{inf.manifestDesc, inf.configDesc}, inf.manifest.Layers...)
	for _, d := range descs {
		ci, err := s.content.Info(ctx, d.Digest)
		if err != nil {
			continue // not stored (or already collected): takes no space
		}
		parts["blob/"+d.Digest.String()] = ci.Size
	}
	return parts
}

// RootfsSize is one container's writable-layer size and the size of the
// whole file system it sees.
type RootfsSize struct{ RW, Virtual int64 }

// RootfsSizes is RootfsSize for many containers at once (for `system
// df`); containers maps container IDs to their image IDs. A container's
// layer sits on its image's top layer, so the image's (cached) layer sizes
// give the rest of what it sees, and each container costs only the
// measuring of its writable layer, done a few at a time. Containers
// without a prepared file system are left out.
func (s *Service) RootfsSizes(ctx context.Context, containers map[string]string) (map[string]RootfsSize, error) {
	ctx = s.ns(ctx)
	all, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	base := map[string]int64{}
	for id, e := range all {
		base[id] = s.imageSize(ctx, e.info)
	}
	out := make(map[string]RootfsSize, len(containers))
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for id := range work {
				b, ok := base[containers[id]]
				if !ok {
					// Its image is gone (rmi -f): walk the layer's parents.
					rw, virt, err := s.RootfsSize(ctx, id)
					if err == nil {
						mu.Lock()
						out[id] = RootfsSize{RW: rw, Virtual: virt}
						mu.Unlock()
					}
					continue
				}
				u, err := s.sn.Usage(ctx, containerKey(id))
				if err != nil {
					s.log.DebugContext(ctx, "container layer size", "container_id", id, "error", err)
					continue
				}
				mu.Lock()
				out[id] = RootfsSize{RW: u.Size, Virtual: u.Size + b}
				mu.Unlock()
			}
		})
	}
	for id := range containers {
		if ctx.Err() != nil {
			break
		}
		work <- id
	}
	close(work)
	wg.Wait()
	return out, ctx.Err()
}
