package formatter

import (
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"github.com/distribution/reference"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
)

// Image list formats, as in docker's classic `images` table.
const (
	DefaultImageTableFormat           = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	DefaultImageTableFormatWithDigest = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	ImageQuietFormat                  = "{{.ID}}"
)

// ImageHeader returns the header names of the images table.
func ImageHeader() Header {
	return Header{
		"ID":           "IMAGE ID",
		"Repository":   "REPOSITORY",
		"Tag":          "TAG",
		"Digest":       "DIGEST",
		"CreatedSince": "CREATED",
		"CreatedAt":    "CREATED AT",
		"Size":         "SIZE",
		"Containers":   "CONTAINERS",
		"VirtualSize":  "VIRTUAL SIZE",
		"SharedSize":   "SHARED SIZE",
		"UniqueSize":   "UNIQUE SIZE",
	}
}

// ImageContext is one row of `images`: one repository:tag (or digest) of
// an image.
type ImageContext struct {
	i      image.Summary
	repo   string
	tag    string
	digest string
	trunc  bool
	now    time.Time
}

// ID is the image ID, 12 hex characters when truncated.
func (c *ImageContext) ID() string {
	if c.trunc {
		return TruncateID(c.i.ID)
	}
	return c.i.ID
}

// Repository is the familiar repository name or "<none>".
func (c *ImageContext) Repository() string { return c.repo }

// Tag is the tag or "<none>".
func (c *ImageContext) Tag() string { return c.tag }

// Digest is the repository digest or "<none>".
func (c *ImageContext) Digest() string { return c.digest }

// CreatedSince is the time since creation ("2 weeks ago").
func (c *ImageContext) CreatedSince() string {
	return HumanAgo(c.now, time.Unix(c.i.Created, 0))
}

// CreatedAt is the creation time in Go's default time format.
func (c *ImageContext) CreatedAt() string { return time.Unix(c.i.Created, 0).String() }

// Size is the image size ("4.26MB").
func (c *ImageContext) Size() string { return HumanSize(c.i.Size) }

// VirtualSize equals Size since API 1.44 (docker renders it with four
// significant digits).
func (c *ImageContext) VirtualSize() string { return units.HumanSize(float64(c.i.Size)) }

// Containers counts containers using the image, or "N/A".
func (c *ImageContext) Containers() string {
	if c.i.Containers == -1 {
		return "N/A"
	}
	return strconv.FormatInt(c.i.Containers, 10)
}

// SharedSize is the size shared with other images, or "N/A".
func (c *ImageContext) SharedSize() string {
	if c.i.SharedSize == -1 {
		return "N/A"
	}
	return HumanSize(c.i.SharedSize)
}

// UniqueSize is Size minus SharedSize, or "N/A".
func (c *ImageContext) UniqueSize() string {
	if c.i.SharedSize == -1 {
		return "N/A"
	}
	return HumanSize(c.i.Size - c.i.SharedSize)
}

// Labels lists the image's labels.
func (c *ImageContext) Labels() string { return joinLabels(c.i.Labels) }

// Label returns one label's value.
func (c *ImageContext) Label(name string) string { return c.i.Labels[name] }

// MarshalJSON renders every field, as `images --format json` does.
func (c *ImageContext) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Containers":   c.Containers(),
		"CreatedAt":    c.CreatedAt(),
		"CreatedSince": c.CreatedSince(),
		"Digest":       c.Digest(),
		"ID":           c.ID(),
		"Repository":   c.Repository(),
		"SharedSize":   c.SharedSize(),
		"Size":         c.Size(),
		"Tag":          c.Tag(),
		"UniqueSize":   c.UniqueSize(),
		"VirtualSize":  c.VirtualSize(),
	})
}

// ImageRows expands images into rows: one per repository:tag, with
// digest-only references on rows of their own; dangling images become a
// single <none>:<none> row. Repositories are listed in name order.
func ImageRows(images []image.Summary, trunc, digests bool, now time.Time) []any {
	var rows []any
	for _, img := range images {
		if isDangling(img) {
			rows = append(rows, &ImageContext{i: img, repo: "<none>", tag: "<none>", digest: "<none>", trunc: trunc, now: now})
			continue
		}
		repoTags := map[string][]string{}
		repoDigests := map[string][]string{}
		for _, s := range img.RepoTags {
			ref, err := reference.ParseNormalizedNamed(s)
			if err != nil {
				continue
			}
			if nt, ok := ref.(reference.NamedTagged); ok {
				n := reference.FamiliarName(ref)
				repoTags[n] = append(repoTags[n], nt.Tag())
			}
		}
		for _, s := range img.RepoDigests {
			ref, err := reference.ParseNormalizedNamed(s)
			if err != nil {
				continue
			}
			if cn, ok := ref.(reference.Canonical); ok {
				n := reference.FamiliarName(ref)
				repoDigests[n] = append(repoDigests[n], cn.Digest().String())
			}
		}
		add := func(repo, tag, dgst string) {
			rows = append(rows, &ImageContext{i: img, repo: repo, tag: tag, digest: dgst, trunc: trunc, now: now})
		}
		for _, repo := range sortedKeys(repoTags) {
			ds := repoDigests[repo]
			delete(repoDigests, repo)
			if !digests {
				ds = nil
			}
			for _, tag := range repoTags[repo] {
				if len(ds) == 0 {
					add(repo, tag, "<none>")
					continue
				}
				for _, d := range ds {
					add(repo, tag, d)
				}
			}
		}
		for _, repo := range sortedKeys(repoDigests) {
			if digests {
				for _, d := range repoDigests[repo] {
					add(repo, "<none>", d)
				}
			} else {
				add(repo, "<none>", "")
			}
		}
	}
	return rows
}

func isDangling(img image.Summary) bool {
	if len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 {
		return true
	}
	return len(img.RepoTags) == 1 && img.RepoTags[0] == "<none>:<none>" &&
		len(img.RepoDigests) == 1 && img.RepoDigests[0] == "<none>@<none>"
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
