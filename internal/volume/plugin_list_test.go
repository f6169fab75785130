package volume

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
)

// listNames is "name driver" for each volume List returns.
func listNames(t *testing.T, s *Service, f filters.Args) []string {
	t.Helper()
	vols, err := s.List(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range vols {
		out = append(out, v.Name+" "+v.Driver)
	}
	return out
}

// TestPluginList: `volume ls` merges berth's records with what each volume
// plugin in the plugin directories lists, as dockerd does; a driver
// filter asks only that driver; a plugin that cannot list is a warning
// and its volumes are listed from berth's records; dead sockets and
// plugins of other kinds are left out quietly.
func TestPluginList(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	dir := t.TempDir()
	tp := newTestPlugin(t)
	tp.listenUnix(t, filepath.Join(dir, "tp.sock"))
	other := newTestPlugin(t)
	other.listenUnix(t, filepath.Join(dir, "other", "other.sock"))
	netp := newTestPlugin(t)
	netp.implements = []string{"NetworkDriver"}
	netp.listenUnix(t, filepath.Join(dir, "netplugin.sock"))
	dead, err := listenAndClose(filepath.Join(dir, "dead.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dead) })
	r.openWithPlugins(dir)

	r.create("loc", nil, nil)
	if _, err := r.svc.Create(ctx, "mine", "tp", nil, map[string]string{"team": "a"}); err != nil {
		t.Fatal(err)
	}
	// Volumes made behind berth's back: the plugins know them, berth does not.
	tp.mu.Lock()
	tp.vols["outofband"] = true
	tp.mu.Unlock()
	other.mu.Lock()
	other.vols["loc"] = true // the name is a local volume's: not listed twice
	other.vols["theirs"] = true
	other.mu.Unlock()

	want := []string{"loc local", "mine tp", "outofband tp", "theirs other"}
	if got := listNames(t, r.svc, filters.Args{}); !slices.Equal(got, want) {
		t.Fatalf("list: %v, want %v", got, want)
	}
	vols, warnings, err := r.svc.ListWarnings(ctx, filters.Args{"name": {"o"}})
	if err != nil || len(warnings) != 0 {
		t.Fatalf("ListWarnings: %v %v", warnings, err)
	}
	for _, v := range vols {
		switch v.Name {
		case "mine":
			t.Errorf("name filter o matched %q", v.Name)
		case "outofband":
			if v.Mountpoint != filepath.Join(tp.dataDir, "outofband") || v.Scope != "global" || len(v.Labels) != 0 || v.CreatedAt != "0001-01-01T00:00:00Z" {
				t.Errorf("a plugin-only volume: %+v", v)
			}
		}
	}
	if got := listNames(t, r.svc, filters.Args{"label": {"team=a"}}); !slices.Equal(got, []string{"mine tp"}) {
		t.Errorf("label filter (labels from berth's record): %v", got)
	}

	// A driver filter asks that driver alone.
	before := len(other.methods())
	if got := listNames(t, r.svc, filters.Args{"driver": {"tp"}}); !slices.Equal(got, []string{"mine tp", "outofband tp"}) {
		t.Errorf("driver=tp: %v", got)
	}
	if got := listNames(t, r.svc, filters.Args{"driver": {"local"}}); !slices.Equal(got, []string{"loc local"}) {
		t.Errorf("driver=local: %v", got)
	}
	if after := len(other.methods()); after != before {
		t.Errorf("a driver filter still asked another plugin: %v", other.methods()[before:])
	}

	// A plugin that fails to list: a warning, and berth's record instead.
	tp.mu.Lock()
	tp.fail["VolumeDriver.List"] = "backend down"
	tp.mu.Unlock()
	vols, warnings, err = r.svc.ListWarnings(ctx, filters.Args{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(warnings, []string{"list tp: backend down"}) {
		t.Errorf("warnings %q", warnings)
	}
	var names []string
	for _, v := range vols {
		names = append(names, v.Name)
	}
	if !slices.Equal(names, []string{"loc", "mine", "theirs"}) {
		t.Errorf("list with tp failing: %v", names)
	}
}

// listenAndClose leaves a socket file nobody listens on.
func listenAndClose(path string) (string, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return "", err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	return path, ln.Close()
}

// TestPluginGet: inspecting a plugin's volume asks the plugin
// (VolumeDriver.Get) for its mount point, creation time and status; a
// volume the plugin no longer has is not found. Inspect also finds a
// plugin's volume berth has no record of; Get (what containers use) does not.
func TestPluginGet(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	dir := t.TempDir()
	tp := newTestPlugin(t)
	tp.listenUnix(t, filepath.Join(dir, "tp.sock"))
	r.openWithPlugins(dir)
	if _, err := r.svc.Create(ctx, "v1", "tp", nil, map[string]string{"l": "1"}); err != nil {
		t.Fatal(err)
	}
	v, err := r.svc.Get(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Mountpoint != filepath.Join(tp.dataDir, "v1") || v.CreatedAt != "2020-01-02T03:04:05Z" || v.Status["health"] != "good" || v.Labels["l"] != "1" || v.Scope != "global" {
		t.Fatalf("Get: %+v", v)
	}
	if n := strings.Count(strings.Join(tp.methods(), " "), "VolumeDriver.Get"); n != 2 {
		t.Errorf("VolumeDriver.Get called %d times (create, inspect), want 2: %v", n, tp.methods())
	}

	tp.mu.Lock()
	tp.vols["outofband"] = true
	delete(tp.vols, "v1")
	tp.mu.Unlock()
	if _, err := r.svc.Get(ctx, "v1"); !errdefs.IsNotFound(err) {
		t.Errorf("Get of a volume its plugin lost: %v", err)
	}
	if _, err := r.svc.Get(ctx, "outofband"); !errdefs.IsNotFound(err) {
		t.Errorf("Get adopted a plugin's volume by name: %v", err)
	}
	v, err = r.svc.Inspect(ctx, "outofband")
	if err != nil || v.Driver != "tp" || v.Status["health"] != "good" {
		t.Errorf("Inspect of a plugin-only volume: %+v, %v", v, err)
	}
	if _, err := r.svc.Inspect(ctx, "nowhere"); !errdefs.IsNotFound(err) {
		t.Errorf("Inspect of a volume nobody has: %v", err)
	}
}
