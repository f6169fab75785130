package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	registrytypes "github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"berth/internal/errdefs"
)

// PushOptions are the parameters of POST /images/{name}/push.
type PushOptions struct {
	Tag  string                    // "" pushes every tag of the repository
	Auth *registrytypes.AuthConfig // from X-Registry-Auth; nil for none
	// Platform, when set, is the platform the pushed image must be for
	// (`push --platform`): berth keeps one platform per image, so a tag
	// of another platform is refused rather than pushed.
	Platform *ocispec.Platform
}

// PushResult is the aux message that ends the push of one tag, as
// dockerd sends it.
type PushResult struct {
	Tag    string
	Digest string
	Size   int
}

// Push uploads the tags of repository name to its registry as Docker
// schema 2 manifests (as dockerd does), writing Docker's progress stream
// to out: layers the registry has are skipped, layers it has in another
// repository are mounted. An unknown name is returned before anything is
// written. Each pushed image gets a RepoDigests entry.
func (s *Service) Push(ctx context.Context, name string, opts PushOptions, out io.Writer) error {
	ctx = s.ns(ctx)
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return errdefs.Invalid(err)
	}
	if _, ok := named.(reference.Digested); ok {
		return errdefs.Invalid(errors.New("cannot push a digest reference"))
	}
	if opts.Tag != "" {
		if named, err = reference.WithTag(reference.TrimNamed(named), opts.Tag); err != nil {
			return errdefs.Invalid(err)
		}
	}
	targets, err := s.pushTargets(ctx, named)
	if err != nil {
		return err
	}
	if opts.Platform != nil {
		want := platforms.Normalize(*opts.Platform)
		for _, t := range targets {
			if have := platforms.Normalize(t.info.config.Platform); !platforms.Only(want).Match(have) {
				return errdefs.NotFound(fmt.Errorf("image with reference %s was found but does not provide the specified platform (%s): it is for %s",
					reference.FamiliarString(t.name), platforms.Format(want), platforms.Format(have)))
			}
		}
	}
	p := newProgress(out)
	p.status("The push refers to repository [%s]", reference.TrimNamed(named).String())
	for _, t := range targets {
		// A tracker per tag: it remembers pushed manifests by digest, and
		// two tags of one image share their manifest.
		tracker := docker.NewInMemoryTracker()
		res := s.resolver(opts.Auth, tracker)
		if err := s.pushOne(ctx, res, tracker, opts.Auth, t.name, t.info, p); err != nil {
			return err
		}
	}
	return nil
}

type pushTarget struct {
	name reference.NamedTagged
	info *imageInfo
}

// pushTargets are the tags to push: the one named, or every tag of the
// repository when named has none.
func (s *Service) pushTargets(ctx context.Context, named reference.Named) ([]pushTarget, error) {
	all, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	var out []pushTarget
	for _, e := range all {
		for _, n := range e.named() {
			t := n.(reference.NamedTagged)
			if n.Name() != named.Name() {
				continue
			}
			if want, ok := named.(reference.Tagged); ok && want.Tag() != t.Tag() {
				continue
			}
			out = append(out, pushTarget{name: t, info: e.info})
		}
	}
	if len(out) == 0 {
		return nil, errdefs.NotFound(fmt.Errorf("An image does not exist locally with the tag: %s", reference.FamiliarName(named)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name.Tag() < out[j].name.Tag() })
	return out, nil
}

// pushOne pushes the layers, config and manifest of one tag.
func (s *Service) pushOne(ctx context.Context, res remotes.Resolver, tracker docker.StatusTracker, auth *registrytypes.AuthConfig, named reference.NamedTagged, inf *imageInfo, p *progress) error {
	pusher, err := res.Pusher(ctx, named.String())
	if err != nil {
		return err
	}
	dst := source{host: reference.Domain(named), repo: reference.Path(named)}
	// Docker schema 2 (dockerd's choice) unless a layer's compression has
	// no Docker media type; either way the media types are known now, the
	// digests of layers compressed for the push only after it.
	manifestType := inf.manifestDesc.MediaType
	if dockerConvertible(inf.manifest.Layers) {
		manifestType = images.MediaTypeDockerSchema2Manifest
	}
	layers := slices.Clone(inf.manifest.Layers)
	diffIDs := inf.config.RootFS.DiffIDs

	// dockerd lists the top layer first and names layers by diff ID.
	order := make([]int, 0, len(layers))
	seen := map[digest.Digest]bool{}
	for i := len(layers) - 1; i >= 0; i-- {
		if !seen[layers[i].Digest] {
			seen[layers[i].Digest] = true
			order = append(order, i)
		}
	}
	for _, i := range order {
		p.layer(shortDigest(diffIDs[i]), "Preparing")
	}
	limit := s.cfg.MaxConcurrentUploads
	for k, i := range order {
		if k >= limit {
			p.layer(shortDigest(diffIDs[i]), "Waiting")
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	sem := make(chan struct{}, limit)
	for _, i := range order {
		id := shortDigest(diffIDs[i])
		g.Go(func() error {
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-sem }()
			desc := layers[i]
			if uncompressedLayer(desc.MediaType) && manifestType == images.MediaTypeDockerSchema2Manifest {
				// dockerd never sends a plain tar: the registry (and
				// every pull from it) gets the layer gzip-compressed.
				var err error
				if desc, err = s.gzipLayer(gctx, desc); err != nil {
					return fmt.Errorf("compress layer %s: %w", id, err)
				}
				layers[i] = desc
			}
			return s.pushBlob(gctx, pusher, tracker, s.withSources(gctx, desc, manifestType), dst, p, id)
		})
	}
	if err := g.Wait(); err != nil {
		return pushError(auth, err)
	}
	// A layer listed twice was compressed once.
	pushedAs := map[digest.Digest]ocispec.Descriptor{}
	for _, i := range order {
		pushedAs[inf.manifest.Layers[i].Digest] = layers[i]
	}
	for i, l := range inf.manifest.Layers {
		layers[i] = pushedAs[l.Digest]
	}
	mb, mdesc, ok := dockerManifest2(inf, layers)
	if !ok {
		mdesc = inf.manifestDesc
		var err error
		if mb, err = content.ReadBlob(ctx, s.content, mdesc); err != nil {
			return err
		}
	}
	cfg := inf.configDesc
	if mdesc.MediaType == images.MediaTypeDockerSchema2Manifest {
		cfg.MediaType = images.MediaTypeDockerSchema2Config
	}
	if err := s.pushBlob(ctx, pusher, tracker, cfg, dst, nil, ""); err != nil {
		return pushError(auth, err)
	}
	if err := pushBytes(ctx, pusher, mdesc, mb); err != nil {
		return pushError(auth, err)
	}
	if err := s.addRepoDigest(ctx, inf, named, mdesc.Digest); err != nil {
		return err
	}
	p.status("%s: digest: %s size: %d", named.Tag(), mdesc.Digest, mdesc.Size)
	p.aux(PushResult{Tag: named.Tag(), Digest: mdesc.Digest.String(), Size: int(mdesc.Size)})
	fam := reference.FamiliarString(named)
	s.publish("push", fam, fam, inf.config.Config.Labels)
	return nil
}

// dockerConvertible reports whether every layer is a gzip or plain tar,
// which Docker schema 2 has media types for (zstd has none).
func dockerConvertible(layers []ocispec.Descriptor) bool {
	for _, l := range layers {
		switch l.MediaType {
		case ocispec.MediaTypeImageLayerGzip, images.MediaTypeDockerSchema2LayerGzip,
			ocispec.MediaTypeImageLayer, images.MediaTypeDockerSchema2Layer:
		default:
			return false
		}
	}
	return true
}

func uncompressedLayer(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageLayer || mediaType == images.MediaTypeDockerSchema2Layer
}

// dockerManifest2 is the manifest dockerd pushes for inf whose layers go
// to the registry as layers: Docker schema 2 with Docker media types. The
// stored manifest is pushed as it is (ok false) when it is Docker schema 2
// already with the same layers (pushed as pulled, same digest), or when a
// layer cannot be described in Docker schema 2.
func dockerManifest2(inf *imageInfo, layers []ocispec.Descriptor) ([]byte, ocispec.Descriptor, bool) {
	same := slices.EqualFunc(layers, inf.manifest.Layers, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest })
	if (inf.manifestDesc.MediaType == images.MediaTypeDockerSchema2Manifest && same) || !dockerConvertible(layers) {
		return nil, ocispec.Descriptor{}, false
	}
	dl := make([]ocispec.Descriptor, len(layers))
	for i, l := range layers {
		mt := images.MediaTypeDockerSchema2LayerGzip
		if uncompressedLayer(l.MediaType) {
			mt = images.MediaTypeDockerSchema2Layer
		}
		dl[i] = ocispec.Descriptor{MediaType: mt, Digest: l.Digest, Size: l.Size}
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: images.MediaTypeDockerSchema2Manifest,
		Config:    ocispec.Descriptor{MediaType: images.MediaTypeDockerSchema2Config, Digest: inf.configDesc.Digest, Size: inf.configDesc.Size},
		Layers:    dl,
	}
	b, _ := json.MarshalIndent(m, "", "   ")
	return b, ocispec.Descriptor{MediaType: m.MediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}, true
}

// withSources copies the blob's distribution-source labels into its
// descriptor, where containerd's pusher looks for a repository to mount
// it from; the media type follows the manifest's kind.
func (s *Service) withSources(ctx context.Context, desc ocispec.Descriptor, manifestType string) ocispec.Descriptor {
	if manifestType == images.MediaTypeDockerSchema2Manifest {
		switch desc.MediaType {
		case ocispec.MediaTypeImageLayerGzip:
			desc.MediaType = images.MediaTypeDockerSchema2LayerGzip
		case ocispec.MediaTypeImageLayer:
			desc.MediaType = images.MediaTypeDockerSchema2Layer
		}
	}
	info, err := s.content.Info(ctx, desc.Digest)
	if err != nil {
		return desc
	}
	ann := map[string]string{}
	for k, v := range info.Labels {
		if strings.HasPrefix(k, labelDistributionSource) {
			ann[k] = v
		}
	}
	desc.Annotations = ann
	return desc
}

// pushBlob uploads desc from the content store unless the registry has
// it, reporting "Pushing" bytes and the outcome under id.
func (s *Service) pushBlob(ctx context.Context, pusher remotes.Pusher, tracker docker.StatusTracker, desc ocispec.Descriptor, dst source, p *progress, id string) error {
	return retryPush(ctx, func() error { return s.pushBlobOnce(ctx, pusher, tracker, desc, dst, p, id) }, func(attempt int, err error) {
		s.log.WarnContext(ctx, "blob upload failed, retrying", "digest", desc.Digest, "attempt", attempt, "error", err)
	})
}

// retryPush makes up to maxPushAttempts attempts at one upload, as long as
// each failure is worth another (retryablePush); retrying, when not nil,
// hears of each failure that is retried.
func retryPush(ctx context.Context, attempt func() error, retrying func(int, error)) error {
	var err error
	for n := 1; n <= maxPushAttempts; n++ {
		if err = attempt(); err == nil || !retryablePush(ctx, err) {
			return err
		}
		if retrying != nil {
			retrying(n, err)
		}
	}
	return err
}

// maxPushAttempts bounds the uploads of one blob, as dockerd's five.
const maxPushAttempts = 5

// retryablePush tells a broken transfer (a reset connection, a registry
// answering 5xx, 408 or 429), worth another upload, from an answer that
// would only come again (no credentials, denied, refused content).
func retryablePush(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, errdefs.ErrUnauthorized) || errdefs.IsForbidden(err) || errdefs.IsInvalid(err) {
		return false
	}
	var status remoteerrors.ErrUnexpectedStatus
	if errors.As(err, &status) {
		c := status.StatusCode
		return c >= 500 || c == http.StatusRequestTimeout || c == http.StatusTooManyRequests
	}
	return !cerrdefs.IsNotFound(err) && !cerrdefs.IsPermissionDenied(err) && !cerrdefs.IsUnauthorized(err)
}

// pushBlobOnce makes one attempt at uploading desc.
func (s *Service) pushBlobOnce(ctx context.Context, pusher remotes.Pusher, tracker docker.StatusTracker, desc ocispec.Descriptor, dst source, p *progress, id string) error {
	report := func(status string) {
		if p != nil {
			p.layer(id, status)
		}
	}
	w, err := pusher.Push(ctx, desc)
	if err != nil {
		if !cerrdefs.IsAlreadyExists(err) {
			return err
		}
		st, serr := tracker.GetStatus(remotes.MakeRefKey(ctx, desc))
		if serr == nil && st.MountedFrom != "" {
			from := st.MountedFrom
			if i := strings.Index(from, "/"); i >= 0 {
				from = from[i+1:]
			}
			report("Mounted from " + from)
		} else {
			report("Layer already exists")
		}
		return s.addSource(ctx, desc.Digest, dst)
	}
	defer w.Close()
	ra, err := s.content.ReaderAt(ctx, desc)
	if err != nil {
		return err
	}
	defer ra.Close()
	var r io.Reader = io.NewSectionReader(ra, 0, ra.Size())
	if p != nil {
		r = &countingReader{r: r, report: func(n int64) { p.bytes(id, "Pushing", n, desc.Size) }}
	}
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil && !cerrdefs.IsAlreadyExists(err) {
		return err
	}
	report("Pushed")
	return s.addSource(ctx, desc.Digest, dst)
}

// pushBytes uploads a blob (the manifest) held in memory, retrying a
// broken transfer as pushBlob does.
func pushBytes(ctx context.Context, pusher remotes.Pusher, desc ocispec.Descriptor, b []byte) error {
	return retryPush(ctx, func() error { return pushBytesOnce(ctx, pusher, desc, b) }, nil)
}

func pushBytesOnce(ctx context.Context, pusher remotes.Pusher, desc ocispec.Descriptor, b []byte) error {
	w, err := pusher.Push(ctx, desc)
	if err != nil {
		if cerrdefs.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		return err
	}
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil && !cerrdefs.IsAlreadyExists(err) {
		return err
	}
	return nil
}

type countingReader struct {
	r      io.Reader
	n      int64
	report func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 {
		c.report(c.n)
	}
	return n, err
}

// pushError puts a refused push in dockerd's words: without credentials
// "no basic auth credentials", with refused ones "denied: …".
func pushError(auth *registrytypes.AuthConfig, err error) error {
	var us remoteerrors.ErrUnexpectedStatus
	if errors.Is(err, docker.ErrInvalidAuthorization) ||
		(errors.As(err, &us) && (us.StatusCode == http.StatusUnauthorized || us.StatusCode == http.StatusForbidden)) {
		if credentials(auth) == nil {
			return errdefs.Forbidden(errors.New("no basic auth credentials"))
		}
		return errdefs.Forbidden(errors.New("denied: requested access to the resource is denied"))
	}
	return err
}
