package formatter

import (
	"encoding/json"
	"strconv"

	"github.com/moby/moby/api/types/volume"
)

// Volume list formats, as in docker's volume ls.
const (
	DefaultVolumeTableFormat = "table {{.Driver}}\t{{.Name}}"
	VolumeQuietFormat        = "{{.Name}}"
)

// VolumeHeader returns the header names of the volumes table.
func VolumeHeader() Header {
	return Header{
		"Name":       "VOLUME NAME",
		"Driver":     "DRIVER",
		"Scope":      "SCOPE",
		"Mountpoint": "MOUNTPOINT",
		"Labels":     "LABELS",
		"Links":      "LINKS",
		"Size":       "SIZE",
	}
}

// VolumeContext is one row of `volume ls`.
type VolumeContext struct{ v volume.Volume }

// Name is the volume name.
func (c *VolumeContext) Name() string { return c.v.Name }

// Driver is the volume driver.
func (c *VolumeContext) Driver() string { return c.v.Driver }

// Scope is local or global.
func (c *VolumeContext) Scope() string { return c.v.Scope }

// Mountpoint is the path on the host.
func (c *VolumeContext) Mountpoint() string { return c.v.Mountpoint }

// Labels lists the labels.
func (c *VolumeContext) Labels() string { return joinLabels(c.v.Labels) }

// Label returns one label's value.
func (c *VolumeContext) Label(name string) string { return c.v.Labels[name] }

// Links counts containers using the volume, or "N/A".
func (c *VolumeContext) Links() string {
	if c.v.UsageData == nil {
		return "N/A"
	}
	return strconv.FormatInt(c.v.UsageData.RefCount, 10)
}

// Size is the volume's disk usage, or "N/A".
func (c *VolumeContext) Size() string {
	if c.v.UsageData == nil {
		return "N/A"
	}
	return HumanSize(c.v.UsageData.Size)
}

// MarshalJSON renders every field.
func (c *VolumeContext) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Driver":     c.Driver(),
		"Labels":     c.Labels(),
		"Links":      c.Links(),
		"Mountpoint": c.Mountpoint(),
		"Name":       c.Name(),
		"Scope":      c.Scope(),
		"Size":       c.Size(),
	})
}

// VolumeRows wraps volumes for Context.Write.
func VolumeRows(vs []volume.Volume) []any {
	rows := make([]any, len(vs))
	for i, v := range vs {
		rows[i] = &VolumeContext{v: v}
	}
	return rows
}
