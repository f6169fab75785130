package system

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"

	"berth/internal/api/server"
	"berth/internal/errdefs"
)

// DiskUsageOptions says which kinds of objects GET /system/df measures.
type DiskUsageOptions struct {
	Containers bool
	Images     bool
	Volumes    bool
	BuildCache bool
}

// DiskUsager is what GET /system/df needs from the daemon: the usage of
// the kinds opts asks for, with every item listed (the route drops the
// items when the client did not ask for them).
type DiskUsager interface {
	DiskUsage(ctx context.Context, opts DiskUsageOptions) (*system.DiskUsage, error)
}

func (rt *Router) diskUsage(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	du, ok := rt.b.(DiskUsager)
	if !ok {
		return errdefs.NotImplemented(errors.New("disk usage is not available"))
	}
	q := r.URL.Query()
	var opts DiskUsageOptions
	types := q["type"]
	if len(types) == 0 {
		opts = DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true}
	}
	for _, t := range types {
		switch system.DiskUsageObject(t) {
		case system.ContainerObject:
			opts.Containers = true
		case system.ImageObject:
			opts.Images = true
		case system.VolumeObject:
			opts.Volumes = true
		case system.BuildCacheObject:
			opts.BuildCache = true
		default:
			return errdefs.Invalid(fmt.Errorf("unknown object type: %s", t))
		}
	}
	usage, err := du.DiskUsage(ctx, opts)
	if err != nil {
		return err
	}
	if server.VersionLess(server.VersionFromContext(ctx), "1.52") {
		return server.WriteJSON(w, http.StatusOK, legacyFrom(usage))
	}
	if !server.BoolValue(r, "verbose") {
		if u := usage.ImageUsage; u != nil {
			u.Items = nil
		}
		if u := usage.ContainerUsage; u != nil {
			u.Items = nil
		}
		if u := usage.VolumeUsage; u != nil {
			u.Items = nil
		}
		if u := usage.BuildCacheUsage; u != nil {
			u.Items = nil
		}
	}
	return server.WriteJSON(w, http.StatusOK, usage)
}

// legacyFrom gives du in the shape clients before API 1.52 read. Lists
// that were asked for are present even when empty, as dockerd sends them.
func legacyFrom(du *system.DiskUsage) legacyDiskUsageJSON {
	var out legacyDiskUsageJSON
	if u := du.ImageUsage; u != nil {
		out.LayersSize = u.TotalSize
		out.Images = nonNil(u.Items)
	}
	if u := du.ContainerUsage; u != nil {
		out.Containers = nonNil(u.Items)
	}
	if u := du.VolumeUsage; u != nil {
		out.Volumes = nonNil(u.Items)
	}
	if u := du.BuildCacheUsage; u != nil {
		out.BuildCache = nonNil(u.Items)
	}
	return out
}

// legacyDiskUsageJSON is the answer of GET /system/df before API 1.52:
// plain lists, totals left to the client; kinds not asked for are null.
type legacyDiskUsageJSON struct {
	LayersSize int64               `json:"LayersSize"`
	Images     []image.Summary     `json:"Images"`
	Containers []container.Summary `json:"Containers"`
	Volumes    []volume.Volume     `json:"Volumes"`
	BuildCache []build.CacheRecord `json:"BuildCache"`
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
