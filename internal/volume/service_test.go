package volume

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
	bevents "berth/internal/events"
)

// rig is a service over a fresh bbolt file and root, reopenable as a
// daemon restart would.
type rig struct {
	t    *testing.T
	db   *bolt.DB
	root string
	bus  *bevents.Bus
	svc  *Service
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "berth.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &rig{t: t, db: db, root: filepath.Join(dir, "volumes"), bus: bevents.New()}
	// Whatever a test mounted under the root goes away even if it failed.
	t.Cleanup(func() {
		entries, _ := os.ReadDir(r.root)
		for _, e := range entries {
			p := filepath.Join(r.root, e.Name(), "_data")
			for isMounted(p) {
				if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
					t.Errorf("cleanup unmount %s: %v", p, err)
					break
				}
			}
		}
	})
	r.open()
	return r
}

// open (re)starts the service on the same database and root.
func (r *rig) open() {
	r.t.Helper()
	svc, err := New(context.Background(), Config{DB: r.db, Root: r.root, Events: r.bus})
	if err != nil {
		r.t.Fatal(err)
	}
	r.svc = svc
}

func (r *rig) create(name string, opts, labels map[string]string) string {
	r.t.Helper()
	v, err := r.svc.Create(context.Background(), name, "", opts, labels)
	if err != nil {
		r.t.Fatal(err)
	}
	return v.Name
}

func writeFile(t *testing.T, path string, size int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCreate(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	v, err := r.svc.Create(ctx, "data", "local", nil, map[string]string{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "data" || v.Driver != "local" || v.Scope != "local" || v.Labels["a"] != "b" || v.Options == nil {
		t.Fatalf("unexpected volume %+v", v)
	}
	if v.Mountpoint != filepath.Join(r.root, "data", "_data") {
		t.Fatalf("mountpoint %s", v.Mountpoint)
	}
	if _, err := time.Parse(time.RFC3339, v.CreatedAt); err != nil {
		t.Fatalf("CreatedAt %q: %v", v.CreatedAt, err)
	}
	for path, mode := range map[string]os.FileMode{r.root: 0o701, v.Mountpoint: 0o755} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %o, want %o", path, fi.Mode().Perm(), mode)
		}
	}
	again, err := r.svc.Create(ctx, "data", "", nil, nil)
	if err != nil || again.CreatedAt != v.CreatedAt || again.Labels["a"] != "b" {
		t.Fatalf("second create of the same name: %+v, %v", again, err)
	}

	anon, err := r.svc.CreateAnonymous(ctx, "c9")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(anon.Name) {
		t.Errorf("anonymous name %q", anon.Name)
	}
	if l, ok := anon.Labels[AnonymousLabel]; !ok || l != "" {
		t.Errorf("anonymous labels %v", anon.Labels)
	}
	if !r.svc.Anonymous(ctx, anon.Name) || r.svc.Anonymous(ctx, "data") {
		t.Error("Anonymous answers wrongly")
	}
	if err := r.svc.Remove(ctx, anon.Name, false); !errdefs.IsConflict(err) {
		t.Errorf("an anonymous volume is referenced by its container: %v", err)
	}
	r.svc.Dereference(anon.Name, "c9")
	plain, err := r.svc.Create(ctx, "", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plain.Labels[AnonymousLabel]; ok || len(plain.Name) != 64 {
		t.Errorf("a nameless create is not anonymous: %+v", plain)
	}

	r.open() // records survive a restart
	if got, err := r.svc.Get(ctx, "data"); err != nil || got.Labels["a"] != "b" {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
}

func TestCreateErrors(t *testing.T) {
	r := newRig(t)
	r.create("taken", map[string]string{"type": "tmpfs", "device": "tmpfs"}, nil)
	cases := []struct {
		doc    string
		name   string
		driver string
		opts   map[string]string
		class  func(error) bool
		msg    string
	}{
		{doc: "slash in name", name: "a/b", class: errdefs.IsInvalid,
			msg: `create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{doc: "one character", name: "a", class: errdefs.IsInvalid, msg: `create a: "a" includes invalid characters`},
		{doc: "leading dot", name: ".trash", class: errdefs.IsInvalid, msg: "includes invalid characters"},
		{doc: "unknown driver", name: "x1", driver: "flocker", class: errdefs.IsNotFound,
			msg: `error looking up volume plugin flocker: plugin "flocker" not found`},
		{doc: "unknown option", name: "x2", opts: map[string]string{"foo": "bar"}, class: errdefs.IsInvalid, msg: `invalid option key: "foo"`},
		{doc: "size without quota", name: "x3", opts: map[string]string{"size": "10m"}, class: errdefs.IsInvalid, msg: "quota size requested but no quota support"},
		{doc: "bad size", name: "x4", opts: map[string]string{"size": "lots"}, class: errdefs.IsInvalid, msg: "lots"},
		{doc: "device without type", name: "x5", opts: map[string]string{"device": "tmpfs"}, class: errdefs.IsInvalid, msg: `missing required option: "type"`},
		{doc: "o without device", name: "x6", opts: map[string]string{"o": "size=1m"}, class: errdefs.IsInvalid, msg: `missing required option: "device"`},
		{doc: "cifs URL", name: "x7", opts: map[string]string{"type": "cifs", "device": "smb://h/s"}, class: errdefs.IsInvalid, msg: "URL scheme"},
		{doc: "same name, other options", name: "taken", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}, class: errdefs.IsConflict, msg: "create taken: volume name must be unique"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			_, err := r.svc.Create(context.Background(), tc.name, tc.driver, tc.opts, nil)
			if err == nil || !tc.class(err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want class match and %q", err, tc.msg)
			}
			if tc.name != "taken" {
				if _, err := os.Stat(filepath.Join(r.root, tc.name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("something was created for %q: %v", tc.name, err)
				}
			}
		})
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.create("web-data", nil, map[string]string{"app": "web", "tier": "front"})
	r.create("db-data", nil, map[string]string{"app": "db"})
	r.create("scratch", nil, nil)
	if err := r.svc.Reference("db-data", "c1"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		doc  string
		f    filters.Args
		want string
		bad  string
	}{
		{doc: "all", f: filters.Args{}, want: "db-data,scratch,web-data"},
		{doc: "name substring", f: filters.Args{"name": {"data"}}, want: "db-data,web-data"},
		{doc: "label key", f: filters.Args{"label": {"app"}}, want: "db-data,web-data"},
		{doc: "label key=value", f: filters.Args{"label": {"app=web"}}, want: "web-data"},
		{doc: "two labels", f: filters.Args{"label": {"app=web", "tier=back"}}, want: ""},
		{doc: "dangling", f: filters.Args{"dangling": {"true"}}, want: "scratch,web-data"},
		{doc: "not dangling", f: filters.Args{"dangling": {"0"}}, want: "db-data"},
		{doc: "driver", f: filters.Args{"driver": {"local"}}, want: "db-data,scratch,web-data"},
		{doc: "other driver", f: filters.Args{"driver": {"nfs"}}, want: ""},
		{doc: "bad key", f: filters.Args{"colour": {"x"}}, bad: "invalid filter 'colour'"},
		{doc: "bad dangling", f: filters.Args{"dangling": {"maybe"}}, bad: "invalid filter 'dangling=maybe'"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			vols, err := r.svc.List(ctx, tc.f)
			if tc.bad != "" {
				if err == nil || !errdefs.IsInvalid(err) || err.Error() != tc.bad {
					t.Fatalf("got %v, want %q", err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, v := range vols {
				names = append(names, v.Name)
			}
			if got := strings.Join(names, ","); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	name := r.create("busy", nil, nil)
	writeFile(t, filepath.Join(r.root, name, "_data", "f"), 10)
	_, ch := r.bus.Subscribe(t.Context(), time.Time{})

	if err := r.svc.Reference(name, "c2"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Acquire(ctx, name, "c1"); err != nil {
		t.Fatal(err)
	}
	for _, force := range []bool{false, true} {
		err := r.svc.Remove(ctx, name, force)
		if !errdefs.IsConflict(err) || err.Error() != "remove busy: volume is in use - [c1, c2]" {
			t.Fatalf("force=%v: got %v", force, err)
		}
	}
	r.svc.Dereference(name, "c2")
	if err := r.svc.Remove(ctx, name, false); !errdefs.IsConflict(err) {
		t.Fatalf("still held by c1: %v", err)
	}
	if err := r.svc.Release(ctx, name, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Remove(ctx, name, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.root, name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data left: %v", err)
	}
	if _, err := r.svc.Get(ctx, name); !errdefs.IsNotFound(err) || err.Error() != "get busy: no such volume" {
		t.Fatalf("get after remove: %v", err)
	}
	if err := r.svc.Remove(ctx, name, false); !errdefs.IsNotFound(err) {
		t.Fatalf("remove unknown: %v", err)
	}
	if err := r.svc.Remove(ctx, name, true); err != nil {
		t.Fatalf("remove -f unknown: %v", err)
	}
	var actions []string
	for len(actions) < 3 {
		select {
		case m := <-ch:
			if m.Type != events.VolumeEventType || m.Actor.ID != name || m.Actor.Attributes["driver"] != "local" {
				t.Fatalf("unexpected event %+v", m)
			}
			actions = append(actions, string(m.Action))
		case <-time.After(5 * time.Second):
			t.Fatalf("events so far: %v", actions)
		}
	}
	if got := strings.Join(actions, ","); got != "mount,unmount,destroy" {
		t.Fatalf("events %s", got)
	}
}
