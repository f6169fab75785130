package image

import (
	"context"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/klauspost/compress/gzip"
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
	ref := "gzip-" + desc.Digest.Encoded()
	w, err := content.OpenWriter(ctx, s.content, content.WithRef(ref))
	if err != nil {
		return desc, err
	}
	committed := false
	defer func() {
		w.Close()
		if !committed {
			_ = s.content.Abort(context.WithoutCancel(ctx), ref)
		}
	}()
	if err := w.Truncate(0); err != nil { // a push that died half-way left bytes
		return desc, err
	}
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return desc, err
	}
	if _, err := io.Copy(zw, content.NewReader(ra)); err != nil {
		return desc, err
	}
	if err := zw.Close(); err != nil {
		return desc, err
	}
	st, err := w.Status()
	if err != nil {
		return desc, err
	}
	gz.Digest, gz.Size = w.Digest(), st.Offset
	if err := w.Commit(ctx, gz.Size, gz.Digest); err != nil && !cerrdefs.IsAlreadyExists(err) {
		return desc, fmt.Errorf("commit compressed layer: %w", err)
	}
	committed = true
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
