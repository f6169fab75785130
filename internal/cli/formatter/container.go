package formatter

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
)

// Container list formats, as in docker's ps.
const (
	DefaultContainerTableFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
	ContainerQuietFormat        = "{{.ID}}"
)

// ContainerHeader returns the header names of ps's columns.
func ContainerHeader() Header {
	return Header{
		"ID":           "CONTAINER ID",
		"Image":        "IMAGE",
		"Command":      "COMMAND",
		"CreatedAt":    "CREATED AT",
		"RunningFor":   "CREATED",
		"Ports":        "PORTS",
		"State":        "STATE",
		"Status":       "STATUS",
		"Size":         "SIZE",
		"Names":        "NAMES",
		"Labels":       "LABELS",
		"Mounts":       "MOUNTS",
		"LocalVolumes": "LOCAL VOLUMES",
		"Networks":     "NETWORKS",
		"Platform":     "PLATFORM",
	}
}

// ContainerContext is one row of ps; its methods are the template fields.
type ContainerContext struct {
	c     container.Summary
	trunc bool
	now   time.Time
}

// NewContainerContext wraps a container summary; trunc shortens IDs,
// commands and names as ps does without --no-trunc.
func NewContainerContext(c container.Summary, trunc bool, now time.Time) *ContainerContext {
	return &ContainerContext{c: c, trunc: trunc, now: now}
}

// ID is the container ID, 12 characters when truncated.
func (c *ContainerContext) ID() string {
	if c.trunc {
		return TruncateID(c.c.ID)
	}
	return c.c.ID
}

// Names are the container's names without the leading slash; truncated
// output shows only the first name that is not a link.
func (c *ContainerContext) Names() string {
	names := StripNamePrefix(c.c.Names)
	if c.trunc {
		for _, n := range names {
			if !strings.Contains(n, "/") {
				names = []string{n}
				break
			}
		}
	}
	return strings.Join(names, ",")
}

// Image is the image as the user named it; truncated output drops digests
// and shows short IDs.
func (c *ContainerContext) Image() string {
	if c.c.Image == "" {
		return "<no image>"
	}
	if c.trunc {
		if t := TruncateID(c.c.ImageID); t != "" && t == TruncateID(c.c.Image) {
			return t
		}
		if ref, err := reference.ParseNormalizedNamed(c.c.Image); err == nil {
			if nt, ok := ref.(reference.NamedTagged); ok {
				if tagged, err := reference.WithTag(reference.TrimNamed(nt), nt.Tag()); err == nil {
					return reference.FamiliarString(tagged)
				}
			} else {
				return reference.FamiliarString(reference.TrimNamed(ref))
			}
		}
	}
	return c.c.Image
}

// Command is the quoted command line, cut to 20 characters when truncated.
func (c *ContainerContext) Command() string {
	cmd := c.c.Command
	if c.trunc {
		cmd = Ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

// CreatedAt is the creation time in Go's default time format.
func (c *ContainerContext) CreatedAt() string {
	return time.Unix(c.c.Created, 0).String()
}

// RunningFor is the time since creation ("2 minutes ago").
func (c *ContainerContext) RunningFor() string {
	return HumanAgo(c.now, time.Unix(c.c.Created, 0))
}

// Ports lists the port mappings.
func (c *ContainerContext) Ports() string { return DisplayablePorts(c.c.Ports) }

// State is the machine-readable state ("running").
func (c *ContainerContext) State() string { return string(c.c.State) }

// Status is the daemon's human status ("Up 3 seconds").
func (c *ContainerContext) Status() string { return c.c.Status }

// Size is the writable layer's size, with the virtual size when known.
func (c *ContainerContext) Size() string {
	srw := HumanSize(c.c.SizeRw)
	if c.c.SizeRootFs > 0 {
		return fmt.Sprintf("%s (virtual %s)", srw, HumanSize(c.c.SizeRootFs))
	}
	return srw
}

// Labels lists all labels as k=v joined by commas.
func (c *ContainerContext) Labels() string {
	if c.c.Labels == nil {
		return ""
	}
	return joinLabels(c.c.Labels)
}

// Label returns one label's value.
func (c *ContainerContext) Label(name string) string {
	if c.c.Labels == nil {
		return ""
	}
	return c.c.Labels[name]
}

// Mounts lists mount names (volume name or source path).
func (c *ContainerContext) Mounts() string {
	var names []string
	for _, m := range c.c.Mounts {
		n := m.Name
		if n == "" {
			n = m.Source
		}
		if c.trunc {
			n = Ellipsis(n, 15)
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

// LocalVolumes counts mounts of local volumes.
func (c *ContainerContext) LocalVolumes() string {
	n := 0
	for _, m := range c.c.Mounts {
		if m.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

// Networks lists the names of attached networks, sorted.
func (c *ContainerContext) Networks() string {
	if c.c.NetworkSettings == nil {
		return ""
	}
	var names []string
	for n := range c.c.NetworkSettings.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// Platform is the image platform, when the daemon reports it.
func (c *ContainerContext) Platform() string {
	d := c.c.ImageManifestDescriptor
	if d == nil || d.Platform == nil {
		return ""
	}
	p := d.Platform.OS + "/" + d.Platform.Architecture
	if d.Platform.Variant != "" {
		p += "/" + d.Platform.Variant
	}
	return p
}

// MarshalJSON renders every field, as `ps --format json` does.
func (c *ContainerContext) MarshalJSON() ([]byte, error) {
	var platform any
	if p := c.Platform(); p != "" {
		platform = p
	}
	return json.Marshal(map[string]any{
		"Command":      c.Command(),
		"CreatedAt":    c.CreatedAt(),
		"ID":           c.ID(),
		"Image":        c.Image(),
		"Labels":       c.Labels(),
		"LocalVolumes": c.LocalVolumes(),
		"Mounts":       c.Mounts(),
		"Names":        c.Names(),
		"Networks":     c.Networks(),
		"Platform":     platform,
		"Ports":        c.Ports(),
		"RunningFor":   c.RunningFor(),
		"Size":         c.Size(),
		"State":        c.State(),
		"Status":       c.Status(),
	})
}

// ContainerRows wraps summaries for Context.Write.
func ContainerRows(cs []container.Summary, trunc bool, now time.Time) []any {
	rows := make([]any, len(cs))
	for i, c := range cs {
		rows[i] = NewContainerContext(c, trunc, now)
	}
	return rows
}
