package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	mb, mdesc, ok := dockerManifest2(inf)
	if !ok {
		mdesc = inf.manifestDesc
		if mb, err = content.ReadBlob(ctx, s.content, mdesc); err != nil {
			return err
		}
	}
	layers := inf.manifest.Layers
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
		desc := layers[i]
		id := shortDigest(diffIDs[i])
		g.Go(func() error {
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-sem }()
			return s.pushBlob(gctx, pusher, tracker, s.withSources(gctx, desc, mdesc.MediaType), dst, p, id)
		})
	}
	if err := g.Wait(); err != nil {
		return pushError(auth, err)
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

// dockerManifest2 is the manifest dockerd pushes for inf: Docker schema 2
// with Docker media types when every layer is a gzip or plain tar, the
// stored manifest otherwise (zstd has no Docker media type), which the
// caller pushes as it is.
func dockerManifest2(inf *imageInfo) ([]byte, ocispec.Descriptor, bool) {
	m := inf.manifest
	if inf.manifestDesc.MediaType == images.MediaTypeDockerSchema2Manifest {
		return nil, ocispec.Descriptor{}, false // pushed as pulled, same digest
	}
	convertible := true
	layers := make([]ocispec.Descriptor, len(m.Layers))
	for i, l := range m.Layers {
		l.Annotations, l.URLs = nil, nil
		switch l.MediaType {
		case ocispec.MediaTypeImageLayerGzip, images.MediaTypeDockerSchema2LayerGzip:
			l.MediaType = images.MediaTypeDockerSchema2LayerGzip
		case ocispec.MediaTypeImageLayer, images.MediaTypeDockerSchema2Layer:
			l.MediaType = images.MediaTypeDockerSchema2Layer
		default:
			convertible = false
		}
		layers[i] = ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
	}
	if !convertible {
		return nil, ocispec.Descriptor{}, false
	}
	m = ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: images.MediaTypeDockerSchema2Manifest,
		Config:    ocispec.Descriptor{MediaType: images.MediaTypeDockerSchema2Config, Digest: inf.configDesc.Digest, Size: inf.configDesc.Size},
		Layers:    layers,
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

// pushBytes uploads a blob (the manifest) held in memory.
func pushBytes(ctx context.Context, pusher remotes.Pusher, desc ocispec.Descriptor, b []byte) error {
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
