package image

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"berth/internal/errdefs"
)

// repoTag reads the repo and tag parameters of tag, import and commit as
// dockerd does: the tag defaults to latest, a digest is refused.
func repoTag(repo, tag string) (reference.NamedTagged, error) {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, errdefs.Invalid(errors.New("refusing to create a tag with a digest reference"))
	}
	if tag != "" {
		tagged, err := reference.WithTag(named, tag)
		if err != nil {
			return nil, errdefs.Invalid(err)
		}
		return tagged, nil
	}
	tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
	if !ok {
		return nil, errdefs.Invalid(fmt.Errorf("invalid reference format"))
	}
	return tagged, nil
}

// Tag names the image ref as repo:tag (POST /images/{name}/tag).
func (s *Service) Tag(ctx context.Context, ref, repo, tag string) error {
	ctx = s.ns(ctx)
	named, err := repoTag(repo, tag)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, _, err := s.lookup(ctx, ref)
	if err != nil {
		return err
	}
	if _, err := s.setTagLocked(ctx, named, e.info); err != nil {
		return err
	}
	s.publish("tag", e.info.ID(), reference.FamiliarString(named), e.info.config.Config.Labels)
	return nil
}

// setTagLocked points named at the image inf, taking the name from any
// image that had it; that image, left without names, is kept as dangling.
// It returns the ID of the image the name was taken from ("" if none).
//
// Preconditions: s.mu is held.
func (s *Service) setTagLocked(ctx context.Context, named reference.NamedTagged, inf *imageInfo) (string, error) {
	name := named.String()
	var previous *imageInfo
	rec, err := s.images.Get(ctx, name)
	switch {
	case err == nil:
		if rec.Target.Digest != inf.manifestDesc.Digest {
			if old, err := s.info(ctx, rec.Target); err == nil && old.ID() != inf.ID() {
				previous = old
			}
		}
		rec.Target = inf.manifestDesc
		if _, err := s.images.Update(ctx, rec, "target"); err != nil {
			return "", fmt.Errorf("tag %s: %w", reference.FamiliarString(named), err)
		}
	case cerrdefs.IsNotFound(err):
		if _, err := s.images.Create(ctx, images.Image{Name: name, Target: inf.manifestDesc}); err != nil {
			return "", fmt.Errorf("tag %s: %w", reference.FamiliarString(named), err)
		}
	default:
		return "", err
	}
	if err := s.images.Delete(ctx, danglingName(inf.ID())); err != nil && !cerrdefs.IsNotFound(err) {
		return "", err
	}
	if previous == nil {
		return "", nil
	}
	if err := s.keepDanglingLocked(ctx, previous); err != nil {
		return "", err
	}
	return previous.ID(), nil
}

// keepDanglingLocked gives the image inf a dangling record when no record
// names it any more, so that it stays listed as <none>:<none> and is not
// collected.
//
// Preconditions: s.mu is held.
func (s *Service) keepDanglingLocked(ctx context.Context, inf *imageInfo) error {
	all, err := s.entries(ctx)
	if err != nil {
		return err
	}
	if all[inf.ID()] != nil {
		return nil
	}
	return s.addDangling(ctx, inf)
}

// addDangling records the image as untagged.
func (s *Service) addDangling(ctx context.Context, inf *imageInfo) error {
	_, err := s.images.Create(ctx, images.Image{Name: danglingName(inf.ID()), Target: inf.manifestDesc})
	if err != nil && !cerrdefs.IsAlreadyExists(err) {
		return err
	}
	return nil
}
