// Package volume owns berth's volumes: their records (in berth.db), the
// local driver (a directory under <data-root>/volumes/<name>/_data, or a
// mount of the options' type/device/o), v1 volume plugins (any other
// driver name: plugin.go; listed and inspected through them as dockerd
// does: plugin_list.go), reference counting by containers, removal and
// pruning. Containers reach it through the methods marked
// "container-facing"; the API router through the rest.
//
// References (Reference) live in memory: at start-up the container side
// calls Reference again for every container it restores. Acquisitions
// (Acquire) are kept on disk, so a volume whose device is mounted for a
// live-restored container stays mounted; the container side Releases the
// volumes of containers it finds dead.
package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/volume"
	bolt "go.etcd.io/bbolt"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
	bevents "berth/internal/events"
)

// DefaultDriver is berth's built-in driver; any other driver name is a v1
// volume plugin (plugin.go).
const DefaultDriver = "local"

// AnonymousLabel marks a volume created for a container without a name.
const AnonymousLabel = "com.docker.volume.anonymous"

// trashDir holds volume directories whose removal is under way; its name
// cannot clash with a volume's, which may not start with a dot.
const trashDir = ".trash"

// Config is what the volume service needs.
type Config struct {
	DB     *bolt.DB // berth.db: the service keeps its records in its own buckets
	Root   string   // <data-root>/volumes
	Events *bevents.Bus
	Logger *slog.Logger
	// PluginDirs are searched, in order, for v1 volume plugins' sockets
	// and spec files; empty means DefaultPluginDirs().
	PluginDirs []string
}

// Service manages volumes.
type Service struct {
	cfg    Config
	lookup lookupFunc // resolves nfs/cifs host names
	quota  bool       // whether Root's filesystem enforces sizes (not yet: no quota support)

	mu   sync.Mutex
	recs map[string]*record         // guarded by mu; every volume, including ones being removed
	refs map[string]map[string]bool // guarded by mu; volume → container IDs referencing it

	// pmu is taken after mu when both are held, never the other way round.
	pmu     sync.Mutex
	plugins map[string]*plugin // guarded by pmu; activated volume plugins by name
}

// New opens the volume store under cfg.Root and reconciles it with disk:
// removals a crash interrupted are finished, mounts nobody holds are
// unmounted, and volume directories without a record (a crash between
// creating the directory and the record) are adopted, never deleted.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, lookup: resolveIP, recs: map[string]*record{}, refs: map[string]map[string]bool{}, plugins: map[string]*plugin{}}
	if err := os.MkdirAll(cfg.Root, 0o701); err != nil {
		return nil, fmt.Errorf("volume root: %w", err)
	}
	if err := os.Chmod(cfg.Root, 0o701); err != nil {
		return nil, fmt.Errorf("volume root: %w", err)
	}
	if err := initBucket(cfg.DB); err != nil {
		return nil, fmt.Errorf("init volume store: %w", err)
	}
	recs, err := loadRecords(cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("load volumes: %w", err)
	}
	for name, r := range recs {
		if r.State == stateRemoving {
			if err := s.finishRemove(name); err != nil {
				return nil, fmt.Errorf("finish removing volume %s: %w", name, err)
			}
			cfg.Logger.Info("finished an interrupted volume removal", "volume", name)
			continue
		}
		s.recs[name] = r
		if r.local() && hasDevice(r.Options) && len(r.Holders) == 0 {
			if err := unmountDevice(s.dataPath(name)); err != nil {
				return nil, err
			}
		}
	}
	// Whatever is left in the trash had its record deleted already.
	if err := os.RemoveAll(filepath.Join(cfg.Root, trashDir)); err != nil {
		return nil, fmt.Errorf("empty volume trash: %w", err)
	}
	if err := s.adoptOrphans(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) dataPath(name string) string { return filepath.Join(s.cfg.Root, name, "_data") }

// adoptOrphans gives a record to every <Root>/<name>/_data that has none.
func (s *Service) adoptOrphans() error {
	entries, err := os.ReadDir(s.cfg.Root)
	if err != nil {
		return fmt.Errorf("read volume root: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !validName.MatchString(name) || s.recs[name] != nil {
			continue
		}
		fi, err := os.Stat(s.dataPath(name))
		if err != nil || !fi.IsDir() {
			continue
		}
		r := &record{Name: name, Driver: DefaultDriver, CreatedAt: fi.ModTime().Format(time.RFC3339)}
		if err := putRecord(s.cfg.DB, r); err != nil {
			return fmt.Errorf("adopt volume %s: %w", name, err)
		}
		s.recs[name] = r
		s.cfg.Logger.Info("adopted a volume directory without a record", "volume", name)
	}
	return nil
}

// finishRemove completes a removal: data first (in place or in the trash),
// then the record.
func (s *Service) finishRemove(name string) error {
	dir := filepath.Join(s.cfg.Root, name)
	if err := unmountDevice(filepath.Join(dir, "_data")); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(s.cfg.Root, trashDir, name)); err != nil {
		return err
	}
	return deleteRecord(s.cfg.DB, name)
}

func (s *Service) publish(action events.Action, name, driver string, attrs map[string]string) {
	if s.cfg.Events == nil {
		return
	}
	a := map[string]string{"driver": driver}
	maps.Copy(a, attrs)
	s.cfg.Events.Publish(events.VolumeEventType, action, name, a)
}

// toAPI is the Engine API's view of a record.
func (s *Service) toAPI(r *record) *volume.Volume {
	v := &volume.Volume{
		Name:       r.Name,
		Driver:     r.Driver,
		Mountpoint: s.dataPath(r.Name),
		CreatedAt:  r.CreatedAt,
		Scope:      "local",
		Labels:     maps.Clone(r.Labels),
		Options:    maps.Clone(r.Options),
	}
	if !r.local() {
		v.Mountpoint = r.Mountpoint
		if r.Scope != "" {
			v.Scope = r.Scope
		}
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	return v
}

// checkDriver resolves a driver name: nil for local, or the volume plugin
// of that name; one that cannot be found is dockerd's not-found error.
func (s *Service) checkDriver(ctx context.Context, driver string) (string, *plugin, error) {
	if driver == "" || driver == DefaultDriver {
		return DefaultDriver, nil, nil
	}
	p, err := s.plugin(ctx, driver)
	if err != nil {
		return "", nil, err
	}
	return driver, p, nil
}

// Create makes a volume (a random 64-hex name when name is ""); creating
// an existing local volume with the same options returns it, as dockerd.
func (s *Service) Create(ctx context.Context, name, driver string, opts, labels map[string]string) (*volume.Volume, error) {
	return s.create(ctx, name, driver, opts, labels)
}

// CreateAnonymous is container-facing: it makes a local volume with a
// random name and the label com.docker.volume.anonymous="" (which `rm -v`
// and the default prune go by), referenced by containerID. A volume
// without a name but with a driver or options is Create with that label.
func (s *Service) CreateAnonymous(ctx context.Context, containerID string) (*volume.Volume, error) {
	v, err := s.create(ctx, "", DefaultDriver, nil, map[string]string{AnonymousLabel: ""})
	if err != nil {
		return nil, err
	}
	if err := s.Reference(v.Name, containerID); err != nil {
		return nil, err
	}
	return v, nil
}

func (s *Service) create(ctx context.Context, name, driver string, opts, labels map[string]string) (*volume.Volume, error) {
	asked := driver
	driver, p, err := s.checkDriver(ctx, driver)
	if err != nil {
		return nil, err
	}
	if name == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		name = hex.EncodeToString(b)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if p == nil {
		if err := validateOpts(opts, s.quota); err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.recs[name]; r != nil {
		if r.State == stateRemoving {
			return nil, errdefs.Conflict(fmt.Errorf("create %s: volume is being removed", name))
		}
		if asked != "" && r.Driver != driver {
			return nil, errdefs.Conflict(fmt.Errorf("create %s: driver '%s' already has volume '%s': volume name must be unique", name, r.Driver, name))
		}
		if len(opts) > 0 && !maps.Equal(opts, r.Options) {
			return nil, errdefs.Conflict(fmt.Errorf("create %s: volume name must be unique", name))
		}
		return s.toAPI(r), nil
	}
	if p != nil {
		return s.createPluginLocked(ctx, p, name, opts, labels)
	}
	if err := mkdirData(s.cfg.Root, name); err != nil {
		return nil, err
	}
	r := &record{
		Name:      name,
		Driver:    driver,
		Options:   maps.Clone(opts),
		Labels:    maps.Clone(labels),
		CreatedAt: time.Now().Format(time.RFC3339),
	}
	if err := putRecord(s.cfg.DB, r); err != nil {
		_ = os.RemoveAll(filepath.Join(s.cfg.Root, name))
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	s.recs[name] = r
	s.publish(events.ActionCreate, name, driver, nil)
	return s.toAPI(r), nil
}

// getLocked finds a usable record. Preconditions: s.mu held.
func (s *Service) getLocked(name string) (*record, error) {
	r := s.recs[name]
	if r == nil || r.State == stateRemoving {
		return nil, errdefs.NotFound(fmt.Errorf("get %s: no such volume", name))
	}
	return r, nil
}

// Get finds a volume: errdefs.NotFound("get NAME: no such volume"). A
// plugin's volume is as its plugin describes it (VolumeDriver.Get).
func (s *Service) Get(ctx context.Context, name string) (*volume.Volume, error) {
	s.mu.Lock()
	r, err := s.getLocked(name)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	v, local := s.toAPI(r), r.local()
	s.mu.Unlock()
	if local {
		return v, nil
	}
	return s.resolvePlugin(ctx, v)
}

// usersLocked lists the containers that reference or hold name, sorted.
// Preconditions: s.mu held.
func (s *Service) usersLocked(r *record) []string {
	set := map[string]bool{}
	for id := range s.refs[r.Name] {
		set[id] = true
	}
	for _, id := range r.Holders {
		set[id] = true
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// List answers `volume ls` (filters dangling, driver, label, name):
// berth's local volumes and what every volume plugin lists (see
// ListWarnings).
func (s *Service) List(ctx context.Context, f filters.Args) ([]*volume.Volume, error) {
	vols, warnings, err := s.ListWarnings(ctx, f)
	for _, w := range warnings {
		s.cfg.Logger.Warn("volume list", "warning", w)
	}
	return vols, err
}

// matchName is dockerd's name filter: a substring of the name.
func matchName(vals []string, name string) bool {
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		if strings.Contains(name, v) {
			return true
		}
	}
	return false
}

// Remove deletes a volume; one in use is errdefs.Conflict with dockerd's
// message, even with force (dockerd refuses in-use volumes with force too;
// force only silences "no such volume").
//
// Crash safety: the record is marked removing in one transaction, the
// directory renamed into the trash, deleted, and then the record deleted;
// New finishes any of these steps a crash cut short.
func (s *Service) Remove(ctx context.Context, name string, force bool) error {
	_, err := s.remove(ctx, name, nil)
	if force && errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// remove deletes name unless skip (when given) says to keep it; it returns the
// space the data took.
func (s *Service) remove(ctx context.Context, name string, skip func(*record) bool) (int64, error) {
	s.mu.Lock()
	r := s.recs[name]
	if r == nil || r.State == stateRemoving {
		s.mu.Unlock()
		return 0, errdefs.NotFound(fmt.Errorf("get %s: no such volume", name))
	}
	if skip != nil && skip(r) {
		s.mu.Unlock()
		return 0, errSkipped
	}
	if users := s.usersLocked(r); len(users) > 0 {
		s.mu.Unlock()
		return 0, errdefs.Conflict(fmt.Errorf("remove %s: volume is in use - [%s]", name, strings.Join(users, ", ")))
	}
	if !r.local() {
		defer s.mu.Unlock()
		return 0, s.removePluginLocked(ctx, r)
	}
	dir := filepath.Join(s.cfg.Root, name)
	if err := unmountDevice(filepath.Join(dir, "_data")); err != nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("remove %s: %w", name, err)
	}
	marked := *r
	marked.State = stateRemoving
	if err := putRecord(s.cfg.DB, &marked); err != nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("remove %s: %w", name, err)
	}
	s.recs[name] = &marked
	size, _ := dirSize(dir)
	trash := filepath.Join(s.cfg.Root, trashDir, name)
	err := os.MkdirAll(filepath.Dir(trash), 0o700)
	if err == nil {
		_ = os.RemoveAll(trash)
		err = os.Rename(dir, trash)
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
	}
	if err != nil {
		// Nothing was deleted: the volume stays as it was.
		if perr := putRecord(s.cfg.DB, r); perr == nil {
			s.recs[name] = r
		}
		s.mu.Unlock()
		return 0, fmt.Errorf("remove %s: %w", name, err)
	}
	s.mu.Unlock()
	// The data is out of sight; deleting it may take a while and needs no lock.
	if err := os.RemoveAll(trash); err != nil {
		return 0, fmt.Errorf("remove %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := deleteRecord(s.cfg.DB, name); err != nil {
		return 0, fmt.Errorf("remove %s: %w", name, err)
	}
	delete(s.recs, name)
	delete(s.refs, name)
	s.publish(events.ActionDestroy, name, r.Driver, nil)
	return size, nil
}

var errSkipped = errors.New("skipped")

// Prune removes unused volumes (anonymous only, unless filter all=true).
// Filters: all, label, label! (API 1.42 semantics).
func (s *Service) Prune(ctx context.Context, f filters.Args) (*volume.PruneReport, error) {
	if err := f.Validate("all", "label", "label!"); err != nil {
		return nil, err
	}
	all := false
	for _, v := range f.Get("all") {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("invalid filter 'all=%s': invalid value", v))
		}
		all = b
	}
	skip := func(r *record) bool {
		if _, anon := r.Labels[AnonymousLabel]; !all && !anon {
			return true
		}
		if !f.MatchLabels("label", r.Labels) {
			return true
		}
		for _, l := range f.Get("label!") {
			k, v, hasValue := strings.Cut(l, "=")
			if lv, ok := r.Labels[k]; ok && (!hasValue || lv == v) {
				return true
			}
		}
		return len(s.usersLocked(r)) > 0
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.recs))
	for name := range s.recs {
		names = append(names, name)
	}
	s.mu.Unlock()
	sort.Strings(names)
	rep := &volume.PruneReport{VolumesDeleted: []string{}}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		size, err := s.remove(ctx, name, skip)
		switch {
		case err == nil:
			rep.VolumesDeleted = append(rep.VolumesDeleted, name)
			rep.SpaceReclaimed += uint64(size)
		case errors.Is(err, errSkipped), errdefs.IsNotFound(err), errdefs.IsConflict(err):
		default:
			s.cfg.Logger.Warn("prune: could not remove volume", "volume", name, "error", err)
		}
	}
	s.publish(events.ActionPrune, "", DefaultDriver, map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)})
	return rep, nil
}

// Usage is name's size on disk and the number of containers using it
// (for `system df`); size is -1 when it cannot be measured, as in the
// Engine API's UsageData, and both are 0 for an unknown volume.
func (s *Service) Usage(ctx context.Context, name string) (size int64, refs int) {
	s.mu.Lock()
	r, err := s.getLocked(name)
	if err != nil {
		s.mu.Unlock()
		return 0, 0
	}
	refs = len(s.usersLocked(r))
	local := r.local()
	s.mu.Unlock()
	if !local {
		// A plugin's data is the plugin's: dockerd reports -1 for it too.
		return -1, refs
	}
	size, err = dirSize(s.dataPath(name))
	if err != nil {
		return -1, refs
	}
	return size, refs
}

// Acquire is container-facing: it makes sure volume name is ready to be
// mounted for containerID (mounting the local driver's device if it has
// one), records the reference, and returns the host path to bind-mount.
func (s *Service) Acquire(ctx context.Context, name, containerID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return "", err
	}
	if !r.local() {
		return s.acquirePluginLocked(ctx, r, containerID)
	}
	path := s.dataPath(name)
	if hasDevice(r.Options) && !isMounted(path) {
		if err := os.MkdirAll(path, 0o755); err != nil {
			return "", err
		}
		if err := mountDevice(path, r.Options, s.lookup); err != nil {
			return "", err
		}
	}
	if !r.hasHolder(containerID) {
		next := *r
		next.Holders = append(append([]string(nil), r.Holders...), containerID)
		if err := s.saveHoldersLocked(&next); err != nil {
			if hasDevice(r.Options) && len(r.Holders) == 0 {
				_ = unmountDevice(path)
			}
			return "", fmt.Errorf("acquire volume %s: %w", name, err)
		}
		s.recs[name] = &next
	}
	s.publish(events.ActionMount, name, r.Driver, map[string]string{"container": containerID})
	return path, nil
}

// saveHoldersLocked persists r after its Holders changed, where a restart
// needs them: a volume with a device (mounted while held) or a plugin's
// (to be unmounted through it). A plain directory's holders live in memory
// only; what keeps it from removal across a restart are the references the
// container side restores. So starting a container with plain volumes
// costs no disk write (and no fsync) per volume. Preconditions: s.mu held.
func (s *Service) saveHoldersLocked(r *record) error {
	if r.local() && !hasDevice(r.Options) {
		return nil
	}
	return putRecord(s.cfg.DB, r)
}

// Release is container-facing: containerID no longer has name mounted
// (the device is unmounted when nobody has). Releasing what was not
// acquired is not an error.
func (s *Service) Release(ctx context.Context, name, containerID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return err
	}
	if !r.hasHolder(containerID) {
		return nil
	}
	next := *r
	next.Holders = nil
	for _, h := range r.Holders {
		if h != containerID {
			next.Holders = append(next.Holders, h)
		}
	}
	if !r.local() {
		p, err := s.plugin(ctx, r.Driver)
		if err != nil {
			return fmt.Errorf("release volume %s: %w", name, err)
		}
		if err := p.unmount(ctx, name, containerID); err != nil {
			return fmt.Errorf("release volume %s: %w", name, err)
		}
	} else if hasDevice(r.Options) && len(next.Holders) == 0 {
		if err := unmountDevice(s.dataPath(name)); err != nil {
			return err
		}
	}
	if err := s.saveHoldersLocked(&next); err != nil {
		return fmt.Errorf("release volume %s: %w", name, err)
	}
	s.recs[name] = &next
	s.publish(events.ActionUnmount, name, r.Driver, map[string]string{"container": containerID})
	return nil
}

// Reference is container-facing: containerID uses name (created, not
// necessarily running); Dereference undoes it. A referenced volume cannot
// be removed.
func (s *Service) Reference(name, containerID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.getLocked(name); err != nil {
		return err
	}
	if s.refs[name] == nil {
		s.refs[name] = map[string]bool{}
	}
	s.refs[name][containerID] = true
	return nil
}

// Dereference undoes Reference.
func (s *Service) Dereference(name, containerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refs[name], containerID)
	if len(s.refs[name]) == 0 {
		delete(s.refs, name)
	}
}

// Anonymous reports whether name was created as an anonymous volume (for
// `rm -v`).
func (s *Service) Anonymous(ctx context.Context, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return false
	}
	_, ok := r.Labels[AnonymousLabel]
	return ok
}
