package image

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/distribution/reference"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
)

// ListOptions are the parameters of GET /images/json.
type ListOptions struct {
	All        bool
	Filters    filters.Args
	SharedSize bool
}

// List answers `docker images`: newest first, filtered as dockerd filters.
func (s *Service) List(ctx context.Context, opts ListOptions) ([]imagetypes.Summary, error) {
	ctx = s.ns(ctx)
	f := opts.Filters
	if err := f.Validate("before", "dangling", "label", "label!", "reference", "since", "until"); err != nil {
		return nil, err
	}
	all, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	match, err := s.entryFilter(ctx, f, all)
	if err != nil {
		return nil, err
	}
	var layerUsers map[string]int
	if opts.SharedSize {
		layerUsers = map[string]int{}
		for _, e := range all {
			for _, c := range e.info.chainIDs {
				layerUsers[c.String()]++
			}
		}
	}
	out := []imagetypes.Summary{}
	for _, e := range sortedEntries(all) {
		if !match(e) {
			continue
		}
		tags := e.tags()
		digests := s.repoDigests(ctx, e.info) // pull.go
		if f.Has("reference") {
			tags = matchingTags(f.Get("reference"), e.named())
			if len(tags) == 0 {
				continue
			}
			digests = matchingDigests(f.Get("reference"), digests)
		}
		sum := imagetypes.Summary{
			Containers:  -1,
			Created:     e.created().Unix(),
			ID:          e.info.ID(),
			Labels:      e.info.config.Config.Labels,
			RepoDigests: digests,
			RepoTags:    tags,
			SharedSize:  -1,
			Size:        s.imageSize(ctx, e.info),
		}
		if sum.Labels == nil {
			sum.Labels = map[string]string{}
		}
		if sum.RepoTags == nil {
			sum.RepoTags = []string{}
		}
		if opts.SharedSize {
			sum.SharedSize = 0
			for _, c := range e.info.chainIDs {
				if layerUsers[c.String()] > 1 {
					n, _ := s.layerSize(ctx, c.String())
					sum.SharedSize += n
				}
			}
		}
		out = append(out, sum)
	}
	return out, nil
}

// matchingTags are the familiar names that a reference filter's patterns
// match, by full name or by repository name.
func matchingTags(patterns []string, names []reference.Named) []string {
	var out []string
	for _, n := range names {
		fam := reference.FamiliarString(n)
		repo := reference.FamiliarName(n)
		for _, p := range patterns {
			if ok, _ := path.Match(p, fam); ok {
				out = append(out, fam)
				break
			}
			if ok, _ := path.Match(p, repo); ok {
				out = append(out, fam)
				break
			}
		}
	}
	return out
}

// matchingDigests keeps the NAME@DIGEST references whose repository the
// reference filter names, as dockerd narrows RepoDigests.
func matchingDigests(patterns []string, digests []string) []string {
	out := []string{}
	for _, d := range digests {
		repo, _, _ := strings.Cut(d, "@")
		for _, p := range patterns {
			if ok, _ := path.Match(p, repo); ok {
				out = append(out, d)
				break
			}
			if ok, _ := path.Match(p, d); ok {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// entryFilter builds the predicate of the dangling, label, before, since
// and until filters.
func (s *Service) entryFilter(ctx context.Context, f filters.Args, all map[string]*entry) (func(*entry) bool, error) {
	var dangling *bool
	for _, v := range f.Get("dangling") {
		var b bool
		switch strings.ToLower(v) {
		case "true", "1":
			b = true
		case "false", "0":
		default:
			return nil, errdefs.Invalid(fmt.Errorf("Invalid filter 'dangling=%s'", v))
		}
		dangling = &b
	}
	var before, since, until time.Time
	for _, v := range f.Get("before") {
		e, _, err := s.lookup(ctx, v)
		if err != nil {
			return nil, err
		}
		before = e.created()
	}
	for _, v := range f.Get("since") {
		e, _, err := s.lookup(ctx, v)
		if err != nil {
			return nil, err
		}
		since = e.created()
	}
	for _, v := range f.Get("until") {
		t, err := filters.ParseTime(v)
		if err != nil {
			return nil, err
		}
		until = t
	}
	return func(e *entry) bool {
		if dangling != nil && e.dangling() != *dangling {
			return false
		}
		labels := e.info.config.Config.Labels
		if !f.MatchLabels("label", labels) {
			return false
		}
		for _, l := range f.Get("label!") {
			k, v, hasV := strings.Cut(l, "=")
			if lv, ok := labels[k]; ok && (!hasV || lv == v) {
				return false
			}
		}
		c := e.created()
		if !before.IsZero() && !c.Before(before) {
			return false
		}
		if !since.IsZero() && !c.After(since) {
			return false
		}
		if !until.IsZero() && !c.Before(until) {
			return false
		}
		return true
	}, nil
}

// Inspect answers `docker image inspect`.
func (s *Service) Inspect(ctx context.Context, ref string) (*imagetypes.InspectResponse, error) {
	ctx = s.ns(ctx)
	e, _, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	inf := e.info
	c := inf.config
	cfg := c.Config
	resp := &imagetypes.InspectResponse{
		ID:           inf.ID(),
		RepoTags:     e.tags(),
		RepoDigests:  s.repoDigests(ctx, inf), // pull.go
		Comment:      inf.extra.Comment,
		Author:       c.Author,
		Config:       &cfg,
		Architecture: c.Architecture,
		Variant:      c.Variant,
		Os:           c.OS,
		OsVersion:    c.OSVersion,
		Size:         s.imageSize(ctx, inf),
		GraphDriver:  s.graphDriver(ctx, inf),
		RootFS:       imagetypes.RootFS{Type: "layers"},
		Metadata:     imagetypes.Metadata{LastTagTime: e.lastTagTime()},
	}
	if resp.RepoTags == nil {
		resp.RepoTags = []string{}
	}
	if c.Created != nil {
		resp.Created = c.Created.UTC().Format(time.RFC3339Nano)
	}
	for _, d := range c.RootFS.DiffIDs {
		resp.RootFS.Layers = append(resp.RootFS.Layers, d.String())
	}
	return resp, nil
}

// graphDriver describes where the layers live, as Docker's overlay2
// driver does: the top layer's directory as UpperDir, the ones below as
// LowerDir (top first).
func (s *Service) graphDriver(ctx context.Context, inf *imageInfo) *storage.DriverData {
	if s.snName != "overlayfs" {
		return &storage.DriverData{Name: "vfs", Data: map[string]string{}}
	}
	dd := &storage.DriverData{Name: "overlay2", Data: map[string]string{}}
	var dirs []string
	for i := len(inf.chainIDs) - 1; i >= 0; i-- {
		st, err := s.sn.Stat(ctx, inf.chainIDs[i].String())
		if err != nil {
			return dd
		}
		dirs = append(dirs, st.Labels["containerd.io/snapshot/overlay.upperdir"])
	}
	if len(dirs) == 0 || dirs[0] == "" {
		return dd
	}
	snap := filepath.Dir(dirs[0])
	dd.Data["UpperDir"] = dirs[0]
	dd.Data["WorkDir"] = filepath.Join(snap, "work")
	dd.Data["MergedDir"] = filepath.Join(snap, "merged")
	if len(dirs) > 1 {
		dd.Data["LowerDir"] = strings.Join(dirs[1:], ":")
	}
	return dd
}

// History answers `docker history`: newest step first; the top step
// carries the image's ID and tags, the others "<missing>".
func (s *Service) History(ctx context.Context, ref string) ([]imagetypes.HistoryResponseItem, error) {
	ctx = s.ns(ctx)
	e, _, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	inf := e.info
	hist := inf.config.History
	out := make([]imagetypes.HistoryResponseItem, 0, len(hist))
	layer := 0
	for _, h := range hist {
		item := imagetypes.HistoryResponseItem{
			Comment:   h.Comment,
			CreatedBy: h.CreatedBy,
			ID:        "<missing>",
			Tags:      nil,
		}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		if !h.EmptyLayer && layer < len(inf.chainIDs) {
			item.Size, _ = s.layerSize(ctx, inf.chainIDs[layer].String())
			layer++
		}
		out = append(out, item)
	}
	if len(out) == 0 {
		out = append(out, imagetypes.HistoryResponseItem{ID: "<missing>", Created: e.created().Unix(), Size: s.imageSize(ctx, inf)})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	out[0].ID = inf.ID()
	out[0].Tags = e.tags()
	return out, nil
}

// Count is how many images there are (by ID), as `info` reports.
func (s *Service) Count(ctx context.Context) (int, error) {
	es, err := s.entries(s.ns(ctx))
	if err != nil {
		return 0, err
	}
	return len(es), nil
}
