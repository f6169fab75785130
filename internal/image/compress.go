package image

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// labelGzipForm, on an uncompressed layer blob, names the blob holding the
// same layer gzip-compressed, as push made it. Being a gc.ref label, it
// also keeps that blob for as long as the uncompressed one is kept.
const labelGzipForm = "containerd.io/gc.ref.content.berth.gzip"

// gzipLayer returns the gzip-compressed form of the uncompressed layer
// desc, compressing it into the content store the first time (a layer
// from `load` or a docker-archive is a plain tar, which dockerd never
// sends to a registry). Later pushes reuse the compressed blob, so they
// send the same bytes and the registry's digests stay stable.
func (s *Service) gzipLayer(ctx context.Context, desc ocispec.Descriptor) (ocispec.Descriptor, error) {
	gz := ocispec.Descriptor{MediaType: images.MediaTypeDockerSchema2LayerGzip}
	info, err := s.content.Info(ctx, desc.Digest)
	if err != nil {
		return desc, err
	}
	if d, err := digest.Parse(info.Labels[labelGzipForm]); err == nil {
		if zi, err := s.content.Info(ctx, d); err == nil {
			gz.Digest, gz.Size = d, zi.Size
			return gz, nil
		}
	}

	// The lease holds the new blob until the label references it.
	ctx, done, err := s.withTempLease(ctx)
	if err != nil {
		return desc, err
	}
	failed := true
	defer func() { done(ctx, failed) }()
	ra, err := s.content.ReaderAt(ctx, desc)
	if err != nil {
		return desc, err
	}
	defer ra.Close()
	// import's writer: the same compression, and the entries checked again.
	zdesc, _, err := s.writeLayer(ctx, content.NewReader(ra))
	if err != nil {
		return desc, err
	}
	gz.Digest, gz.Size = zdesc.Digest, zdesc.Size
	if info.Labels == nil {
		info.Labels = map[string]string{}
	}
	info.Labels[labelGzipForm] = gz.Digest.String()
	if _, err := s.content.Update(ctx, info, "labels."+labelGzipForm); err != nil {
		return desc, fmt.Errorf("label layer with its compressed form: %w", err)
	}
	failed = false
	return gz, nil
}
