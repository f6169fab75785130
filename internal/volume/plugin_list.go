package volume

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/volume"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
)

// Listing and inspecting as dockerd does with plugin drivers: `volume ls`
// asks every volume plugin it can find (VolumeDriver.List) and merges the
// answers with berth's records, which supply labels and options; `volume
// inspect` of a plugin's volume asks its plugin (VolumeDriver.Get).

// pluginCallTimeout bounds one informational call (List, Get) to a plugin,
// so that a plugin that hangs cannot hang `volume ls`.
const pluginCallTimeout = 15 * time.Second

// scanPlugins names the v1 plugins in dirs as dockerd's plugin scan does:
// NAME.sock, NAME.spec and NAME.json files and NAME/ directories holding
// one of them. Names appear once, in order of discovery.
func scanPlugins(dirs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // a missing directory holds no plugins
		}
		for _, e := range entries {
			name := e.Name()
			if !e.IsDir() {
				base, ext, ok := strings.Cut(name, ".")
				if !ok || (ext != "sock" && ext != "spec" && ext != "json") {
					continue
				}
				name = base
			}
			if name == "" || seen[name] {
				continue
			}
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// listing is what the plugins asked by a List answered.
type listing struct {
	vols     map[string][]*pluginVolume // driver → its volumes
	scopes   map[string]string          // driver → scope
	failed   map[string]bool            // drivers that could not answer
	warnings []string
}

// listPlugins asks each driver in names for its volumes, concurrently.
// A driver berth has records of (known) that fails is a warning, and its
// records are listed as they are; any other name that is not an active
// volume plugin (a dead socket, another kind of plugin) is left out.
func (s *Service) listPlugins(ctx context.Context, names []string, known map[string]bool) listing {
	out := listing{vols: map[string][]*pluginVolume{}, scopes: map[string]string{}, failed: map[string]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, pluginCallTimeout)
			defer cancel()
			p, err := s.plugin(ctx, name)
			var vols []*pluginVolume
			if err == nil {
				vols, err = p.list(ctx)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				out.vols[name], out.scopes[name] = vols, p.scope
			case known[name]:
				out.failed[name] = true
				out.warnings = append(out.warnings, fmt.Sprintf("list %s: %v", name, err))
			default:
				s.cfg.Logger.Debug("not listing a plugin", "plugin", name, "error", err)
			}
		})
	}
	wg.Wait()
	sort.Strings(out.warnings)
	return out
}

// ListWarnings is List with dockerd's warnings: one per volume driver
// that could not list its volumes.
func (s *Service) ListWarnings(ctx context.Context, f filters.Args) ([]*volume.Volume, []string, error) {
	if err := f.Validate("dangling", "driver", "label", "name"); err != nil {
		return nil, nil, err
	}
	var dangling *bool
	for _, v := range f.Get("dangling") {
		var b bool
		switch strings.ToLower(v) {
		case "true", "1":
			b = true
		case "false", "0":
		default:
			return nil, nil, errdefs.Invalid(fmt.Errorf("invalid filter 'dangling=%s'", v))
		}
		dangling = &b
	}
	// The drivers to ask: those of berth's plugin volumes and every plugin
	// in the plugin directories, or only the ones a driver filter names.
	wanted := f.Get("driver")
	want := func(d string) bool { return len(wanted) == 0 || slices.Contains(wanted, d) }
	known := map[string]bool{}
	s.mu.Lock()
	for _, r := range s.recs {
		if !r.local() && want(r.Driver) {
			known[r.Driver] = true
		}
	}
	s.mu.Unlock()
	names := slices.Sorted(maps.Keys(known))
	for _, n := range scanPlugins(s.pluginDirs()) {
		if n != DefaultDriver && !known[n] && want(n) {
			names = append(names, n)
		}
	}
	var ls listing
	if len(names) > 0 {
		ls = s.listPlugins(ctx, names, known)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*volume.Volume{}
	keep := func(v *volume.Volume, users int) {
		if dangling != nil && (users == 0) != *dangling {
			return
		}
		if !f.ExactMatch("driver", v.Driver) || !f.MatchLabels("label", v.Labels) || !matchName(f.Get("name"), v.Name) {
			return
		}
		out = append(out, v)
	}
	for _, r := range s.recs {
		// A plugin's volumes are what its List says, as in dockerd; berth's
		// records stand in for a plugin that cannot answer.
		if r.State == stateRemoving || (!r.local() && !ls.failed[r.Driver]) {
			continue
		}
		keep(s.toAPI(r), len(s.usersLocked(r)))
	}
	seen := map[string]bool{}
	for _, driver := range slices.Sorted(maps.Keys(ls.vols)) {
		for _, pv := range ls.vols[driver] {
			if pv == nil || pv.Name == "" || seen[pv.Name] {
				continue
			}
			seen[pv.Name] = true
			r := s.recs[pv.Name]
			if r != nil && (r.State == stateRemoving || r.Driver != driver) {
				// The name is another driver's volume (or going away).
				s.cfg.Logger.Debug("plugin lists a volume berth knows under another driver", "plugin", driver, "volume", pv.Name)
				continue
			}
			var v *volume.Volume
			users := 0
			if r != nil {
				v, users = s.toAPI(r), len(s.usersLocked(r))
			} else {
				v = &volume.Volume{Name: pv.Name, Driver: driver, Scope: ls.scopes[driver], CreatedAt: time.Time{}.Format(time.RFC3339), Labels: map[string]string{}, Options: map[string]string{}}
				if pv.CreatedAt != "" {
					v.CreatedAt = pv.CreatedAt
				}
			}
			if pv.Mountpoint != "" {
				v.Mountpoint = pv.Mountpoint
			}
			keep(v, users)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, ls.warnings, nil
}

// pluginDirs are the directories searched for v1 plugins.
func (s *Service) pluginDirs() []string {
	if len(s.cfg.PluginDirs) > 0 {
		return s.cfg.PluginDirs
	}
	return DefaultPluginDirs()
}

// resolvePlugin completes v, a plugin volume's record as the API shows it,
// with its plugin's answer to VolumeDriver.Get: mount point (from
// VolumeDriver.Path when Get has none), creation time and status. A plugin
// that cannot be reached is an error; one that does not know the volume
// makes it not found, as in dockerd.
func (s *Service) resolvePlugin(ctx context.Context, v *volume.Volume) (*volume.Volume, error) {
	ctx, cancel := context.WithTimeout(ctx, pluginCallTimeout)
	defer cancel()
	p, err := s.plugin(ctx, v.Driver)
	if err != nil {
		return nil, fmt.Errorf("error while checking if volume %q exists in driver %q: %w", v.Name, v.Driver, err)
	}
	pv, err := p.get(ctx, v.Name)
	if err != nil {
		if ne := net.Error(nil); errors.As(err, &ne) {
			return nil, fmt.Errorf("error while checking if volume %q exists in driver %q: %w", v.Name, v.Driver, err)
		}
		s.cfg.Logger.Debug("volume plugin does not know a volume", "plugin", v.Driver, "volume", v.Name, "error", err)
		return nil, errdefs.NotFound(fmt.Errorf("get %s: no such volume", v.Name))
	}
	v.Scope = p.scope
	if pv.CreatedAt != "" {
		v.CreatedAt = pv.CreatedAt
	}
	v.Status = pv.Status
	v.Mountpoint = pv.Mountpoint
	if v.Mountpoint == "" {
		if mp, err := p.path(ctx, v.Name); err == nil {
			v.Mountpoint = mp
		}
	}
	return v, nil
}

// Inspect answers `volume inspect`: Get, and for a name berth has no
// record of, the first volume plugin that knows it (VolumeDriver.Get), as
// dockerd asks every driver. Containers use Get, which never adopts a
// plugin's volume by name.
func (s *Service) Inspect(ctx context.Context, name string) (*volume.Volume, error) {
	v, err := s.Get(ctx, name)
	if !errdefs.IsNotFound(err) {
		return v, err
	}
	s.mu.Lock()
	_, hasRecord := s.recs[name]
	s.mu.Unlock()
	if hasRecord {
		return nil, err
	}
	for _, driver := range scanPlugins(s.pluginDirs()) {
		if driver == DefaultDriver {
			continue
		}
		pv, perr := s.resolvePlugin(ctx, &volume.Volume{Name: name, Driver: driver, CreatedAt: time.Time{}.Format(time.RFC3339), Labels: map[string]string{}, Options: map[string]string{}})
		if perr == nil {
			return pv, nil
		}
	}
	return nil, err
}
