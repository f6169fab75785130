package container

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"

	"berth/internal/errdefs"
	"berth/internal/image"
)

// CommitOptions are POST /commit's parameters.
type CommitOptions struct {
	Repo, Tag string   // name for the image; "" leaves it untagged
	Comment   string   // -m
	Author    string   // -a
	Changes   []string // --change: Dockerfile instructions
	Pause     bool     // freeze the container while its layer is read
	// Config replaces the container's config as the base of the image's
	// (the request body); what it leaves unset comes from the container.
	Config *container.Config
}

// Commit makes an image of a container's changes, as `docker commit` does,
// and returns its ID ("sha256:…"). A running container is paused while its
// file system is read, unless opts.Pause is false.
func (s *Service) Commit(ctx context.Context, ref string, opts CommitOptions) (string, error) {
	d, err := s.differ()
	if err != nil {
		return "", err
	}
	c, err := s.store.get(ref)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	status, cfg, imageID := c.State.Status, c.Config, c.ImageID
	c.mu.Unlock()
	switch status {
	case container.StateDead:
		return "", errdefs.Conflict(fmt.Errorf("You cannot commit container %s which is Dead", c.ID))
	case container.StateRemoving:
		return "", errdefs.Conflict(fmt.Errorf("You cannot commit container %s which is being removed", c.ID))
	}
	if opts.Pause && status != container.StatePaused {
		// As dockerd: a container that is not running is committed as it is.
		if err := s.Pause(ctx, c.ID); err == nil {
			defer func() {
				logErr(s.log, "unpause after commit", s.Unpause(context.WithoutCancel(ctx), c.ID), "container_id", c.ID)
			}()
		}
	}
	base := opts.Config
	if base == nil {
		base = cfg
	}
	id, err := d.Commit(ctx, c.ID, image.CommitOptions{
		ParentID:        imageID,
		Config:          imageConfig(base),
		ContainerConfig: imageConfig(cfg),
		Changes:         opts.Changes,
		Comment:         opts.Comment,
		Author:          opts.Author,
		CreatedBy:       strings.Join(cfg.Cmd, " "),
		Repo:            opts.Repo,
		Tag:             opts.Tag,
	})
	if err != nil {
		return "", err
	}
	s.publish(c, "commit", map[string]string{"comment": opts.Comment, "imageID": id, "imageRef": familiarRef(opts.Repo, opts.Tag)})
	return id, nil
}

// familiarRef is repo:tag as events name it ("" without a repo).
func familiarRef(repo, tag string) string {
	if repo == "" {
		return ""
	}
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return repo
	}
	if tag != "" {
		if t, err := reference.WithTag(named, tag); err == nil {
			return reference.FamiliarString(t)
		}
	}
	return reference.FamiliarString(reference.TagNameOnly(named))
}

// imageConfig is the part of a container's config an image keeps, copied
// so that the image's changes cannot reach the container's.
func imageConfig(c *container.Config) dockerspec.DockerOCIImageConfig {
	var out dockerspec.DockerOCIImageConfig
	if c == nil {
		return out
	}
	out.User = c.User
	if len(c.ExposedPorts) > 0 {
		out.ExposedPorts = map[string]struct{}{}
		for p := range c.ExposedPorts {
			out.ExposedPorts[p.String()] = struct{}{}
		}
	}
	out.Env = slices.Clone(c.Env)
	out.Entrypoint = slices.Clone(c.Entrypoint)
	out.Cmd = slices.Clone(c.Cmd)
	out.Volumes = maps.Clone(c.Volumes)
	out.WorkingDir = c.WorkingDir
	out.Labels = maps.Clone(c.Labels)
	out.StopSignal = c.StopSignal
	out.ArgsEscaped = c.ArgsEscaped //nolint:staticcheck // kept as dockerd keeps it
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		out.Healthcheck = &h
	}
	out.OnBuild = slices.Clone(c.OnBuild)
	out.Shell = slices.Clone(c.Shell)
	return out
}
