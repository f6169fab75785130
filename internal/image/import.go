package image

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/labels"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"berth/internal/errdefs"
	"berth/internal/layer"
)

// ImportOptions are the parameters of `docker import`.
type ImportOptions struct {
	Repo     string   // repository, possibly with a tag; "" leaves the image untagged
	Tag      string   // tag; "" means latest when Repo is given
	Message  string   // history comment; "" means "Imported from <Source>"
	Changes  []string // Dockerfile instructions applied to the config
	Platform string   // os[/arch[/variant]]; "" is the host's
	Source   string   // what the root file system came from, "-" for the request body
}

// dockerConfig is Docker's image config: the OCI one plus the fields Docker
// adds at the top level.
type dockerConfig struct {
	dockerspec.DockerOCIImage
	Comment       string `json:"comment,omitempty"`
	DockerVersion string `json:"docker_version,omitempty"`
}

// Import makes an image of one layer from the tar stream r (plain, gzip,
// bzip2, xz or zstd) of a root file system, as `docker import` does, and
// returns its ID. Nothing is left behind when the stream is refused.
func (s *Service) Import(ctx context.Context, r io.Reader, opts ImportOptions) (string, error) {
	ctx = s.ns(ctx)
	plat := platforms.DefaultSpec()
	if opts.Platform != "" {
		p, err := platforms.Parse(opts.Platform)
		if err != nil {
			return "", errdefs.Invalid(err)
		}
		if p.OS != "linux" {
			return "", errdefs.Invalid(fmt.Errorf("operating system is not supported: %s", p.OS))
		}
		plat = platforms.Normalize(p)
	}
	var named reference.NamedTagged
	if opts.Repo != "" {
		n, err := repoTag(opts.Repo, opts.Tag)
		if err != nil {
			return "", err
		}
		named = n
	}
	var cfg dockerspec.DockerOCIImageConfig
	if err := applyChanges(&cfg, opts.Changes); err != nil {
		return "", err
	}
	msg := opts.Message
	if msg == "" {
		src := opts.Source
		if src == "" {
			src = "-"
		}
		msg = "Imported from " + src
	}

	lctx, done, err := s.withTempLease(ctx)
	if err != nil {
		return "", err
	}
	failed := true
	defer func() { done(ctx, failed) }()

	layerDesc, diffID, err := s.writeLayer(lctx, r)
	if err != nil {
		return "", err
	}
	created := time.Now().UTC()
	img := dockerConfig{
		DockerOCIImage: dockerspec.DockerOCIImage{
			Image: ocispec.Image{
				Created:  &created,
				Platform: plat,
				RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
				History:  []ocispec.History{{Created: &created, Comment: msg}},
			},
			Config: cfg,
		},
		Comment: msg,
	}
	configDesc, err := s.writeJSON(lctx, ocispec.MediaTypeImageConfig, img)
	if err != nil {
		return "", err
	}
	inf, err := s.storeImage(ctx, lctx, configDesc, []ocispec.Descriptor{layerDesc}, named)
	if err != nil {
		return "", err
	}
	failed = false
	labels := inf.config.Config.Labels
	s.publish("import", inf.ID(), inf.ID(), labels)
	if named != nil {
		s.publish("tag", inf.ID(), reference.FamiliarString(named), labels)
	}
	return inf.ID(), nil
}

// writeLayer stores the tar stream r as a gzip-compressed layer blob,
// checking every entry on the way, and returns the blob and its diff ID.
func (s *Service) writeLayer(ctx context.Context, r io.Reader) (ocispec.Descriptor, digest.Digest, error) {
	plain, _, err := layer.Decompress(ctx, r)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer plain.Close()

	ref := "import-" + randomHex()
	w, err := content.OpenWriter(ctx, s.content, content.WithRef(ref))
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	committed := false
	defer func() {
		w.Close()
		if !committed {
			_ = s.content.Abort(context.WithoutCancel(ctx), ref)
		}
	}()
	gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	dg := digest.Canonical.Digester()
	tee := io.TeeReader(plain, io.MultiWriter(dg.Hash(), gz))
	if err := layer.Scan(tee, layer.CheckEntry); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	// Keep the end-of-archive padding too, so the diff ID covers the
	// whole stream.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return ocispec.Descriptor{}, "", layer.Malformed(err)
	}
	if err := plain.Close(); err != nil {
		return ocispec.Descriptor{}, "", errdefs.Invalid(err)
	}
	if err := gz.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	st, err := w.Status()
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	diffID := dg.Digest()
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: w.Digest(), Size: st.Offset}
	err = w.Commit(ctx, desc.Size, desc.Digest, content.WithLabels(map[string]string{labels.LabelUncompressed: diffID.String()}))
	if err != nil && !cerrdefs.IsAlreadyExists(err) {
		return ocispec.Descriptor{}, "", fmt.Errorf("commit layer: %w", err)
	}
	committed = true
	return desc, diffID, nil
}

// writeJSON stores v as a blob of the given media type.
func (s *Service) writeJSON(ctx context.Context, mediaType string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := content.WriteBlob(ctx, s.content, "write-"+desc.Digest.String(), bytes.NewReader(b), desc); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write %s: %w", mediaType, err)
	}
	return desc, nil
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// storeImage writes the manifest of configDesc and layers, unpacks it and
// names it named (or keeps it as a dangling image when named is nil).
// lctx holds the caller's temporary lease over the new content.
func (s *Service) storeImage(ctx, lctx context.Context, configDesc ocispec.Descriptor, layers []ocispec.Descriptor, named reference.NamedTagged) (*imageInfo, error) {
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    layers,
	}
	manifestDesc, err := s.writeJSON(lctx, ocispec.MediaTypeImageManifest, manifest)
	if err != nil {
		return nil, err
	}
	inf, err := s.unpack(lctx, manifestDesc, false)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if named != nil {
		if _, err := s.setTagLocked(ctx, named, inf); err != nil {
			return nil, err
		}
	} else if err := s.keepDanglingLocked(ctx, inf); err != nil {
		return nil, err
	}
	return inf, nil
}
