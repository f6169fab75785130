package container

// Container mounts: -v (HostConfig.Binds), --mount (HostConfig.Mounts),
// --tmpfs (HostConfig.Tmpfs, mounted by the runtime package itself),
// --volumes-from and the image's VOLUMEs, resolved at create into the
// container's MountPoints, mounted at start, released at exit and
// dropped at removal, as dockerd 28 (API 1.50) does.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"berth/internal/errdefs"
	"berth/internal/runtime"
)

// Volumes is what containers need from the volume service.
type Volumes interface {
	Create(ctx context.Context, name, driver string, opts, labels map[string]string) (*volume.Volume, error)
	// CreateAnonymous makes a volume with a generated name, marked
	// anonymous (so `rm -v` removes it), referenced by containerID.
	CreateAnonymous(ctx context.Context, containerID string) (*volume.Volume, error)
	Get(ctx context.Context, name string) (*volume.Volume, error)
	Remove(ctx context.Context, name string, force bool) error
	Acquire(ctx context.Context, name, containerID string) (string, error)
	Release(ctx context.Context, name, containerID string) error
	Reference(name, containerID string) error
	Dereference(name, containerID string)
	Anonymous(ctx context.Context, name string) bool
}

// MountPoint is one resolved mount of a container, persisted with it.
type MountPoint struct {
	Type        mount.Type        `json:"type"`
	Name        string            `json:"name,omitempty"`   // volume name ("" until an anonymous one is made)
	Source      string            `json:"source,omitempty"` // host path (bind) or the volume's mount point
	Destination string            `json:"destination"`
	Driver      string            `json:"driver,omitempty"`
	Mode        string            `json:"mode,omitempty"` // the user's -v options, as inspect shows them
	RW          bool              `json:"rw"`
	Propagation mount.Propagation `json:"propagation,omitempty"`
	// CopyUp: the image's content at Destination is still to be copied
	// into the volume (on the first start, if the volume is empty).
	CopyUp       bool `json:"copy_up,omitempty"`
	NonRecursive bool `json:"non_recursive,omitempty"` // bind-recursive=disabled
	// ReadOnlyNonRecursive (bind-recursive=writable): submounts of a
	// read-only bind stay writable. ReadOnlyForceRecursive
	// (bind-recursive=readonly): they are made read-only too, or the start
	// fails. Neither: read-only too where the kernel can.
	ReadOnlyNonRecursive   bool `json:"ro_non_recursive,omitempty"`
	ReadOnlyForceRecursive bool `json:"ro_force_recursive,omitempty"`
	// ExplicitPropagation: the user chose Propagation (a bind in the data
	// root otherwise defaults to rslave, and falls back to private).
	ExplicitPropagation bool              `json:"explicit_propagation,omitempty"`
	CreateSource        bool              `json:"create_source,omitempty"` // -v: a missing bind source is made at start
	TmpfsOptions        []string          `json:"tmpfs_options,omitempty"` // size=…, mode=…
	VolumeOpts          map[string]string `json:"-"`                       // driver options to create a missing volume with

	created bool // this create made the volume (undone if the create fails)
}

// Docker's fixed texts.
var (
	volumeNameRE      = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
	errTargetIsRoot   = errors.New("invalid specification: destination can't be '/'")
	validPropagations = map[mount.Propagation]bool{
		mount.PropagationPrivate: true, mount.PropagationRPrivate: true,
		mount.PropagationShared: true, mount.PropagationRShared: true,
		mount.PropagationSlave: true, mount.PropagationRSlave: true,
	}
)

type mountConfigError struct {
	typ mount.Type
	err error
}

func (e mountConfigError) Error() string {
	return fmt.Sprintf("invalid mount config for type %q: %v", e.typ, e.err)
}

func invalidSpec(raw string) error {
	return errdefs.Invalid(fmt.Errorf("invalid volume specification: '%s'", raw))
}

func checkTarget(typ mount.Type, target string) error {
	switch {
	case target == "":
		return mountConfigError{typ, errors.New("field Target must not be empty")}
	case target == "/":
		return mountConfigError{typ, errTargetIsRoot}
	case !path.IsAbs(target):
		return mountConfigError{typ, fmt.Errorf("invalid mount path: '%s' mount path must be absolute", target)}
	}
	return nil
}

// validVolumeName is the local driver's rule, with dockerd's messages.
func validVolumeName(name string) error {
	if len(name) == 1 {
		return errdefs.Invalid(fmt.Errorf("create %s: volume name is too short, names should be at least two alphanumeric characters", name))
	}
	if !volumeNameRE.MatchString(name) {
		return errdefs.Invalid(fmt.Errorf("create %s: %q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path", name, name, "[a-zA-Z0-9][a-zA-Z0-9_.-]"))
	}
	return nil
}

// parseMode checks a -v mode string as dockerd's linux parser does: a
// comma list with at most one of each kind.
func parseMode(mode string) (rw, copyData bool, prop mount.Propagation, ok bool) {
	rw, copyData = true, true
	if mode == "" {
		return rw, copyData, "", true
	}
	seen := map[string]bool{}
	for _, o := range strings.Split(mode, ",") {
		var kind string
		switch {
		case o == "rw" || o == "ro":
			kind, rw = "rw", o == "rw"
		case o == "z" || o == "Z":
			kind = "label"
		case validPropagations[mount.Propagation(o)]:
			kind, prop = "prop", mount.Propagation(o)
		case o == "nocopy":
			kind, copyData = "copy", false
		case o == "consistent" || o == "cached" || o == "delegated":
			kind = "consistency"
		default:
			return rw, copyData, prop, false
		}
		if seen[kind] {
			return rw, copyData, prop, false
		}
		seen[kind] = true
	}
	return rw, copyData, prop, true
}

// parseBind parses one HostConfig.Binds entry (`-v`).
func parseBind(raw string) (MountPoint, error) {
	if strings.Count(raw, ":") > 2 {
		return MountPoint{}, invalidSpec(raw)
	}
	arr := strings.SplitN(raw, ":", 3)
	if arr[0] == "" {
		return MountPoint{}, invalidSpec(raw)
	}
	var src, dst, mode string
	switch len(arr) {
	case 1:
		dst = arr[0]
	case 2:
		if _, _, _, ok := parseMode(arr[1]); ok && arr[1] != "" {
			return MountPoint{}, invalidSpec(raw)
		}
		src, dst = arr[0], arr[1]
	default:
		src, dst, mode = arr[0], arr[1], arr[2]
	}
	rw, copyData, prop, ok := parseMode(mode)
	if !ok {
		return MountPoint{}, errdefs.Invalid(fmt.Errorf("invalid mode: %s", mode))
	}
	mp := MountPoint{Destination: dst, RW: rw, Mode: mode}
	if path.IsAbs(src) {
		mp.Type, mp.Source, mp.CreateSource = mount.TypeBind, path.Clean(src), true
		mp.Propagation, mp.ExplicitPropagation = prop, prop != ""
		if mp.Propagation == "" {
			mp.Propagation = mount.PropagationRPrivate
		}
	} else {
		if prop != "" {
			// dockerd turns the mode into BindOptions, which a volume refuses.
			return MountPoint{}, errdefs.Invalid(fmt.Errorf("invalid volume specification: '%s': %w", raw, mountConfigError{mount.TypeVolume, errors.New("field BindOptions must not be specified")}))
		}
		mp.Type, mp.Name, mp.CopyUp = mount.TypeVolume, src, copyData
		if src != "" && mode == "" {
			mp.Mode = "z" // dockerd's default label mode for named volumes
		}
	}
	if err := checkTarget(mp.Type, dst); err != nil {
		return MountPoint{}, errdefs.Invalid(fmt.Errorf("invalid volume specification: '%s': %w", raw, err))
	}
	if mp.Type == mount.TypeVolume && mp.Name != "" {
		if err := validVolumeName(mp.Name); err != nil {
			return MountPoint{}, err
		}
	}
	mp.Destination = path.Clean(dst)
	return mp, nil
}

// parseMount checks one HostConfig.Mounts entry (`--mount`).
func parseMount(m mount.Mount) (MountPoint, error) {
	fail := func(err error) (MountPoint, error) {
		return MountPoint{}, errdefs.Invalid(mountConfigError{m.Type, err})
	}
	if err := checkTarget(m.Type, m.Target); err != nil {
		return MountPoint{}, errdefs.Invalid(err)
	}
	mp := MountPoint{Type: m.Type, Destination: path.Clean(m.Target), RW: !m.ReadOnly}
	switch m.Type {
	case mount.TypeBind:
		if m.Source == "" {
			return fail(errors.New("field Source must not be empty"))
		}
		if m.VolumeOptions != nil {
			return fail(errors.New("field VolumeOptions must not be specified"))
		}
		if m.TmpfsOptions != nil {
			return fail(errors.New("field TmpfsOptions must not be specified"))
		}
		mp.Propagation = mount.PropagationRPrivate
		if o := m.BindOptions; o != nil {
			if o.Propagation != "" {
				if !validPropagations[o.Propagation] {
					return fail(fmt.Errorf("invalid propagation mode: %s", o.Propagation))
				}
				mp.Propagation, mp.ExplicitPropagation = o.Propagation, true
			}
			mp.NonRecursive = o.NonRecursive
			mp.ReadOnlyNonRecursive, mp.ReadOnlyForceRecursive = o.ReadOnlyNonRecursive, o.ReadOnlyForceRecursive
			mp.CreateSource = o.CreateMountpoint
		}
		if !path.IsAbs(m.Source) {
			return fail(fmt.Errorf("invalid mount path: '%s' mount path must be absolute", m.Source))
		}
		mp.Source = path.Clean(m.Source)
		if _, err := os.Stat(mp.Source); err != nil && !mp.CreateSource {
			if errors.Is(err, os.ErrNotExist) {
				return fail(fmt.Errorf("bind source path does not exist: %s", m.Source))
			}
			return fail(err)
		}
	case mount.TypeVolume:
		if m.BindOptions != nil {
			return fail(errors.New("field BindOptions must not be specified"))
		}
		if m.TmpfsOptions != nil {
			return fail(errors.New("field TmpfsOptions must not be specified"))
		}
		if m.ReadOnly && m.Source == "" {
			return fail(errors.New("must not set ReadOnly mode when using anonymous volumes"))
		}
		mp.Name, mp.CopyUp = m.Source, true
		if o := m.VolumeOptions; o != nil {
			if o.Subpath != "" {
				return MountPoint{}, errdefs.NotImplemented(errors.New("volume subpaths are not supported"))
			}
			mp.CopyUp = !o.NoCopy
			if o.DriverConfig != nil {
				mp.Driver, mp.VolumeOpts = o.DriverConfig.Name, o.DriverConfig.Options
			}
		}
		if mp.Name != "" {
			if err := validVolumeName(mp.Name); err != nil {
				return MountPoint{}, err
			}
		}
	case mount.TypeTmpfs:
		if m.BindOptions != nil {
			return fail(errors.New("field BindOptions must not be specified"))
		}
		if m.VolumeOptions != nil {
			return fail(errors.New("field VolumeOptions must not be specified"))
		}
		if m.Source != "" {
			return fail(errors.New("field Source must not be specified"))
		}
		opts, err := tmpfsOptions(m.TmpfsOptions)
		if err != nil {
			return fail(err)
		}
		mp.TmpfsOptions = opts
	default:
		return fail(errors.New("mount type unknown"))
	}
	return mp, nil
}

// tmpfsOptions writes --mount's tmpfs-size and tmpfs-mode as mount data,
// the size in the largest unit that divides it (dockerd's form).
func tmpfsOptions(o *mount.TmpfsOptions) ([]string, error) {
	if o == nil {
		return nil, nil
	}
	var out []string
	if o.SizeBytes < 0 {
		return nil, errors.New("invalid tmpfs size")
	}
	if size := o.SizeBytes; size != 0 {
		suffix := ""
		for _, u := range []struct {
			s string
			d int64
		}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
			if size%u.d == 0 {
				size, suffix = size/u.d, u.s
				break
			}
		}
		out = append(out, fmt.Sprintf("size=%d%s", size, suffix))
	}
	if o.Mode != 0 {
		out = append(out, fmt.Sprintf("mode=%o", o.Mode))
	}
	for _, kv := range o.Options {
		out = append(out, strings.Join(kv, "="))
	}
	return out, nil
}

// planMounts resolves every mount of c without side effects: -v,
// --mount, --volumes-from, then the image's and -v's anonymous
// volumes where nothing else is mounted, as dockerd's
// registerMountPoints and createContainerOSSpecificSettings do. Volumes
// still to be made carry no Source yet.
func (s *Service) planMounts(c *Container) ([]MountPoint, error) {
	hc := c.HostConfig
	byDest := map[string]int{}
	var out []MountPoint
	tmpfs := map[string]bool{}
	for d := range hc.Tmpfs {
		// dockerd checks --tmpfs targets on their own: its words come
		// without --mount's preamble.
		if err := checkTarget(mount.TypeTmpfs, d); err != nil {
			var mc mountConfigError
			if errors.As(err, &mc) {
				err = mc.err
			}
			return nil, errdefs.Invalid(err)
		}
		tmpfs[path.Clean(d)] = true
	}
	dup := func(dest string) error { return errdefs.Invalid(fmt.Errorf("Duplicate mount point: %s", dest)) }

	// --volumes-from first: -v and --mount replace what they bring.
	for _, ref := range hc.VolumesFrom {
		name, mode, _ := strings.Cut(ref, ":")
		// Propagation and copy modes are the original mount's to choose.
		rw, _, prop, ok := parseMode(mode)
		if !ok || prop != "" || strings.Contains(","+mode+",", ",nocopy,") {
			return nil, errdefs.Invalid(fmt.Errorf("invalid mode: %s", mode))
		}
		other, err := s.store.get(name)
		if err != nil {
			return nil, err
		}
		other.mu.Lock()
		mps := append([]MountPoint(nil), other.MountPoints...)
		other.mu.Unlock()
		for _, mp := range mps {
			mp.CopyUp = false
			mp.created = false
			mp.RW = mp.RW && rw
			if i, ok := byDest[mp.Destination]; ok {
				out[i] = mp
				continue
			}
			byDest[mp.Destination] = len(out)
			out = append(out, mp)
		}
	}
	fromVolumesFrom := len(out)
	explicit := map[string]bool{}
	add := func(mp MountPoint) error {
		if explicit[mp.Destination] || tmpfs[mp.Destination] {
			return dup(mp.Destination)
		}
		explicit[mp.Destination] = true
		if i, ok := byDest[mp.Destination]; ok && i < fromVolumesFrom {
			out[i] = mp
			return nil
		}
		byDest[mp.Destination] = len(out)
		out = append(out, mp)
		return nil
	}
	for _, raw := range hc.Binds {
		mp, err := parseBind(raw)
		if err == nil {
			err = s.dataRootPropagation(&mp)
		}
		if err != nil {
			return nil, err
		}
		if mp.Type == mount.TypeVolume && mp.Driver == "" {
			mp.Driver = hc.VolumeDriver
		}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	for _, m := range hc.Mounts {
		mp, err := parseMount(m)
		if err == nil {
			err = s.dataRootPropagation(&mp)
		}
		if err != nil {
			return nil, err
		}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	var anon []string
	for d := range c.Config.Volumes {
		anon = append(anon, d)
	}
	sort.Strings(anon)
	for _, d := range anon {
		if !path.IsAbs(d) {
			return nil, errdefs.Invalid(fmt.Errorf("invalid volume specification: '%s': %w", d, mountConfigError{mount.TypeVolume, fmt.Errorf("invalid mount path: '%s' mount path must be absolute", d)}))
		}
		dest := path.Clean(d)
		if dest == "/" {
			return nil, errdefs.Invalid(fmt.Errorf("invalid volume specification: '%s': %w", d, mountConfigError{mount.TypeVolume, errTargetIsRoot}))
		}
		if _, ok := byDest[dest]; ok || tmpfs[dest] {
			continue
		}
		byDest[dest] = len(out)
		out = append(out, MountPoint{Type: mount.TypeVolume, Destination: dest, RW: true, CopyUp: true, Driver: hc.VolumeDriver})
	}
	return out, nil
}

// createMounts plans c's mounts, makes the volumes that are missing (named
// ones and anonymous ones), and references each for c. On failure the
// caller undoes it with dropMounts.
func (s *Service) createMounts(ctx context.Context, c *Container) error {
	mps, err := s.planMounts(c)
	if err != nil {
		return err
	}
	c.MountPoints = mps
	if len(mps) == 0 {
		return nil
	}
	vs := s.cfg.Volumes
	for i := range c.MountPoints {
		mp := &c.MountPoints[i]
		if mp.Type != mount.TypeVolume {
			continue
		}
		if vs == nil {
			return errdefs.Unavailable(errors.New("volumes are not available"))
		}
		var v *volume.Volume
		switch {
		case mp.Name == "" && mp.Driver == "" && len(mp.VolumeOpts) == 0:
			v, err = vs.CreateAnonymous(ctx, c.ID)
			mp.created = err == nil
		case mp.Name == "":
			v, err = vs.Create(ctx, "", mp.Driver, mp.VolumeOpts, map[string]string{"com.docker.volume.anonymous": ""})
			mp.created = err == nil
		default:
			v, err = vs.Get(ctx, mp.Name)
			if errdefs.IsNotFound(err) {
				v, err = vs.Create(ctx, mp.Name, mp.Driver, mp.VolumeOpts, nil)
				mp.created = err == nil
			}
		}
		if err == nil {
			mp.Name, mp.Source, mp.Driver = v.Name, v.Mountpoint, v.Driver
			err = vs.Reference(v.Name, c.ID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// dropMounts dereferences c's volumes and removes those that are its own:
// anonymous ones when removeAnonymous (`rm -v`, --rm), and those made by
// a create that failed.
func (s *Service) dropMounts(ctx context.Context, c *Container, removeAnonymous bool) {
	vs := s.cfg.Volumes
	if vs == nil {
		return
	}
	for _, mp := range c.MountPoints {
		if mp.Type != mount.TypeVolume || mp.Name == "" {
			continue
		}
		vs.Dereference(mp.Name, c.ID)
		if mp.created || (removeAnonymous && vs.Anonymous(ctx, mp.Name)) {
			if err := vs.Remove(ctx, mp.Name, false); err != nil && !errdefs.IsNotFound(err) {
				// In use by another container (--volumes-from): kept, as dockerd does.
				s.log.Debug("keep volume", "volume", mp.Name, "container_id", c.ID, "error", err.Error())
			}
		}
	}
}

// referenceMounts records c's volume references again after berthd
// restarts (the volume service's references live in memory).
func (s *Service) referenceMounts(c *Container) {
	if s.cfg.Volumes == nil {
		return
	}
	for _, mp := range c.MountPoints {
		if mp.Type == mount.TypeVolume && mp.Name != "" {
			logErr(s.log, "reference volume", s.cfg.Volumes.Reference(mp.Name, c.ID), "container_id", c.ID, "volume", mp.Name)
		}
	}
}

// mountVolumes prepares c's mounts for a start: acquires each volume,
// copies the image's content into empty volumes on their first use (the
// rootfs is mounted at rootfs), makes missing -v bind sources, and
// returns the OCI mounts. On failure, what it acquired is released.
func (s *Service) mountVolumes(ctx context.Context, c *Container, rootfs string) (_ []specs.Mount, retErr error) {
	c.mu.Lock()
	mps := append([]MountPoint(nil), c.MountPoints...)
	c.mu.Unlock()
	var acquired []string
	defer func() {
		if retErr != nil {
			for _, name := range acquired {
				logErr(s.log, "release volume", s.cfg.Volumes.Release(context.WithoutCancel(ctx), name, c.ID), "container_id", c.ID)
			}
		}
	}()
	var out []specs.Mount
	copied := false
	for i := range mps {
		mp := &mps[i]
		src := mp.Source
		switch mp.Type {
		case mount.TypeTmpfs:
			o := []string{"noexec", "nosuid", "nodev", "rprivate"}
			if !mp.RW {
				o = append(o, "ro")
			}
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "tmpfs", Source: "tmpfs", Options: append(o, mp.TmpfsOptions...)})
			continue
		case mount.TypeVolume:
			if s.cfg.Volumes == nil {
				return nil, errdefs.Unavailable(errors.New("volumes are not available"))
			}
			p, err := s.cfg.Volumes.Acquire(ctx, mp.Name, c.ID)
			if err != nil {
				return nil, fmt.Errorf("error while mounting volume '%s': %w", mp.Source, err)
			}
			acquired = append(acquired, mp.Name)
			src = p
			if mp.CopyUp {
				if err := copyUp(rootfs, mp.Destination, src); err != nil {
					return nil, fmt.Errorf("copy image content into volume %s: %w", mp.Name, err)
				}
				mp.CopyUp, copied = false, true
			}
		case mount.TypeBind:
			if mp.CreateSource {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, errdefs.Invalid(fmt.Errorf("error while creating mount source path '%s': %w", src, err))
				}
			}
		}
		o, err := s.bindOptions(c.ID, mp, src)
		if err != nil {
			return nil, err
		}
		out = append(out, specs.Mount{Destination: mp.Destination, Type: "bind", Source: src, Options: o})
	}
	if copied {
		// Persisted with the start's own save (saveAsync): no disk write
		// here. Should a crash lose it, the copy-up is tried again, and
		// copyUp fills only a volume that is still empty.
		c.mu.Lock()
		for i := range c.MountPoints {
			if i < len(mps) && c.MountPoints[i].Destination == mps[i].Destination {
				c.MountPoints[i].CopyUp = mps[i].CopyUp
			}
		}
		c.mu.Unlock()
	}
	return out, nil
}

// dataRootPropagation applies dockerd's rule for a bind whose source holds
// the data root or lies in it: rslave unless the user chose a propagation,
// and only rslave or rshared if they did.
func (s *Service) dataRootPropagation(mp *MountPoint) error {
	root := s.cfg.DataRoot
	if mp.Type != mount.TypeBind || root == "" || !(within(mp.Source, root) || within(root, mp.Source)) {
		return nil
	}
	switch {
	case !mp.ExplicitPropagation:
		mp.Propagation = mount.PropagationRSlave
	case mp.Propagation != mount.PropagationRSlave && mp.Propagation != mount.PropagationRShared:
		return errdefs.Invalid(fmt.Errorf(`invalid mount config: must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root, daemon root: %q, bind mount source: %q, propagation: %q`, root, mp.Source, mp.Propagation))
	}
	return nil
}

// bindOptions are the OCI options of a bind (or volume) mount at start, as
// dockerd's WithMounts and setupMounts make them: rbind (bind with
// bind-recursive=disabled); rro for read-only (ro where submounts are to
// stay writable, or the kernel cannot); the propagation, which the source's
// host mount must allow (shared needs a shared mount, slave a shared or
// slave one; a bind in the data root that did not ask for it falls back).
func (s *Service) bindOptions(containerID string, mp *MountPoint, src string) ([]string, error) {
	if mp.Type == mount.TypeBind {
		// dockerd finds these while making the spec: a system error (500).
		switch {
		case mp.RW && mp.ReadOnlyNonRecursive:
			return nil, errors.New("mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive")
		case mp.RW && mp.ReadOnlyForceRecursive:
			return nil, errors.New("mount options conflict: !ReadOnly && BindOptions.ReadOnlyForceRecursive")
		case mp.ReadOnlyNonRecursive && mp.ReadOnlyForceRecursive:
			return nil, errors.New("mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive")
		}
	}
	o := []string{"rbind"}
	if mp.NonRecursive {
		o[0] = "bind"
	}
	if !mp.RW {
		ro := "rro"
		if mp.ReadOnlyNonRecursive {
			ro = "ro"
		} else if err := runtime.RecursiveReadOnlySupported(); err != nil {
			if mp.ReadOnlyForceRecursive {
				return nil, err
			}
			ro = "ro"
		}
		o = append(o, ro)
	}
	prop := mp.Propagation
	if prop == "" {
		prop = mount.PropagationRPrivate
	}
	if err := runtime.CheckSourcePropagation(src, string(prop)); err != nil {
		slave := prop == mount.PropagationSlave || prop == mount.PropagationRSlave
		if !slave || mp.ExplicitPropagation || !(within(src, s.cfg.DataRoot) || within(s.cfg.DataRoot, src)) {
			return nil, err
		}
		s.log.Warn("Falling back to default propagation for bind source in daemon root", "container_id", containerID, "source", src)
	}
	if mp.NonRecursive {
		// A bind without submounts has nothing for a recursive propagation
		// to reach; crun, seeing the "r", makes the bind itself recursive.
		prop = mount.Propagation(strings.TrimPrefix(string(prop), "r"))
	}
	return append(o, string(prop)), nil
}

// releaseVolumes is the end of a run: c no longer has its volumes mounted.
func (s *Service) releaseVolumes(ctx context.Context, c *Container) {
	if s.cfg.Volumes == nil {
		return
	}
	c.mu.Lock()
	mps := append([]MountPoint(nil), c.MountPoints...)
	c.mu.Unlock()
	for _, mp := range mps {
		if mp.Type == mount.TypeVolume && mp.Name != "" {
			if err := s.cfg.Volumes.Release(ctx, mp.Name, c.ID); err != nil {
				s.log.Debug("release volume", "container_id", c.ID, "volume", mp.Name, "error", err.Error())
			}
		}
	}
}

// apiMountPoints is what inspect and ps show under Mounts.
func apiMountPoints(mps []MountPoint) []container.MountPoint {
	out := make([]container.MountPoint, 0, len(mps))
	for _, mp := range mps {
		out = append(out, container.MountPoint{
			Type: mp.Type, Name: mp.Name, Source: mp.Source, Destination: mp.Destination,
			Driver: mp.Driver, Mode: mp.Mode, RW: mp.RW, Propagation: mp.Propagation,
		})
	}
	return out
}
