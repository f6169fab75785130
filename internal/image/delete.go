package image

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	mobyevents "github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
)

// deleteConflict is dockerd's image delete conflict: hard ones (a running
// container) cannot be forced, soft ones (a stopped container, other
// tags) can.
type deleteConflict struct {
	hard bool
	used bool
	id   string
	msg  string
}

func (c *deleteConflict) Error() string {
	force := "must be forced"
	if c.hard {
		force = "cannot be forced"
	}
	return fmt.Sprintf("conflict: unable to delete %s (%s) - %s", shortID(c.id), force, c.msg)
}

func (s *Service) running(containerID string) bool {
	return s.cfg.Running != nil && s.cfg.Running(containerID)
}

// conflict looks for what stops image e from being deleted; soft
// conflicts are ignored when force is set. Tags are not a conflict here:
// callers decide about them.
func (s *Service) conflict(e *entry, force bool) *deleteConflict {
	users := s.cfg.InUse(e.info.ID())
	for _, c := range users {
		if s.running(c) {
			return &deleteConflict{hard: true, used: true, id: e.info.ID(), msg: "image is being used by running container " + shortID(c)}
		}
	}
	if !force && len(users) > 0 {
		return &deleteConflict{used: true, id: e.info.ID(), msg: "image is being used by stopped container " + shortID(users[0])}
	}
	return nil
}

// Delete answers `docker rmi`: a name is untagged, and the image deleted
// with its last name; an ID deletes the image. force overrides stopped
// containers and other tags, never a running container.
func (s *Service) Delete(ctx context.Context, ref string, force, prune bool) ([]imagetypes.DeleteResponse, error) {
	ctx = s.ns(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, named, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	id := e.info.ID()
	records := []imagetypes.DeleteResponse{}
	names := e.named()
	quiet := false
	if named != nil && !isIDPrefix(id, ref) {
		if users := s.cfg.InUse(id); !force && len(names) == 1 && len(users) > 0 {
			return nil, errdefs.Conflict(fmt.Errorf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", ref, shortID(users[0]), shortID(id)))
		}
		untagged, err := s.untagLocked(ctx, e, named)
		if err != nil {
			return nil, err
		}
		for _, u := range untagged {
			records = append(records, imagetypes.DeleteResponse{Untagged: u})
		}
		if len(e.named()) > 0 {
			return records, nil
		}
		quiet = true
	} else if len(names) > 1 && !force {
		return nil, errdefs.Conflict(&deleteConflict{id: id, msg: "image is referenced in multiple repositories"})
	}

	if c := s.conflict(e, force); c != nil {
		if quiet {
			// The name is gone; the image stays, untagged, for its user.
			return records, s.keepDanglingLocked(ctx, e.info)
		}
		return nil, errdefs.Conflict(c)
	}
	deleted, err := s.deleteLocked(ctx, []*entry{e})
	if err != nil {
		return records, err
	}
	return append(records, deleted...), nil
}

func isIDPrefix(id, ref string) bool {
	return strings.HasPrefix(id, ref) || strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), ref)
}

// untagLocked removes the tag named (or, for name@digest, every tag of
// that repository on the image) and returns the familiar names removed.
//
// Preconditions: s.mu is held.
func (s *Service) untagLocked(ctx context.Context, e *entry, named reference.Named) ([]string, error) {
	var want []string
	if _, ok := named.(reference.Digested); ok {
		for _, n := range e.named() {
			if n.Name() == named.Name() {
				want = append(want, n.String())
			}
		}
	} else {
		want = []string{reference.TagNameOnly(named).String()}
	}
	var out []string
	for _, name := range want {
		if err := s.images.Delete(ctx, name); err != nil && !cerrdefs.IsNotFound(err) {
			return out, err
		}
		n, _ := reference.ParseNamed(name)
		out = append(out, reference.FamiliarString(n))
		s.publish(string(mobyevents.ActionUnTag), e.info.ID(), e.info.ID(), e.info.config.Config.Labels)
	}
	kept := e.records[:0]
	for _, r := range e.records {
		if !contains(want, r.Name) {
			kept = append(kept, r)
		}
	}
	e.records = kept
	// With the repository's last name gone, its digest reference goes
	// too, as dockerd reports it: "Untagged: repo@sha256:…".
	for _, n := range e.named() {
		if n.Name() == named.Name() {
			return out, nil
		}
	}
	if u, err := s.dropRepoDigest(ctx, e.info, named); err != nil {
		return out, err
	} else if u != "" {
		out = append(out, u)
	}
	return out, nil
}

// dropRepoDigest forgets the image's digest in named's repository and
// returns the familiar NAME@DIGEST it had, or "".
func (s *Service) dropRepoDigest(ctx context.Context, inf *imageInfo, named reference.Named) (string, error) {
	key := labelRepoDigest + reference.TrimNamed(named).String()
	info, err := s.content.Info(ctx, inf.configDesc.Digest)
	if err != nil {
		return "", nil
	}
	dgst, ok := info.Labels[key]
	if !ok {
		return "", nil
	}
	if _, err := s.content.Update(ctx, content.Info{Digest: inf.configDesc.Digest}, "labels."+key); err != nil {
		return "", err
	}
	n, err := reference.ParseNormalizedNamed(reference.TrimNamed(named).String() + "@" + dgst)
	if err != nil {
		return "", nil
	}
	return reference.FamiliarString(n), nil
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// deleteLocked removes every record of the images, collects what nobody
// refers to any more and reports, as dockerd does, the tags untagged, the
// images deleted and the layers (chain IDs) that went with them.
//
// Preconditions: s.mu is held.
func (s *Service) deleteLocked(ctx context.Context, es []*entry) ([]imagetypes.DeleteResponse, error) {
	untagged := make([][]imagetypes.DeleteResponse, len(es))
	for i, e := range es {
		for _, r := range e.records {
			if err := s.images.Delete(ctx, r.Name); err != nil && !cerrdefs.IsNotFound(err) {
				return nil, err
			}
			if n, ok := parseRecordName(r.Name); ok {
				untagged[i] = append(untagged[i], imagetypes.DeleteResponse{Untagged: reference.FamiliarString(n)})
				s.publish(string(mobyevents.ActionUnTag), e.info.ID(), e.info.ID(), e.info.config.Config.Labels)
			}
		}
		e.records = nil
	}
	s.gc(ctx)
	var out []imagetypes.DeleteResponse
	reported := map[string]bool{}
	for i, e := range es {
		out = append(out, untagged[i]...)
		out = append(out, imagetypes.DeleteResponse{Deleted: e.info.ID()})
		for j := len(e.info.chainIDs) - 1; j >= 0; j-- {
			c := e.info.chainIDs[j].String()
			if reported[c] {
				continue
			}
			if _, err := s.sn.Stat(ctx, c); cerrdefs.IsNotFound(err) {
				reported[c] = true
				out = append(out, imagetypes.DeleteResponse{Deleted: c})
			}
		}
		s.publish(string(mobyevents.ActionDelete), e.info.ID(), e.info.ID(), e.info.config.Config.Labels)
	}
	return out, nil
}

// Prune answers `docker image prune`: dangling images (all unused ones
// with dangling=false) that no container uses, filtered by label and
// until.
func (s *Service) Prune(ctx context.Context, f filters.Args) (*imagetypes.PruneReport, error) {
	ctx = s.ns(ctx)
	if err := f.Validate("dangling", "label", "label!", "until"); err != nil {
		return nil, err
	}
	danglingOnly := true
	for _, v := range f.Get("dangling") {
		switch strings.ToLower(v) {
		case "false", "0":
			danglingOnly = false
		case "true", "1":
		default:
			return nil, errdefs.Invalid(fmt.Errorf("Invalid filter 'dangling=%s'", v))
		}
	}
	var until time.Time
	for _, v := range f.Get("until") {
		t, err := filters.ParseTime(v)
		if err != nil {
			return nil, err
		}
		until = t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	var victims []*entry
	for _, e := range sortedEntries(all) {
		if danglingOnly && !e.dangling() {
			continue
		}
		if len(s.cfg.InUse(e.info.ID())) > 0 {
			continue
		}
		labels := e.info.config.Config.Labels
		if !f.MatchLabels("label", labels) {
			continue
		}
		if excluded(f.Get("label!"), labels) {
			continue
		}
		if !until.IsZero() && !e.created().Before(until) {
			continue
		}
		victims = append(victims, e)
	}
	rep := &imagetypes.PruneReport{ImagesDeleted: []imagetypes.DeleteResponse{}}
	if len(victims) == 0 {
		s.publishPrune(0)
		return rep, nil
	}
	sizes := map[string]int64{}
	for _, e := range victims {
		for _, c := range e.info.chainIDs {
			sizes[c.String()], _ = s.layerSize(ctx, c.String())
		}
	}
	deleted, err := s.deleteLocked(ctx, victims)
	rep.ImagesDeleted = append(rep.ImagesDeleted, deleted...)
	for _, d := range deleted {
		if n, ok := sizes[d.Deleted]; ok {
			rep.SpaceReclaimed += uint64(n)
		}
	}
	s.publishPrune(rep.SpaceReclaimed)
	return rep, err
}

func excluded(notLabels []string, labels map[string]string) bool {
	for _, l := range notLabels {
		k, v, hasV := strings.Cut(l, "=")
		if lv, ok := labels[k]; ok && (!hasV || lv == v) {
			return true
		}
	}
	return false
}

func (s *Service) publishPrune(reclaimed uint64) {
	s.cfg.Events.Publish(mobyevents.ImageEventType, mobyevents.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(reclaimed, 10)})
}
