package image

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	mobyevents "github.com/moby/moby/api/types/events"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"berth/internal/errdefs"
)

// danglingPrefix names the record that keeps an untagged image alive;
// it never parses as a name a user could tag.
const danglingPrefix = "berth-dangling@"

// imageInfo is what berth knows of one image manifest. Content is
// immutable, so infos are cached by manifest digest.
type imageInfo struct {
	manifestDesc ocispec.Descriptor
	manifest     ocispec.Manifest
	configDesc   ocispec.Descriptor
	config       dockerspec.DockerOCIImage
	extra        configExtra
	chainIDs     []digest.Digest
}

// configExtra holds fields of Docker's image config that the OCI types lack.
type configExtra struct {
	Comment       string `json:"comment,omitempty"`
	DockerVersion string `json:"docker_version,omitempty"`
	Parent        string `json:"parent,omitempty"`
}

// ID is Docker's image ID: the config digest.
func (i *imageInfo) ID() string { return i.configDesc.Digest.String() }

// entry is one image (one ID) with the records that name it.
type entry struct {
	info    *imageInfo
	records []images.Image // by name; dangling records included
}

// tags are the familiar names of the image's tag records.
func (e *entry) tags() []string {
	var out []string
	for _, r := range e.records {
		if n, ok := parseRecordName(r.Name); ok {
			out = append(out, reference.FamiliarString(n))
		}
	}
	sort.Strings(out)
	return out
}

func (e *entry) named() []reference.Named {
	var out []reference.Named
	for _, r := range e.records {
		if n, ok := parseRecordName(r.Name); ok {
			out = append(out, n)
		}
	}
	return out
}

func (e *entry) dangling() bool { return len(e.named()) == 0 }

func (e *entry) lastTagTime() time.Time {
	var t time.Time
	for _, r := range e.records {
		if _, ok := parseRecordName(r.Name); ok && r.CreatedAt.After(t) {
			t = r.CreatedAt
		}
	}
	return t
}

func (e *entry) created() time.Time {
	if e.info.config.Created != nil {
		return *e.info.config.Created
	}
	return time.Time{}
}

func (e *entry) image() *Image {
	return &Image{ID: e.info.ID(), RepoTags: e.tags(), Config: e.info.config}
}

// parseRecordName reads a record's name as a tagged reference; dangling
// records (and anything else) are not.
func parseRecordName(name string) (reference.NamedTagged, bool) {
	if strings.HasPrefix(name, danglingPrefix) {
		return nil, false
	}
	n, err := reference.ParseNamed(name)
	if err != nil {
		return nil, false
	}
	t, ok := n.(reference.NamedTagged)
	return t, ok
}

func danglingName(id string) string { return danglingPrefix + id }

// info reads (or recalls) the manifest and config behind a record target.
func (s *Service) info(ctx context.Context, desc ocispec.Descriptor) (*imageInfo, error) {
	s.cacheMu.Lock()
	inf, ok := s.infos[desc.Digest]
	s.cacheMu.Unlock()
	if ok {
		return inf, nil
	}
	inf, err := s.readInfo(ctx, desc)
	if err != nil {
		return nil, err
	}
	s.cacheMu.Lock()
	s.infos[desc.Digest] = inf
	s.cacheMu.Unlock()
	return inf, nil
}

func (s *Service) readInfo(ctx context.Context, desc ocispec.Descriptor) (*imageInfo, error) {
	b, err := content.ReadBlob(ctx, s.content, desc)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", desc.Digest, err)
	}
	inf := &imageInfo{manifestDesc: desc}
	if err := json.Unmarshal(b, &inf.manifest); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", desc.Digest, err)
	}
	inf.configDesc = inf.manifest.Config
	cb, err := content.ReadBlob(ctx, s.content, inf.configDesc)
	if err != nil {
		return nil, fmt.Errorf("read image config %s: %w", inf.configDesc.Digest, err)
	}
	if err := json.Unmarshal(cb, &inf.config); err != nil {
		return nil, fmt.Errorf("parse image config %s: %w", inf.configDesc.Digest, err)
	}
	_ = json.Unmarshal(cb, &inf.extra)
	inf.chainIDs = chainIDs(inf.config.RootFS.DiffIDs)
	return inf, nil
}

// chainIDs gives the chain ID of every prefix of the layer stack.
func chainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i := range diffIDs {
		out[i] = identity.ChainID(diffIDs[:i+1])
	}
	return out
}

// topChainID is the snapshot a container's file system is prepared on;
// "" for an image without layers.
func (i *imageInfo) topChainID() string {
	if len(i.chainIDs) == 0 {
		return ""
	}
	return i.chainIDs[len(i.chainIDs)-1].String()
}

// entries groups every image record by image ID.
func (s *Service) entries(ctx context.Context) (map[string]*entry, error) {
	recs, err := s.images.List(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*entry{}
	for _, r := range recs {
		inf, err := s.info(ctx, r.Target)
		if err != nil {
			s.log.WarnContext(ctx, "skipping unreadable image record", "name", r.Name, "error", err)
			continue
		}
		e := out[inf.ID()]
		if e == nil {
			e = &entry{info: inf}
			out[inf.ID()] = e
		}
		e.records = append(e.records, r)
	}
	return out, nil
}

// sortedEntries lists images newest first.
func sortedEntries(m map[string]*entry) []*entry {
	out := make([]*entry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		ci, cj := out[i].created(), out[j].created()
		if !ci.Equal(cj) {
			return ci.After(cj)
		}
		return out[i].info.ID() < out[j].info.ID()
	})
	return out
}

// Resolve finds an image by name[:tag], name@digest, full or short ID.
// An unknown reference is errdefs.NotFound("No such image: <ref>").
func (s *Service) Resolve(ctx context.Context, ref string) (*Image, error) {
	ctx = s.ns(ctx)
	e, _, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	return e.image(), nil
}

// lookup finds the image ref names, and the name it was given by when it
// was given by one (nil for an ID).
func (s *Service) lookup(ctx context.Context, ref string) (*entry, reference.Named, error) {
	if ref == "" {
		return nil, nil, errdefs.Invalid(fmt.Errorf("invalid reference format"))
	}
	all, err := s.entries(ctx)
	if err != nil {
		return nil, nil, err
	}
	if id, ok := fullID(ref); ok {
		if e := all[id]; e != nil {
			return e, nil, nil
		}
		return nil, nil, errdefs.NotFound(fmt.Errorf("No such image: %s", id))
	}
	named, perr := reference.ParseNormalizedNamed(ref)
	if perr == nil {
		if e := findNamed(all, named); e != nil {
			return e, named, nil
		}
	}
	if e := findPrefix(all, ref); e != nil {
		return e, nil, nil
	}
	if perr != nil {
		return nil, nil, errdefs.Invalid(perr)
	}
	return nil, nil, notFound(named)
}

func notFound(named reference.Named) error {
	if _, ok := named.(reference.Digested); !ok {
		named = reference.TagNameOnly(named)
	}
	return errdefs.NotFound(fmt.Errorf("No such image: %s", reference.FamiliarString(named)))
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// fullID recognises "sha256:<64 hex>" and a bare 64-hex ID.
func fullID(ref string) (string, bool) {
	hex := strings.TrimPrefix(ref, "sha256:")
	if len(hex) == 64 && isHex(hex) {
		return "sha256:" + hex, true
	}
	return "", false
}

func findNamed(all map[string]*entry, named reference.Named) *entry {
	if dg, ok := named.(reference.Digested); ok {
		// A pull by digest records the image under NAME@DIGEST.
		for _, e := range all {
			for _, r := range e.records {
				if r.Name == named.String() {
					return e
				}
			}
		}
		for _, e := range all {
			if e.info.manifestDesc.Digest != dg.Digest() && e.info.configDesc.Digest != dg.Digest() {
				continue
			}
			for _, n := range e.named() {
				if n.Name() == named.Name() {
					return e
				}
			}
		}
		return nil
	}
	want := reference.TagNameOnly(named).String()
	for _, e := range all {
		for _, r := range e.records {
			if r.Name == want {
				return e
			}
		}
	}
	return nil
}

// findPrefix finds the one image whose ID starts with ref; an ambiguous
// prefix finds nothing, as in dockerd.
func findPrefix(all map[string]*entry, ref string) *entry {
	hex := strings.TrimPrefix(ref, "sha256:")
	if !isHex(hex) {
		return nil
	}
	var found *entry
	for id, e := range all {
		if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), hex) {
			if found != nil {
				return nil
			}
			found = e
		}
	}
	return found
}

// shortID is the 12-character form Docker prints.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// publish sends an image event with the image's labels, as dockerd does.
func (s *Service) publish(action string, id, name string, labels map[string]string) {
	attrs := map[string]string{}
	for k, v := range labels {
		attrs[k] = v
	}
	attrs["name"] = name
	s.cfg.Events.Publish(mobyevents.ImageEventType, mobyevents.Action(action), id, attrs)
}
