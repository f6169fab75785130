package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/distribution/reference"
	mobyevents "github.com/moby/moby/api/types/events"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"berth/internal/errdefs"
	"berth/internal/layer"
)

// savedImage is one image of a save with the names it is saved under.
type savedImage struct {
	e     *entry
	names []reference.NamedTagged
}

// Save writes the images refs name to w as one tar that both Docker's
// loader (manifest.json, repositories) and OCI tools (oci-layout,
// index.json, blobs/) read, as Docker 25 and later write it. A name
// without a tag saves every tag of that repository; an ID saves the image
// without names.
func (s *Service) Save(ctx context.Context, refs []string, w io.Writer) error {
	ctx = s.ns(ctx)
	all, err := s.entries(ctx)
	if err != nil {
		return err
	}
	var order []*savedImage
	byID := map[string]*savedImage{}
	add := func(e *entry, n reference.NamedTagged) {
		si := byID[e.info.ID()]
		if si == nil {
			si = &savedImage{e: e}
			byID[e.info.ID()] = si
			order = append(order, si)
		}
		if n != nil {
			for _, have := range si.names {
				if have.String() == n.String() {
					return
				}
			}
			si.names = append(si.names, n)
		}
	}
	for _, ref := range refs {
		e, named, err := s.lookup(ctx, ref)
		if err != nil {
			return err
		}
		switch {
		case named == nil:
			add(e, nil)
		case reference.IsNameOnly(named):
			for _, other := range sortedEntries(all) {
				for _, n := range other.named() {
					if n.Name() == named.Name() {
						add(other, n.(reference.NamedTagged))
					}
				}
			}
		default:
			if t, ok := reference.TagNameOnly(named).(reference.NamedTagged); ok {
				add(e, t)
			} else {
				add(e, nil)
			}
		}
	}
	if err := s.writeArchive(ctx, w, order); err != nil {
		return err
	}
	for _, si := range order {
		s.publish(string(mobyevents.ActionSave), si.e.info.ID(), si.e.info.ID(), si.e.info.config.Config.Labels)
	}
	return nil
}

type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func blobPath(d digest.Digest) string { return "blobs/" + d.Algorithm().String() + "/" + d.Encoded() }

func (s *Service) writeArchive(ctx context.Context, w io.Writer, imgs []*savedImage) error {
	tw := tar.NewWriter(w)
	mtime := time.Unix(0, 0)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: mtime}); err != nil {
			return err
		}
	}
	written := map[digest.Digest]bool{}
	writeBlob := func(desc ocispec.Descriptor) error {
		if written[desc.Digest] {
			return nil
		}
		written[desc.Digest] = true
		ra, err := s.content.ReaderAt(ctx, desc)
		if err != nil {
			return fmt.Errorf("read blob %s: %w", desc.Digest, err)
		}
		defer ra.Close()
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: blobPath(desc.Digest), Mode: 0o644, Size: ra.Size(), ModTime: mtime}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, io.NewSectionReader(ra, 0, ra.Size()))
		return err
	}
	writeFile := func(name string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	}

	var (
		manifests []dockerManifest
		index     = ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
		repos     = map[string]map[string]string{}
	)
	for _, si := range imgs {
		inf := si.e.info
		for _, l := range inf.manifest.Layers {
			if err := writeBlob(l); err != nil {
				return err
			}
		}
		if err := writeBlob(inf.configDesc); err != nil {
			return err
		}
		if err := writeBlob(inf.manifestDesc); err != nil {
			return err
		}
		dm := dockerManifest{Config: blobPath(inf.configDesc.Digest), RepoTags: []string{}}
		for _, l := range inf.manifest.Layers {
			dm.Layers = append(dm.Layers, blobPath(l.Digest))
		}
		desc := ocispec.Descriptor{MediaType: inf.manifestDesc.MediaType, Digest: inf.manifestDesc.Digest, Size: inf.manifestDesc.Size}
		if len(si.names) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		for _, n := range si.names {
			fam := reference.FamiliarString(n)
			dm.RepoTags = append(dm.RepoTags, fam)
			d := desc
			d.Annotations = map[string]string{
				images.AnnotationImageName: n.String(),
				ocispec.AnnotationRefName:  n.Tag(),
			}
			index.Manifests = append(index.Manifests, d)
			repo := reference.FamiliarName(n)
			if repos[repo] == nil {
				repos[repo] = map[string]string{}
			}
			if len(inf.manifest.Layers) > 0 {
				repos[repo][n.Tag()] = inf.manifest.Layers[len(inf.manifest.Layers)-1].Digest.Encoded()
			}
		}
		sort.Strings(dm.RepoTags)
		manifests = append(manifests, dm)
	}
	if err := writeFile(ocispec.ImageIndexFile, index); err != nil {
		return err
	}
	if err := writeFile("manifest.json", manifests); err != nil {
		return err
	}
	if err := writeFile(ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}); err != nil {
		return err
	}
	if len(repos) > 0 {
		if err := writeFile("repositories", repos); err != nil {
			return err
		}
	}
	return tw.Close()
}

// Load reads an image archive (docker-archive or OCI layout) from r,
// checks every entry and blob, unpacks its images and names them. It
// returns dockerd's report lines ("Loaded image: busybox:latest", "Loaded
// image ID: sha256:…"). A refused archive leaves nothing behind.
func (s *Service) Load(ctx context.Context, r io.Reader) ([]string, error) {
	ctx = s.ns(ctx)
	lctx, done, err := s.withTempLease(ctx)
	if err != nil {
		return nil, err
	}
	failed := true
	defer func() { done(ctx, failed) }()

	idx, err := s.importChecked(lctx, r)
	if err != nil {
		return nil, err
	}
	b, err := content.ReadBlob(lctx, s.content, idx)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("read index: %w", err))
	}
	var index ocispec.Index
	if err := json.Unmarshal(b, &index); err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("parse index.json: %w", err))
	}
	if len(index.Manifests) == 0 {
		return nil, errdefs.Invalid(errors.New("no images found in the archive"))
	}

	type loaded struct {
		inf   *imageInfo
		names []reference.NamedTagged
	}
	var order []*loaded
	byManifest := map[digest.Digest]*loaded{}
	for _, m := range index.Manifests {
		md, err := s.resolveManifest(lctx, m, 0)
		if err != nil {
			return nil, err
		}
		l := byManifest[md.Digest]
		if l == nil {
			inf, err := s.unpack(lctx, md, true)
			if err != nil {
				return nil, err
			}
			l = &loaded{inf: inf}
			byManifest[md.Digest] = l
			order = append(order, l)
		}
		if n := annotatedName(m.Annotations); n != nil {
			l.names = append(l.names, n)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []string
	for _, l := range order {
		if len(l.names) == 0 {
			if err := s.keepDanglingLocked(ctx, l.inf); err != nil {
				return lines, err
			}
			lines = append(lines, "Loaded image ID: "+l.inf.ID())
		}
		for _, n := range l.names {
			prev, err := s.setTagLocked(ctx, n, l.inf)
			if err != nil {
				return lines, err
			}
			fam := reference.FamiliarString(n)
			if prev != "" {
				lines = append(lines, fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", fam, prev))
			}
			lines = append(lines, "Loaded image: "+fam)
		}
		s.publish(string(mobyevents.ActionLoad), l.inf.ID(), l.inf.ID(), l.inf.config.Config.Labels)
	}
	failed = false
	return lines, nil
}

// annotatedName is the image name an index entry carries, if any.
func annotatedName(a map[string]string) reference.NamedTagged {
	for _, key := range []string{images.AnnotationImageName, ocispec.AnnotationRefName} {
		v := a[key]
		if v == "" {
			continue
		}
		n, err := reference.ParseNormalizedNamed(v)
		if err != nil {
			continue
		}
		if key == ocispec.AnnotationRefName && reference.FamiliarName(n) == v && !containsAny(v, "/:") {
			continue // a bare tag such as "latest" names no repository
		}
		if t, ok := reference.TagNameOnly(n).(reference.NamedTagged); ok {
			return t
		}
	}
	return nil
}

func containsAny(s, chars string) bool {
	for _, c := range chars {
		for _, d := range s {
			if c == d {
				return true
			}
		}
	}
	return false
}

// errImportDone stops the archive check once the importer has stopped.
var errImportDone = errors.New("import finished")

// importChecked feeds r to containerd's archive importer while checking,
// on the same bytes, that every entry stays inside the archive and that
// the stream is a complete tar. The check's verdict wins over the
// importer's.
func (s *Service) importChecked(ctx context.Context, r io.Reader) (ocispec.Descriptor, error) {
	pr, pw := io.Pipe()
	checked := make(chan error, 1)
	go func() {
		err := layer.Scan(io.TeeReader(r, pw), layer.CheckArchiveEntry)
		pw.CloseWithError(err)
		checked <- err
	}()
	idx, err := archive.ImportIndex(ctx, s.content, pr)
	pr.CloseWithError(errImportDone)
	if cerr := <-checked; cerr != nil && !errors.Is(cerr, errImportDone) {
		return ocispec.Descriptor{}, cerr
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return ocispec.Descriptor{}, err
		}
		return ocispec.Descriptor{}, errdefs.Invalid(fmt.Errorf("invalid image archive: %w", err))
	}
	return idx, nil
}
