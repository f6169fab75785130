package image

import (
	"context"

	imagetypes "github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DiskUsage is the image side of `system df`. Every image is listed with
// its size on disk (its unpacked layers plus the blobs it was stored as:
// manifest, config and layer archives), the part of that it shares with
// other images, and the number of containers created from it. layersSize
// is what all images take together, each layer and blob counted once.
func (s *Service) DiskUsage(ctx context.Context) (layersSize int64, out []imagetypes.Summary, err error) {
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
	out = make([]imagetypes.Summary, 0, len(sorted))
	for i, e := range sorted {
		sum := imagetypes.Summary{
			Containers:  int64(len(s.cfg.InUse(e.info.ID()))),
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
