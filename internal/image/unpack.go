package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"berth/internal/errdefs"
	"berth/internal/layer"
)

// GC labels: a manifest holds its config and layers, a config holds the
// unpacked snapshot chain.
const (
	labelGCRefConfig   = "containerd.io/gc.ref.content.config"
	labelGCRefLayer    = "containerd.io/gc.ref.content.l.%d"
	labelGCRefSnapshot = "containerd.io/gc.ref.snapshot."
)

// resolveManifest picks the linux/amd64 (the host's) image manifest out of
// an index, or returns desc when it already is a manifest.
func (s *Service) resolveManifest(ctx context.Context, desc ocispec.Descriptor, depth int) (ocispec.Descriptor, error) {
	switch desc.MediaType {
	case ocispec.MediaTypeImageManifest, images.MediaTypeDockerSchema2Manifest:
		return desc, nil
	case ocispec.MediaTypeImageIndex, images.MediaTypeDockerSchema2ManifestList:
	default:
		return ocispec.Descriptor{}, errdefs.Invalid(fmt.Errorf("unsupported image media type %q", desc.MediaType))
	}
	if depth > 4 {
		return ocispec.Descriptor{}, errdefs.Invalid(errors.New("image index nested too deeply"))
	}
	b, err := content.ReadBlob(ctx, s.content, desc)
	if err != nil {
		return ocispec.Descriptor{}, errdefs.Invalid(fmt.Errorf("read image index %s: %w", desc.Digest, err))
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return ocispec.Descriptor{}, errdefs.Invalid(fmt.Errorf("parse image index %s: %w", desc.Digest, err))
	}
	match := platforms.Default()
	var fallback *ocispec.Descriptor
	for i, m := range idx.Manifests {
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		if m.Platform == nil || match.Match(*m.Platform) {
			return s.resolveManifest(ctx, m, depth+1)
		}
		if fallback == nil {
			fallback = &idx.Manifests[i]
		}
	}
	if fallback != nil {
		return ocispec.Descriptor{}, errdefs.NotFound(fmt.Errorf("no matching manifest for %s in the manifest list entries", platforms.DefaultString()))
	}
	return ocispec.Descriptor{}, errdefs.Invalid(fmt.Errorf("image index %s lists no manifests", desc.Digest))
}

// unpack makes an image manifest usable: it labels its content for the
// garbage collector, checks and applies its layers to snapshots, and
// labels the config with the snapshot chain. ctx must hold a lease until
// a record names the manifest. Layers made by berth itself (import) are
// already checked and skip the scan.
func (s *Service) unpack(ctx context.Context, desc ocispec.Descriptor, checkLayers bool) (*imageInfo, error) {
	inf, err := s.readInfo(ctx, desc)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	if len(inf.manifest.Layers) != len(inf.config.RootFS.DiffIDs) {
		return nil, errdefs.Invalid(fmt.Errorf("image %s: %d layers but %d diff IDs in its config", inf.ID(), len(inf.manifest.Layers), len(inf.config.RootFS.DiffIDs)))
	}
	labels := map[string]string{labelGCRefConfig: inf.configDesc.Digest.String()}
	fields := []string{"labels." + labelGCRefConfig}
	for i, l := range inf.manifest.Layers {
		k := fmt.Sprintf(labelGCRefLayer, i)
		labels[k] = l.Digest.String()
		fields = append(fields, "labels."+k)
	}
	if _, err := s.content.Update(ctx, content.Info{Digest: desc.Digest, Labels: labels}, fields...); err != nil {
		return nil, fmt.Errorf("label manifest %s: %w", desc.Digest, err)
	}

	layers := make([]rootfs.Layer, len(inf.manifest.Layers))
	for i, l := range inf.manifest.Layers {
		layers[i] = rootfs.Layer{
			Blob: l,
			Diff: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: inf.config.RootFS.DiffIDs[i]},
		}
		if !checkLayers {
			continue
		}
		if _, err := s.sn.Stat(ctx, inf.chainIDs[i].String()); err == nil {
			continue // unpacked before, so checked before
		}
		if err := s.checkLayer(ctx, l); err != nil {
			return nil, err
		}
	}
	if len(layers) > 0 {
		chain, err := rootfs.ApplyLayers(ctx, layers, s.sn, s.applier)
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				return nil, errdefs.Invalid(fmt.Errorf("image %s: layer content missing: %w", inf.ID(), err))
			}
			return nil, errdefs.Invalid(fmt.Errorf("unpack image %s: %w", inf.ID(), err))
		}
		key := labelGCRefSnapshot + s.snName
		if _, err := s.content.Update(ctx, content.Info{Digest: inf.configDesc.Digest, Labels: map[string]string{key: chain.String()}}, "labels."+key); err != nil {
			return nil, fmt.Errorf("label config %s: %w", inf.configDesc.Digest, err)
		}
	}
	s.cacheMu.Lock()
	s.infos[desc.Digest] = inf
	s.cacheMu.Unlock()
	return inf, nil
}

// checkLayer reads a layer blob through and refuses it when an entry
// would escape the root it is unpacked into.
func (s *Service) checkLayer(ctx context.Context, desc ocispec.Descriptor) error {
	ra, err := s.content.ReaderAt(ctx, desc)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return errdefs.Invalid(fmt.Errorf("layer %s is missing from the archive", desc.Digest))
		}
		return err
	}
	defer ra.Close()
	ds, err := compression.DecompressStream(io.NewSectionReader(ra, 0, ra.Size()))
	if err != nil {
		return errdefs.Invalid(fmt.Errorf("layer %s: %w", desc.Digest, err))
	}
	defer ds.Close()
	if err := layer.Scan(ds, layer.CheckEntry); err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	return nil
}
