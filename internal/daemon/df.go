package daemon

import (
	"context"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"

	"berth/internal/api/filters"
	sysrouter "berth/internal/api/router/system"
	ctr "berth/internal/container"
	volsvc "berth/internal/volume"
)

// DiskUsage answers GET /system/df (the system router finds it on the
// daemon): it asks the image, container and volume services for what
// they hold and totals it as dockerd does. berth has no build cache.
func (d *Daemon) DiskUsage(ctx context.Context, opts sysrouter.DiskUsageOptions) (*system.DiskUsage, error) {
	var du system.DiskUsage
	var list []container.Summary
	if opts.Images || opts.Containers {
		// Listed once: sized here in one go (image.RootfsSizes) rather than
		// container by container, and counted per image for the images.
		var err error
		if list, err = d.containers.List(ctx, ctr.ListOptions{All: true}); err != nil {
			return nil, err
		}
	}
	if opts.Images {
		inUse := map[string]int{}
		for _, c := range list {
			inUse[c.ImageID]++
		}
		layers, imgs, err := d.images.DiskUsage(ctx, inUse)
		if err != nil {
			return nil, err
		}
		du.ImageUsage = imageUsage(layers, imgs)
	}
	if opts.Containers {
		ids := make(map[string]string, len(list))
		for _, c := range list {
			ids[c.ID] = c.ImageID
		}
		sizes, err := d.images.RootfsSizes(ctx, ids)
		if err != nil {
			return nil, err
		}
		for i := range list {
			if sz, ok := sizes[list[i].ID]; ok {
				list[i].SizeRw, list[i].SizeRootFs = sz.RW, sz.Virtual
			}
		}
		du.ContainerUsage = containerUsage(list)
	}
	if opts.Volumes {
		// Local volumes only, as dockerd's LocalVolumesSize: sizing a
		// plugin's volumes would mean asking (and waiting for) the plugin.
		vols, err := d.volumes.List(ctx, filters.Args{"driver": {volsvc.DefaultDriver}})
		if err != nil {
			return nil, err
		}
		items := make([]volume.Volume, 0, len(vols))
		for _, v := range vols {
			size, refs := d.volumes.Usage(ctx, v.Name)
			v.UsageData = &volume.UsageData{Size: size, RefCount: int64(refs)}
			items = append(items, *v)
		}
		du.VolumeUsage = volumeUsage(items)
	}
	if opts.BuildCache {
		du.BuildCacheUsage = &build.DiskUsage{Items: []build.CacheRecord{}}
	}
	return &du, nil
}

// imageUsage totals images: layersSize is the space all of them take; an
// image no container uses could free what it does not share.
func imageUsage(layersSize int64, items []imagetypes.Summary) *imagetypes.DiskUsage {
	u := &imagetypes.DiskUsage{TotalSize: layersSize, TotalCount: int64(len(items)), Items: items}
	for _, img := range items {
		if img.Containers > 0 {
			u.ActiveCount++
			continue
		}
		u.Reclaimable += img.Size - img.SharedSize
	}
	return u
}

// containerUsage totals writable layers; those of containers that are not
// running could be freed.
func containerUsage(items []container.Summary) *container.DiskUsage {
	u := &container.DiskUsage{TotalCount: int64(len(items)), Items: items}
	var used int64
	for _, c := range items {
		u.TotalSize += c.SizeRw
		switch c.State {
		case container.StateRunning, container.StatePaused, container.StateRestarting:
			u.ActiveCount++
			used += c.SizeRw
		}
	}
	u.Reclaimable = u.TotalSize - used
	return u
}

// volumeUsage totals volumes; those no container references could be
// freed. A size of -1 (not measurable) counts as nothing.
func volumeUsage(items []volume.Volume) *volume.DiskUsage {
	u := &volume.DiskUsage{TotalCount: int64(len(items)), Items: items}
	var used int64
	for _, v := range items {
		if v.UsageData == nil {
			continue
		}
		if v.UsageData.Size > 0 {
			u.TotalSize += v.UsageData.Size
		}
		if v.UsageData.RefCount > 0 {
			u.ActiveCount++
			if v.UsageData.Size > 0 {
				used += v.UsageData.Size
			}
		}
	}
	u.Reclaimable = u.TotalSize - used
	return u
}
