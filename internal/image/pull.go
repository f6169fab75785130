package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff/apply"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	registrytypes "github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"berth/internal/errdefs"
)

// PullOptions are the parameters of POST /images/create?fromImage=….
type PullOptions struct {
	AllTags  bool                      // pull every tag of a bare repository name
	Platform string                    // os[/arch[/variant]]; "" is the host's
	Auth     *registrytypes.AuthConfig // from X-Registry-Auth; nil for none
}

// Content labels berth keeps: where a blob came from (containerd's key,
// which its pusher reads for cross-repository mounts) and, on an image
// config, the digests it is known by in each repository (RepoDigests).
const (
	labelDistributionSource = "containerd.io/distribution.source."
	labelRepoDigest         = "berth.io/repo-digest."
)

// maxFetchAttempts bounds the retries of a blob whose transfer broke off.
const maxFetchAttempts = 5

// Pull fetches ref (NAME[:TAG|@DIGEST]) from its registry into the
// content store, unpacks it and names it, writing Docker's progress
// stream to out. Errors found before anything is written (an unknown
// image, refused credentials, a platform the image lacks) are returned
// with nothing written, so that the API can answer them with a status;
// later errors are returned too and the caller ends the stream with them.
// An image is recorded only once all its content is verified and
// unpacked: a pull that fails leaves no image behind.
func (s *Service) Pull(ctx context.Context, ref string, opts PullOptions, out io.Writer) error {
	ctx = s.ns(ctx)
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return errdefs.Invalid(err)
	}
	plat := platforms.DefaultSpec()
	explicit := opts.Platform != ""
	if explicit {
		if plat, err = platforms.Parse(opts.Platform); err != nil {
			return errdefs.Invalid(err)
		}
		plat = platforms.Normalize(plat)
	}
	pl := &puller{s: s, res: s.resolver(opts.Auth, nil), auth: opts.Auth, plat: plat, explicit: explicit, p: newProgress(out)}

	if opts.AllTags && reference.IsNameOnly(named) {
		tags, err := s.listTags(ctx, named, opts.Auth)
		if err != nil {
			return err
		}
		updated := false
		for _, tag := range tags {
			t, err := reference.WithTag(named, tag)
			if err != nil {
				continue
			}
			u, err := pl.pull(ctx, t)
			if err != nil {
				return err
			}
			updated = updated || u
		}
		pl.p.status("Status: %s for %s", statusWord(updated), reference.FamiliarName(named))
		return nil
	}
	named = reference.TagNameOnly(named)
	updated, err := pl.pull(ctx, named)
	if err != nil {
		return err
	}
	pl.p.status("Status: %s for %s", statusWord(updated), reference.FamiliarString(named))
	return nil
}

func statusWord(updated bool) string {
	if updated {
		return "Downloaded newer image"
	}
	return "Image is up to date"
}

// puller is one pull request.
type puller struct {
	s        *Service
	res      remotes.Resolver
	auth     *registrytypes.AuthConfig
	plat     ocispec.Platform
	explicit bool // plat was asked for (--platform)
	p        *progress
}

// pull fetches one tagged or digested reference and reports whether the
// name now points to a different image than before.
func (pl *puller) pull(ctx context.Context, named reference.Named) (bool, error) {
	s := pl.s
	_, top, err := pl.res.Resolve(ctx, named.String())
	if err != nil {
		return false, pullError(named, err)
	}
	fetcher, err := pl.res.Fetcher(ctx, named.String())
	if err != nil {
		return false, err
	}
	src := source{host: reference.Domain(named), repo: reference.Path(named)}

	lctx, done, err := s.withTempLease(ctx)
	if err != nil {
		return false, err
	}
	failed := true
	defer func() { done(ctx, failed) }()

	mdesc, err := pl.fetchManifest(lctx, fetcher, top, src, 0)
	if err != nil {
		return false, err
	}
	mb, err := content.ReadBlob(lctx, s.content, mdesc)
	if err != nil {
		return false, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return false, errdefs.Invalid(fmt.Errorf("parse manifest %s: %w", mdesc.Digest, err))
	}
	if err := s.fetchBlob(lctx, fetcher, m.Config, src, nil, ""); err != nil {
		return false, err
	}
	inf, err := s.readInfo(lctx, mdesc)
	if err != nil {
		return false, errdefs.Invalid(err)
	}
	if len(inf.manifest.Layers) != len(inf.config.RootFS.DiffIDs) {
		return false, errdefs.Invalid(fmt.Errorf("image %s: %d layers but %d diff IDs in its config", inf.ID(), len(inf.manifest.Layers), len(inf.config.RootFS.DiffIDs)))
	}
	if pl.explicit && !images.IsIndexType(top.MediaType) {
		have := platforms.Normalize(inf.config.Platform)
		if !platforms.Only(pl.plat).Match(have) {
			return false, errdefs.NotFound(fmt.Errorf("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s",
				reference.FamiliarString(named), platforms.Format(pl.plat), platforms.Format(have)))
		}
	}

	id := top.Digest.String()
	if t, ok := named.(reference.Tagged); ok {
		id = t.Tag()
	}
	pl.p.write(progressMessage{Status: "Pulling from " + src.repo, ID: id})
	if err := pl.layers(lctx, fetcher, inf, src); err != nil {
		return false, err
	}
	if _, err := s.unpack(lctx, mdesc, false); err != nil {
		return false, err
	}
	if err := s.addRepoDigest(ctx, inf, named, top.Digest); err != nil {
		return false, err
	}
	updated, err := s.recordPulled(ctx, named, inf)
	if err != nil {
		return false, err
	}
	failed = false
	pl.p.status("Digest: %s", top.Digest)
	fam := reference.FamiliarString(named)
	s.publish("pull", fam, fam, inf.config.Config.Labels)
	return updated, nil
}

// fetchManifest stores desc and, when it is an index, the manifest of the
// wanted platform in it, which it returns.
func (pl *puller) fetchManifest(ctx context.Context, f remotes.Fetcher, desc ocispec.Descriptor, src source, depth int) (ocispec.Descriptor, error) {
	s := pl.s
	if err := s.fetchBlob(ctx, f, desc, src, nil, ""); err != nil {
		return ocispec.Descriptor{}, err
	}
	switch desc.MediaType {
	case ocispec.MediaTypeImageManifest, images.MediaTypeDockerSchema2Manifest:
		return desc, nil
	case ocispec.MediaTypeImageIndex, images.MediaTypeDockerSchema2ManifestList:
	case images.MediaTypeDockerSchema1Manifest:
		return ocispec.Descriptor{}, errdefs.Invalid(errors.New("Docker Image manifest version 2, schema 1 has been removed. Suggest the author of the image to upgrade it to image manifest version 2, schema 2"))
	default:
		return ocispec.Descriptor{}, errdefs.Invalid(fmt.Errorf("unsupported manifest media type %q", desc.MediaType))
	}
	if depth > 2 {
		return ocispec.Descriptor{}, errdefs.Invalid(errors.New("image index nested too deeply"))
	}
	b, err := content.ReadBlob(ctx, s.content, desc)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return ocispec.Descriptor{}, errdefs.Invalid(fmt.Errorf("parse image index %s: %w", desc.Digest, err))
	}
	child, ok := pickPlatform(idx, pl.plat)
	if !ok {
		return ocispec.Descriptor{}, errdefs.NotFound(fmt.Errorf("no matching manifest for %s in the manifest list entries", platforms.Format(pl.plat)))
	}
	return pl.fetchManifest(ctx, f, child, src, depth+1)
}

// pickPlatform chooses the best entry of idx for plat: an exact match
// before a compatible one (linux/arm/v7 runs on linux/arm64/v8 too).
// Attestation manifests never match.
func pickPlatform(idx ocispec.Index, plat ocispec.Platform) (ocispec.Descriptor, bool) {
	match := platforms.Only(plat)
	var cands []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" || m.Platform == nil {
			continue
		}
		if match.Match(*m.Platform) {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return ocispec.Descriptor{}, false
	}
	sort.SliceStable(cands, func(i, j int) bool { return match.Less(*cands[i].Platform, *cands[j].Platform) })
	return cands[0], true
}

// layers fetches the layers of inf concurrently and applies them in order
// as each one arrives, reporting as dockerd does.
func (pl *puller) layers(ctx context.Context, f remotes.Fetcher, inf *imageInfo, src source) error {
	s := pl.s
	lease, _ := leases.FromContext(ctx)
	n := len(inf.manifest.Layers)
	ready := make([]chan struct{}, n) // closed when layer i's blob is stored
	unpacked := make([]bool, n)
	quiet := make([]bool, n) // reported already: no "Pull complete"
	started := map[digest.Digest]chan struct{}{}
	var fetch []int
	for i, l := range inf.manifest.Layers {
		id := shortDigest(l.Digest)
		ready[i] = make(chan struct{})
		chain := inf.chainIDs[i].String()
		if _, err := s.sn.Stat(ctx, chain); err == nil {
			// Hold what is there against a collection until the image
			// record does.
			_ = s.leases.AddResource(ctx, leases.Lease{ID: lease}, leases.Resource{ID: chain, Type: "snapshots/" + s.snName})
			unpacked[i], quiet[i] = true, true
			close(ready[i])
			pl.p.layer(id, "Already exists")
			continue
		}
		if _, err := s.content.Info(ctx, l.Digest); err == nil {
			_ = s.leases.AddResource(ctx, leases.Lease{ID: lease}, leases.Resource{ID: l.Digest.String(), Type: "content"})
			quiet[i] = true
			close(ready[i])
			pl.p.layer(id, "Already exists")
			continue
		}
		if ch, ok := started[l.Digest]; ok { // the same blob twice in one image
			ready[i], quiet[i] = ch, true
			continue
		}
		started[l.Digest] = ready[i]
		fetch = append(fetch, i)
		pl.p.layer(id, "Pulling fs layer")
	}
	limit := s.cfg.MaxConcurrentDownloads
	for k, i := range fetch {
		if k >= limit {
			pl.p.layer(shortDigest(inf.manifest.Layers[i].Digest), "Waiting")
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	sem := make(chan struct{}, limit)
	for _, i := range fetch {
		l := inf.manifest.Layers[i]
		ch := ready[i]
		g.Go(func() error {
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-sem }()
			id := shortDigest(l.Digest)
			if err := s.fetchBlob(gctx, f, l, src, pl.p, id); err != nil {
				return err
			}
			pl.p.layer(id, "Download complete")
			close(ch)
			return nil
		})
	}

	extract := func() error {
		for i, l := range inf.manifest.Layers {
			select {
			case <-ready[i]:
			case <-gctx.Done():
				return gctx.Err()
			}
			if unpacked[i] {
				continue
			}
			if err := pl.extract(gctx, inf, i); err != nil {
				return err
			}
			if !quiet[i] {
				pl.p.layer(shortDigest(l.Digest), "Pull complete")
			}
		}
		return nil
	}
	g.Go(extract)
	return g.Wait()
}

// extract checks layer i of inf and applies it onto the layers below.
func (pl *puller) extract(ctx context.Context, inf *imageInfo, i int) error {
	s := pl.s
	l := inf.manifest.Layers[i]
	id := shortDigest(l.Digest)
	if err := s.checkLayer(ctx, l); err != nil {
		return err
	}
	counting := &countingProvider{Provider: s.content, report: func(n int64) { pl.p.bytes(id, "Extracting", n, l.Size) }}
	a := apply.NewFileSystemApplier(counting)
	layer := rootfs.Layer{Blob: l, Diff: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: inf.config.RootFS.DiffIDs[i]}}
	if _, err := rootfs.ApplyLayerWithOpts(ctx, layer, inf.config.RootFS.DiffIDs[:i], s.sn, a, nil, nil); err != nil {
		return fmt.Errorf("failed to register layer: %w", err)
	}
	pl.p.bytes(id, "Extracting", l.Size, l.Size)
	return nil
}

// countingProvider reports how far the applier has read a blob, for the
// "Extracting" bar.
type countingProvider struct {
	content.Provider
	report func(int64)
}

func (c *countingProvider) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	ra, err := c.Provider.ReaderAt(ctx, desc)
	if err != nil {
		return nil, err
	}
	return &countingReaderAt{ReaderAt: ra, report: c.report}, nil
}

type countingReaderAt struct {
	content.ReaderAt
	report func(int64)
	max    int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.ReaderAt.ReadAt(p, off)
	if end := off + int64(n); end > c.max {
		c.max = end
		c.report(end)
	}
	return n, err
}

// source is the registry and repository content is fetched from.
type source struct{ host, repo string }

// fetchBlob stores desc from f unless the store has it, verifying its
// digest; p and id, when given, get the "Downloading" bar and "Verifying
// Checksum". A transfer that breaks off resumes from where the ingest
// stopped; a blob whose digest does not match is discarded.
func (s *Service) fetchBlob(ctx context.Context, f remotes.Fetcher, desc ocispec.Descriptor, src source, p *progress, id string) error {
	var err error
	for attempt := 1; attempt <= maxFetchAttempts; attempt++ {
		err = s.fetchOnce(ctx, f, desc, p, id)
		if err == nil || cerrdefs.IsAlreadyExists(err) {
			return s.addSource(ctx, desc.Digest, src)
		}
		if ctx.Err() != nil || errdefs.IsInvalid(err) || cerrdefs.IsNotFound(err) {
			break
		}
		s.log.WarnContext(ctx, "blob transfer failed, retrying", "digest", desc.Digest, "attempt", attempt, "error", err)
	}
	return err
}

func (s *Service) fetchOnce(ctx context.Context, f remotes.Fetcher, desc ocispec.Descriptor, p *progress, id string) error {
	ref := remotes.MakeRefKey(ctx, desc)
	cw, err := content.OpenWriter(ctx, s.content, content.WithRef(ref), content.WithDescriptor(desc))
	if err != nil {
		return err
	}
	defer cw.Close()
	st, err := cw.Status()
	if err != nil {
		return err
	}
	offset := st.Offset
	if offset > desc.Size {
		if err := cw.Truncate(0); err != nil {
			return err
		}
		offset = 0
	}
	if offset < desc.Size {
		rc, err := f.Fetch(ctx, desc)
		if err != nil {
			return err
		}
		defer rc.Close()
		if offset > 0 {
			seeker, ok := rc.(io.Seeker)
			if ok {
				_, err = seeker.Seek(offset, io.SeekStart)
			}
			if !ok || err != nil {
				if err := cw.Truncate(0); err != nil {
					return err
				}
				offset = 0
			}
		}
		buf := make([]byte, 1<<20)
		for offset < desc.Size {
			n, rerr := rc.Read(buf)
			if n > 0 {
				if offset+int64(n) > desc.Size {
					s.abort(ctx, ref)
					return errdefs.Invalid(verifyError(desc))
				}
				if _, err := cw.Write(buf[:n]); err != nil {
					return err
				}
				offset += int64(n)
				if p != nil {
					p.bytes(id, "Downloading", offset, desc.Size)
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return rerr
			}
		}
		if offset < desc.Size {
			return io.ErrUnexpectedEOF
		}
	}
	if p != nil {
		p.layer(id, "Verifying Checksum")
	}
	if err := cw.Commit(ctx, desc.Size, desc.Digest); err != nil {
		if cerrdefs.IsAlreadyExists(err) {
			return nil
		}
		if cerrdefs.IsFailedPrecondition(err) {
			s.abort(ctx, ref)
			return errdefs.Invalid(fmt.Errorf("%w: %w", verifyError(desc), err))
		}
		return err
	}
	return nil
}

// verifyError is what dockerd says of content that fails its digest.
func verifyError(desc ocispec.Descriptor) error {
	if images.IsManifestType(desc.MediaType) || images.IsIndexType(desc.MediaType) {
		return fmt.Errorf("manifest verification failed for digest %s", desc.Digest)
	}
	return fmt.Errorf("filesystem layer verification failed for digest %s", desc.Digest)
}

func (s *Service) abort(ctx context.Context, ref string) {
	if err := s.content.Abort(context.WithoutCancel(ctx), ref); err != nil && !cerrdefs.IsNotFound(err) {
		s.log.WarnContext(ctx, "abort ingest", "ref", ref, "error", err)
	}
}

// addSource labels a blob with the repository it is in, so that a push to
// another repository of that registry can mount it instead of uploading.
func (s *Service) addSource(ctx context.Context, dgst digest.Digest, src source) error {
	if src.host == "" {
		return nil
	}
	info, err := s.content.Info(ctx, dgst)
	if err != nil {
		return err
	}
	// containerd's pusher keys sources by host name without the port.
	host := src.host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	key := labelDistributionSource + host
	repos := strings.Split(info.Labels[key], ",")
	for _, r := range repos {
		if r == src.repo {
			return nil
		}
	}
	if info.Labels[key] == "" {
		repos = nil
	}
	repos = append(repos, src.repo)
	_, err = s.content.Update(ctx, content.Info{Digest: dgst, Labels: map[string]string{key: strings.Join(repos, ",")}}, "labels."+key)
	return err
}

// addRepoDigest notes on the image config that the image is known in the
// repository of named by dgst (RepoDigests).
func (s *Service) addRepoDigest(ctx context.Context, inf *imageInfo, named reference.Named, dgst digest.Digest) error {
	key := labelRepoDigest + reference.TrimNamed(named).String()
	_, err := s.content.Update(ctx, content.Info{Digest: inf.configDesc.Digest, Labels: map[string]string{key: dgst.String()}}, "labels."+key)
	return err
}

// repoDigests are the image's NAME@DIGEST references in familiar form,
// as `docker image inspect` lists them.
func (s *Service) repoDigests(ctx context.Context, inf *imageInfo) []string {
	out := []string{}
	info, err := s.content.Info(ctx, inf.configDesc.Digest)
	if err != nil {
		return out
	}
	for k, v := range info.Labels {
		name, ok := strings.CutPrefix(k, labelRepoDigest)
		if !ok {
			continue
		}
		n, err := reference.ParseNormalizedNamed(name + "@" + v)
		if err != nil {
			continue
		}
		out = append(out, reference.FamiliarString(n))
	}
	sort.Strings(out)
	return out
}

// RepoDigests answers the RepoDigests of the image ref names.
func (s *Service) RepoDigests(ctx context.Context, ref string) ([]string, error) {
	ctx = s.ns(ctx)
	e, _, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.repoDigests(ctx, e.info), nil
}

// recordPulled names the pulled image: a tag moves to it, a digest
// reference gets a record of its own. It reports whether the name points
// to a different manifest than before.
func (s *Service) recordPulled(ctx context.Context, named reference.Named, inf *imageInfo) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := named.String()
	rec, err := s.images.Get(ctx, name)
	if err == nil && rec.Target.Digest == inf.manifestDesc.Digest {
		return false, nil
	}
	if t, ok := named.(reference.NamedTagged); ok {
		_, err := s.setTagLocked(ctx, t, inf)
		return true, err
	}
	switch {
	case err == nil:
		rec.Target = inf.manifestDesc
		if _, err := s.images.Update(ctx, rec, "target"); err != nil {
			return false, err
		}
	case cerrdefs.IsNotFound(err):
		if _, err := s.images.Create(ctx, images.Image{Name: name, Target: inf.manifestDesc}); err != nil {
			return false, err
		}
	default:
		return false, err
	}
	if err := s.images.Delete(ctx, danglingName(inf.ID())); err != nil && !cerrdefs.IsNotFound(err) {
		return false, err
	}
	return true, nil
}

// pullError turns a failed resolve into dockerd's words for it.
func pullError(named reference.Named, err error) error {
	var us remoteerrors.ErrUnexpectedStatus
	switch {
	case cerrdefs.IsNotFound(err):
		return errdefs.NotFound(fmt.Errorf("manifest for %s not found: manifest unknown: manifest unknown", reference.FamiliarString(named)))
	case errors.Is(err, docker.ErrInvalidAuthorization),
		errors.As(err, &us) && (us.StatusCode == http.StatusUnauthorized || us.StatusCode == http.StatusForbidden):
		return errdefs.Forbidden(fmt.Errorf("pull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", reference.FamiliarName(named)))
	}
	return errdefs.Unavailable(err)
}
