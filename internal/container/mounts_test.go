package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"
	bolt "go.etcd.io/bbolt"

	"berth/internal/errdefs"
	"berth/internal/events"
)

// fakeVolumes is an in-memory volume service with the contract's rules:
// a referenced volume cannot be removed.
type fakeVolumes struct {
	root  string
	n     int
	vols  map[string]*volume.Volume
	anon  map[string]bool
	refs  map[string]map[string]bool
	calls []string
}

func newFakeVolumes(t *testing.T) *fakeVolumes {
	return &fakeVolumes{root: t.TempDir(), vols: map[string]*volume.Volume{}, anon: map[string]bool{}, refs: map[string]map[string]bool{}}
}

func (f *fakeVolumes) make(name string) (*volume.Volume, error) {
	mp := filepath.Join(f.root, name, "_data")
	if err := os.MkdirAll(mp, 0o755); err != nil {
		return nil, err
	}
	v := &volume.Volume{Name: name, Driver: "local", Mountpoint: mp}
	f.vols[name] = v
	return v, nil
}

func (f *fakeVolumes) Create(_ context.Context, name, driver string, _, labels map[string]string) (*volume.Volume, error) {
	f.calls = append(f.calls, "create "+name)
	if name == "" {
		f.n++
		name = fmt.Sprintf("%064d", f.n)
	}
	if v, ok := f.vols[name]; ok {
		return v, nil
	}
	if _, ok := labels["com.docker.volume.anonymous"]; ok {
		f.anon[name] = true
	}
	return f.make(name)
}

func (f *fakeVolumes) CreateAnonymous(_ context.Context, containerID string) (*volume.Volume, error) {
	f.n++
	name := fmt.Sprintf("%064d", f.n)
	f.calls = append(f.calls, "create-anonymous")
	f.anon[name] = true
	return f.make(name)
}

func (f *fakeVolumes) Get(_ context.Context, name string) (*volume.Volume, error) {
	if v, ok := f.vols[name]; ok {
		return v, nil
	}
	return nil, errdefs.NotFound(fmt.Errorf("get %s: no such volume", name))
}

func (f *fakeVolumes) Remove(_ context.Context, name string, _ bool) error {
	if _, ok := f.vols[name]; !ok {
		return errdefs.NotFound(fmt.Errorf("get %s: no such volume", name))
	}
	if len(f.refs[name]) > 0 {
		return errdefs.Conflict(fmt.Errorf("remove %s: volume is in use", name))
	}
	f.calls = append(f.calls, "remove "+name)
	delete(f.vols, name)
	return os.RemoveAll(filepath.Join(f.root, name))
}

func (f *fakeVolumes) Acquire(_ context.Context, name, id string) (string, error) {
	f.calls = append(f.calls, "acquire "+name)
	return f.vols[name].Mountpoint, nil
}

func (f *fakeVolumes) Release(_ context.Context, name, id string) error {
	f.calls = append(f.calls, "release "+name)
	return nil
}

func (f *fakeVolumes) Reference(name, id string) error {
	if f.refs[name] == nil {
		f.refs[name] = map[string]bool{}
	}
	f.refs[name][id] = true
	return nil
}

func (f *fakeVolumes) Dereference(name, id string)                   { delete(f.refs[name], id) }
func (f *fakeVolumes) Anonymous(_ context.Context, name string) bool { return f.anon[name] }

func newMountService(t *testing.T, vs Volumes) *Service {
	t.Helper()
	state := t.TempDir()
	db, err := bolt.Open(filepath.Join(state, "berth.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := New(Config{DB: db, DataRoot: filepath.Join(state, "data"), ExecRoot: filepath.Join(state, "exec"), Volumes: vs, Events: events.New()})
	must(t, err)
	t.Cleanup(s.Close)
	return s
}

func mountContainer(id string, cfg *ctypes.Config, hc *ctypes.HostConfig) *Container {
	c := newContainer()
	c.ID, c.Name = strings.Repeat(id, 64/len(id)), "/"+id
	if cfg == nil {
		cfg = &ctypes.Config{}
	}
	c.Config, c.HostConfig = cfg, hc
	c.State.Status = ctypes.StateCreated
	return c
}

func TestParseBind(t *testing.T) {
	host := t.TempDir()
	cases := []struct {
		doc  string
		raw  string
		want MountPoint
		err  string
	}{
		{doc: "named volume", raw: "dbdata:/data", want: MountPoint{Type: mount.TypeVolume, Name: "dbdata", Destination: "/data", Mode: "z", RW: true, CopyUp: true}},
		{doc: "named volume ro nocopy", raw: "dbdata:/data:ro,nocopy", want: MountPoint{Type: mount.TypeVolume, Name: "dbdata", Destination: "/data", Mode: "ro,nocopy"}},
		{doc: "bind", raw: host + ":/app", want: MountPoint{Type: mount.TypeBind, Source: host, Destination: "/app", RW: true, Propagation: "rprivate", CreateSource: true}},
		{doc: "bind ro shared Z", raw: host + ":/app/:ro,shared,Z", want: MountPoint{Type: mount.TypeBind, Source: host, Destination: "/app", Mode: "ro,shared,Z", Propagation: "shared", ExplicitPropagation: true, CreateSource: true}},
		{doc: "volume with propagation", raw: "dbdata:/data:rshared", err: `invalid volume specification: 'dbdata:/data:rshared': invalid mount config for type "volume": field BindOptions must not be specified`},
		{doc: "anonymous", raw: "/data", want: MountPoint{Type: mount.TypeVolume, Destination: "/data", RW: true, CopyUp: true}},
		{doc: "bad mode", raw: "/x:/y:rx", err: "invalid mode: rx"},
		{doc: "two rw modes", raw: "/x:/y:ro,rw", err: "invalid mode: ro,rw"},
		{doc: "mode without source", raw: "/data:ro", err: "invalid volume specification: '/data:ro'"},
		{doc: "too many colons", raw: "a:/b:ro:z", err: "invalid volume specification: 'a:/b:ro:z'"},
		{doc: "relative target", raw: "vol:data", err: `invalid volume specification: 'vol:data': invalid mount config for type "volume": invalid mount path: 'data' mount path must be absolute`},
		{doc: "root target", raw: "/x:/", err: `invalid volume specification: '/x:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`},
		{doc: "relative host path", raw: "./data:/app", err: `create ./data: "./data" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{doc: "name with slash", raw: "a/b:/app", err: `create a/b: "a/b" includes invalid characters`},
		{doc: "short name", raw: "a:/app", err: "create a: volume name is too short, names should be at least two alphanumeric characters"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			got, err := parseBind(tc.raw)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) || !errdefs.IsInvalid(err) {
					t.Fatalf("parseBind(%q) = %v; want invalid %q", tc.raw, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("parseBind(%q)\n got %+v\nwant %+v", tc.raw, got, tc.want)
			}
		})
	}
}

func TestParseMount(t *testing.T) {
	host := t.TempDir()
	cases := []struct {
		doc  string
		m    mount.Mount
		want MountPoint
		err  string
	}{
		{doc: "bind readonly", m: mount.Mount{Type: "bind", Source: host, Target: "/app", ReadOnly: true},
			want: MountPoint{Type: "bind", Source: host, Destination: "/app", Propagation: "rprivate"}},
		{doc: "bind non-recursive slave", m: mount.Mount{Type: "bind", Source: host, Target: "/app", BindOptions: &mount.BindOptions{Propagation: "rslave", NonRecursive: true}},
			want: MountPoint{Type: "bind", Source: host, Destination: "/app", RW: true, Propagation: "rslave", ExplicitPropagation: true, NonRecursive: true}},
		{doc: "bind-recursive=readonly", m: mount.Mount{Type: "bind", Source: host, Target: "/app", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: "rprivate", ReadOnlyForceRecursive: true}},
			want: MountPoint{Type: "bind", Source: host, Destination: "/app", Propagation: "rprivate", ExplicitPropagation: true, ReadOnlyForceRecursive: true}},
		{doc: "bind-recursive=writable", m: mount.Mount{Type: "bind", Source: host, Target: "/app", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyNonRecursive: true}},
			want: MountPoint{Type: "bind", Source: host, Destination: "/app", Propagation: "rprivate", ReadOnlyNonRecursive: true}},
		{doc: "bind missing source", m: mount.Mount{Type: "bind", Source: "/no/such/dir", Target: "/app"},
			err: `invalid mount config for type "bind": bind source path does not exist: /no/such/dir`},
		{doc: "bind relative source", m: mount.Mount{Type: "bind", Source: "x", Target: "/app"},
			err: `invalid mount config for type "bind": invalid mount path: 'x' mount path must be absolute`},
		{doc: "bind bad propagation", m: mount.Mount{Type: "bind", Source: host, Target: "/app", BindOptions: &mount.BindOptions{Propagation: "sideways"}},
			err: `invalid mount config for type "bind": invalid propagation mode: sideways`},
		{doc: "volume with driver options", m: mount.Mount{Type: "volume", Source: "vol1", Target: "/v", VolumeOptions: &mount.VolumeOptions{NoCopy: true, DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"type": "tmpfs"}}}},
			want: MountPoint{Type: "volume", Name: "vol1", Destination: "/v", RW: true, Driver: "local", VolumeOpts: map[string]string{"type": "tmpfs"}}},
		{doc: "anonymous readonly", m: mount.Mount{Type: "volume", Target: "/v", ReadOnly: true},
			err: `invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes`},
		{doc: "tmpfs", m: mount.Mount{Type: "tmpfs", Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 16 << 20, Mode: 0o1777}},
			want: MountPoint{Type: "tmpfs", Destination: "/t", RW: true, TmpfsOptions: []string{"size=16m", "mode=1777"}}},
		{doc: "tmpfs odd size", m: mount.Mount{Type: "tmpfs", Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1000}},
			want: MountPoint{Type: "tmpfs", Destination: "/t", RW: true, TmpfsOptions: []string{"size=1000"}}},
		{doc: "tmpfs with source", m: mount.Mount{Type: "tmpfs", Source: "x", Target: "/t"},
			err: `invalid mount config for type "tmpfs": field Source must not be specified`},
		{doc: "root target", m: mount.Mount{Type: "volume", Source: "v1", Target: "/"},
			err: `invalid mount config for type "volume": invalid specification: destination can't be '/'`},
		{doc: "unknown type", m: mount.Mount{Type: "nfs", Target: "/x"}, err: `invalid mount config for type "nfs": mount type unknown`},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			got, err := parseMount(tc.m)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errdefs.IsInvalid(err) {
					t.Fatalf("parseMount = %v; want invalid %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("parseMount\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPlanMounts(t *testing.T) {
	s := newMountService(t, newFakeVolumes(t))
	src := mountContainer("aa", nil, &ctypes.HostConfig{})
	src.MountPoints = []MountPoint{
		{Type: "volume", Name: "shared", Destination: "/shared", RW: true, CopyUp: true},
		{Type: "bind", Source: "/srv", Destination: "/srv", RW: true, Propagation: "rprivate"},
	}
	must(t, s.store.add(src))
	cases := []struct {
		doc   string
		cfg   *ctypes.Config
		hc    ctypes.HostConfig
		dests []string // "dest type rw"
		err   string
	}{
		{doc: "image volume replaced by -v", cfg: &ctypes.Config{Volumes: map[string]struct{}{"/data": {}, "/logs": {}}},
			hc: ctypes.HostConfig{Binds: []string{"db:/data"}}, dests: []string{"/data volume true", "/logs volume true"}},
		{doc: "image volume under --tmpfs is skipped", cfg: &ctypes.Config{Volumes: map[string]struct{}{"/data": {}}},
			hc: ctypes.HostConfig{Tmpfs: map[string]string{"/data": ""}}},
		{doc: "volumes-from ro, -v overrides one", hc: ctypes.HostConfig{VolumesFrom: []string{"aa:ro"}, Binds: []string{"other:/srv"}},
			dests: []string{"/shared volume false", "/srv volume true"}},
		{doc: "duplicate -v", hc: ctypes.HostConfig{Binds: []string{"a1:/data", "/tmp:/data"}}, err: "Duplicate mount point: /data"},
		{doc: "duplicate -v and --mount", hc: ctypes.HostConfig{Binds: []string{"a1:/data/"}, Mounts: []mount.Mount{{Type: "tmpfs", Target: "/data"}}}, err: "Duplicate mount point: /data"},
		{doc: "duplicate -v and --tmpfs", hc: ctypes.HostConfig{Binds: []string{"a1:/t"}, Tmpfs: map[string]string{"/t": ""}}, err: "Duplicate mount point: /t"},
		{doc: "volumes-from unknown", hc: ctypes.HostConfig{VolumesFrom: []string{"nope"}}, err: "No such container: nope"},
		{doc: "volumes-from bad mode", hc: ctypes.HostConfig{VolumesFrom: []string{"aa:rx"}}, err: "invalid mode: rx"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			hc := tc.hc
			mps, err := s.planMounts(mountContainer("bb", tc.cfg, &hc))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("planMounts = %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, mp := range mps {
				got = append(got, fmt.Sprintf("%s %s %v", mp.Destination, mp.Type, mp.RW))
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.dests) {
				t.Fatalf("mounts %q, want %q", got, tc.dests)
			}
		})
	}
}

func TestCreateAndDropMounts(t *testing.T) {
	ctx := context.Background()
	fv := newFakeVolumes(t)
	_, err := fv.make("existing")
	must(t, err)
	s := newMountService(t, fv)
	c := mountContainer("cc", &ctypes.Config{Volumes: map[string]struct{}{"/anon": {}}},
		&ctypes.HostConfig{Binds: []string{"existing:/e", "fresh:/f"}})
	must(t, s.createMounts(ctx, c))
	if len(fv.vols) != 3 {
		t.Fatalf("volumes %v, want existing, fresh and one anonymous", fv.vols)
	}
	for _, mp := range c.MountPoints {
		if mp.Name == "" || mp.Source != fv.vols[mp.Name].Mountpoint || len(fv.refs[mp.Name]) != 1 {
			t.Errorf("mount %+v not resolved and referenced (refs %v)", mp, fv.refs[mp.Name])
		}
	}
	if err := fv.Remove(ctx, "existing", false); !errdefs.IsConflict(err) {
		t.Fatalf("removing a referenced volume: %v", err)
	}
	// rm -v: anonymous volumes go, named ones stay but are free.
	for i := range c.MountPoints {
		c.MountPoints[i].created = false // as loaded from the store
	}
	s.dropMounts(ctx, c, true)
	if _, ok := fv.vols["existing"]; !ok {
		t.Error("rm -v removed a named volume")
	}
	if _, ok := fv.vols["fresh"]; !ok {
		t.Error("rm -v removed a named volume made by create")
	}
	if len(fv.vols) != 2 {
		t.Errorf("anonymous volume not removed: %v", fv.vols)
	}
	must(t, fv.Remove(ctx, "existing", false))

	// A create that fails after making volumes leaves none behind.
	fv2 := newFakeVolumes(t)
	s2 := newMountService(t, fv2)
	c3 := mountContainer("dd", &ctypes.Config{Volumes: map[string]struct{}{"/anon": {}}}, &ctypes.HostConfig{Binds: []string{"made:/m"}})
	must(t, s2.createMounts(ctx, c3))
	s2.dropMounts(ctx, c3, false)
	if len(fv2.vols) != 0 {
		t.Errorf("undo left volumes: %v", fv2.vols)
	}
}

func TestCreateMountsRejectsBeforeMakingAnything(t *testing.T) {
	fv := newFakeVolumes(t)
	s := newMountService(t, fv)
	c := mountContainer("ee", nil, &ctypes.HostConfig{Binds: []string{"good:/a", "good2:/a"}})
	err := s.createMounts(context.Background(), c)
	if err == nil || !errdefs.IsInvalid(err) {
		t.Fatalf("createMounts = %v, want invalid", err)
	}
	if len(fv.calls) != 0 {
		t.Fatalf("volume calls on bad input: %v", fv.calls)
	}
}

func TestMountVolumesCopyUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: copy-up keeps file owners")
	}
	ctx := context.Background()
	fv := newFakeVolumes(t)
	s := newMountService(t, fv)
	rootfs := t.TempDir()
	data := filepath.Join(rootfs, "data")
	must(t, os.MkdirAll(filepath.Join(data, "sub"), 0o750))
	must(t, os.WriteFile(filepath.Join(data, "file"), []byte("hello"), 0o640))
	must(t, os.Chown(filepath.Join(data, "file"), 1000, 1000))
	must(t, os.Chown(data, 1000, 1001))
	must(t, os.Symlink("file", filepath.Join(data, "link")))
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, os.Chtimes(filepath.Join(data, "file"), old, old))
	_, err := fv.make("full")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(fv.vols["full"].Mountpoint, "keep"), []byte("x"), 0o644))

	host := filepath.Join(t.TempDir(), "made", "by", "v")
	c := mountContainer("ff", nil, &ctypes.HostConfig{
		Binds:  []string{"cu:/data", "nocp:/data2:nocopy", "full:/data3", host + ":/h:ro"},
		Mounts: []mount.Mount{{Type: "tmpfs", Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}}},
	})
	must(t, os.MkdirAll(filepath.Join(rootfs, "data2"), 0o755))
	must(t, os.WriteFile(filepath.Join(rootfs, "data2", "f"), nil, 0o644))
	must(t, os.MkdirAll(filepath.Join(rootfs, "data3"), 0o755))
	must(t, os.WriteFile(filepath.Join(rootfs, "data3", "f"), nil, 0o644))
	must(t, s.createMounts(ctx, c))
	must(t, s.store.add(c))
	specMounts, err := s.mountVolumes(ctx, c, rootfs)
	must(t, err)

	cu := fv.vols["cu"].Mountpoint
	fi, err := os.Stat(filepath.Join(cu, "file"))
	must(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o640 || st.Uid != 1000 || st.Gid != 1000 || !fi.ModTime().Equal(old) {
		t.Errorf("copied file: mode %v uid %d gid %d mtime %v", fi.Mode(), st.Uid, st.Gid, fi.ModTime())
	}
	root, err := os.Stat(cu)
	must(t, err)
	if rst := root.Sys().(*syscall.Stat_t); rst.Uid != 1000 || rst.Gid != 1001 || root.Mode().Perm() != 0o750 {
		t.Errorf("volume root: uid %d gid %d mode %v; want the image directory's", rst.Uid, rst.Gid, root.Mode())
	}
	if l, err := os.Readlink(filepath.Join(cu, "link")); err != nil || l != "file" {
		t.Errorf("symlink: %q %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(cu, "sub")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Errorf("sub directory: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(fv.vols["nocp"].Mountpoint, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nocopy volume was filled: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fv.vols["full"].Mountpoint, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a volume with content was filled: %v", err)
	}
	if fi, err := os.Stat(host); err != nil || !fi.IsDir() {
		t.Errorf("-v bind source not made: %v", err)
	}
	for _, mp := range c.MountPoints {
		if mp.CopyUp {
			t.Errorf("copy-up still pending on %s", mp.Destination)
		}
	}

	want := map[string]string{
		"/data":  "bind " + cu + " [rbind rprivate]",
		"/data2": "bind " + fv.vols["nocp"].Mountpoint + " [rbind rprivate]",
		"/h":     "bind " + host + " [rbind rro rprivate]",
		"/t":     "tmpfs tmpfs [noexec nosuid nodev rprivate size=1m]",
	}
	for _, m := range specMounts {
		if w, ok := want[m.Destination]; ok {
			if got := fmt.Sprintf("%s %s %v", m.Type, m.Source, m.Options); got != w {
				t.Errorf("%s: %s, want %s", m.Destination, got, w)
			}
			delete(want, m.Destination)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing spec mounts: %v", want)
	}
	// The second start copies nothing: the volume is the container's now.
	must(t, os.Remove(filepath.Join(cu, "file")))
	_, err = s.mountVolumes(ctx, c, rootfs)
	must(t, err)
	if _, err := os.Stat(filepath.Join(cu, "file")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copy-up ran twice: %v", err)
	}
	s.releaseVolumes(ctx, c)
	if n := strings.Count(strings.Join(fv.calls, "\n"), "release "); n != 3 {
		t.Errorf("released %d volumes, want 3: %v", n, fv.calls)
	}
	api := apiMountPoints(c.MountPoints)
	if len(api) != 5 || api[0].Name != "cu" || api[0].Mode != "z" || api[0].Driver != "local" {
		t.Errorf("inspect mounts: %+v", api)
	}
}

// TestBindOptions: the OCI options of a bind at start, as dockerd makes
// them: rro for read-only unless submounts are to stay writable, the
// conflicts it refuses, and propagation checked against the source's host
// mount (a private one here), with the data root's fallback.
func TestBindOptions(t *testing.T) {
	s := newMountService(t, newFakeVolumes(t))
	src := t.TempDir() // on a private mount
	mnt, err := sourceMountPoint(src)
	must(t, err)
	root := filepath.Dir(s.cfg.DataRoot) // holds the data root
	cases := []struct {
		doc  string
		mp   MountPoint
		src  string
		want string // options, or the error
	}{
		{doc: "rw", mp: MountPoint{Type: "bind", RW: true, Propagation: "rprivate"}, want: "[rbind rprivate]"},
		{doc: "ro is recursive", mp: MountPoint{Type: "bind", Propagation: "rprivate"}, want: "[rbind rro rprivate]"},
		{doc: "ro writable submounts", mp: MountPoint{Type: "bind", Propagation: "rprivate", ReadOnlyNonRecursive: true}, want: "[rbind ro rprivate]"},
		{doc: "ro forced", mp: MountPoint{Type: "bind", Propagation: "rprivate", ReadOnlyForceRecursive: true}, want: "[rbind rro rprivate]"},
		{doc: "non-recursive", mp: MountPoint{Type: "bind", RW: true, NonRecursive: true}, want: "[bind private]"},
		{doc: "volume ro", mp: MountPoint{Type: "volume"}, want: "[rbind rro rprivate]"},
		{doc: "rw writable submounts", mp: MountPoint{Type: "bind", RW: true, ReadOnlyNonRecursive: true},
			want: "mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive"},
		{doc: "rw forced", mp: MountPoint{Type: "bind", RW: true, ReadOnlyForceRecursive: true},
			want: "mount options conflict: !ReadOnly && BindOptions.ReadOnlyForceRecursive"},
		{doc: "both", mp: MountPoint{Type: "bind", ReadOnlyNonRecursive: true, ReadOnlyForceRecursive: true},
			want: "mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive"},
		{doc: "shared on a private mount", mp: MountPoint{Type: "bind", RW: true, Propagation: "rshared", ExplicitPropagation: true},
			want: "path " + src + " is mounted on " + mnt + " but it is not a shared mount"},
		{doc: "slave on a private mount", mp: MountPoint{Type: "bind", RW: true, Propagation: "slave", ExplicitPropagation: true},
			want: "path " + src + " is mounted on " + mnt + " but it is not a shared or slave mount"},
		{doc: "data root default falls back", mp: MountPoint{Type: "bind", RW: true, Propagation: "rslave"}, src: root, want: "[rbind rslave]"},
		{doc: "data root chosen rslave does not", mp: MountPoint{Type: "bind", RW: true, Propagation: "rslave", ExplicitPropagation: true}, src: root,
			want: "not a shared or slave mount"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			p := src
			if tc.src != "" {
				p = tc.src
			}
			o, err := s.bindOptions("c1", &tc.mp, p)
			got := fmt.Sprint(o)
			if err != nil {
				got = err.Error()
			}
			if !strings.HasSuffix(got, tc.want) && got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// sourceMountPoint is the mount point of the host mount holding p.
func sourceMountPoint(p string) (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	best := ""
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && within(p, f[4]) && len(f[4]) >= len(best) {
			best = f[4]
		}
	}
	return best, nil
}

// TestDataRootPropagation: a bind holding the data root, or in it, is
// rslave unless the user chose; then only rslave or rshared are allowed.
func TestDataRootPropagation(t *testing.T) {
	s := newMountService(t, newFakeVolumes(t))
	root := s.cfg.DataRoot
	cases := []struct {
		doc, src string
		prop     mount.Propagation
		explicit bool
		want     string
	}{
		{"elsewhere", "/srv/x", "rprivate", false, "rprivate"},
		{"holds the root", filepath.Dir(root), "rprivate", false, "rslave"},
		{"in the root", filepath.Join(root, "volumes"), "rprivate", false, "rslave"},
		{"chosen rshared", "/", "rshared", true, "rshared"},
		{"chosen private", "/", "private", true, `invalid mount config: must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root`},
		{"a name prefix is not a parent", root + "x", "rprivate", false, "rprivate"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			mp := MountPoint{Type: "bind", Source: tc.src, Propagation: tc.prop, ExplicitPropagation: tc.explicit}
			got := string(mp.Propagation)
			if err := s.dataRootPropagation(&mp); err != nil {
				got = err.Error()
				if !errdefs.IsInvalid(err) {
					t.Errorf("not invalid: %v", err)
				}
			} else {
				got = string(mp.Propagation)
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
