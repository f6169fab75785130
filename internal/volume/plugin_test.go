package volume

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"berth/internal/errdefs"
)

// pluginCall is one request a test plugin received.
type pluginCall struct {
	Method      string
	ContentType string
	Body        map[string]any
}

// testPlugin is a v1 volume plugin served by net/http, recording every
// request. fail maps a method to the Err it answers with; status (when
// set for a method) is the HTTP status of that failure.
type testPlugin struct {
	dataDir    string
	implements []string

	mu     sync.Mutex
	calls  []pluginCall
	fail   map[string]string
	status map[string]int
	vols   map[string]bool // the volumes it has: made by Create, dropped by Remove
}

func newTestPlugin(t *testing.T) *testPlugin {
	return &testPlugin{dataDir: t.TempDir(), implements: []string{"VolumeDriver"}, fail: map[string]string{}, status: map[string]int{}, vols: map[string]bool{}}
}

// serve answers on ln until the test ends.
func (p *testPlugin) serve(t *testing.T, ln net.Listener) {
	t.Helper()
	srv := &http.Server{Handler: p}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// listenUnix serves the plugin on a unix socket at path.
func (p *testPlugin) listenUnix(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(t, ln)
}

func (p *testPlugin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/")
	body := map[string]any{}
	_ = json.NewDecoder(r.Body).Decode(&body)
	p.mu.Lock()
	p.calls = append(p.calls, pluginCall{Method: method, ContentType: r.Header.Get("Content-Type"), Body: body})
	errText, status := p.fail[method], p.status[method]
	p.mu.Unlock()
	w.Header().Set("Content-Type", pluginMediaType)
	if errText != "" {
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"Err": errText})
		return
	}
	name, _ := body["Name"].(string)
	mp := filepath.Join(p.dataDir, name)
	var resp any
	switch method {
	case "Plugin.Activate":
		resp = map[string]any{"Implements": p.implements}
	case "VolumeDriver.Capabilities":
		resp = map[string]any{"Capabilities": map[string]string{"Scope": "global"}}
	case "VolumeDriver.Create", "VolumeDriver.Remove":
		p.mu.Lock()
		p.vols[name] = method == "VolumeDriver.Create"
		p.mu.Unlock()
		resp = map[string]string{"Err": ""}
	case "VolumeDriver.Unmount":
		resp = map[string]string{"Err": ""}
	case "VolumeDriver.Mount":
		if err := os.MkdirAll(mp, 0o755); err != nil {
			resp = map[string]string{"Err": err.Error()}
			break
		}
		resp = map[string]string{"Mountpoint": mp}
	case "VolumeDriver.Path":
		resp = map[string]string{"Mountpoint": mp}
	case "VolumeDriver.Get":
		p.mu.Lock()
		has := p.vols[name]
		p.mu.Unlock()
		if !has {
			resp = map[string]string{"Err": "no such volume"}
			break
		}
		resp = map[string]any{"Volume": map[string]any{"Name": name, "Mountpoint": mp, "CreatedAt": "2020-01-02T03:04:05Z", "Status": map[string]string{"health": "good"}}}
	case "VolumeDriver.List":
		var vols []map[string]string
		p.mu.Lock()
		for v, has := range p.vols {
			if has {
				vols = append(vols, map[string]string{"Name": v, "Mountpoint": filepath.Join(p.dataDir, v)})
			}
		}
		p.mu.Unlock()
		resp = map[string]any{"Volumes": vols}
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// methods lists the methods called so far.
func (p *testPlugin) methods() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.calls))
	for _, c := range p.calls {
		out = append(out, c.Method)
	}
	return out
}

func (p *testPlugin) call(method string) (pluginCall, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.calls {
		if c.Method == method {
			return c, true
		}
	}
	return pluginCall{}, false
}

// openWithPlugins (re)starts r's service searching dirs for plugins.
func (r *rig) openWithPlugins(dirs ...string) {
	r.t.Helper()
	svc, err := New(context.Background(), Config{DB: r.db, Root: r.root, Events: r.bus, PluginDirs: dirs})
	if err != nil {
		r.t.Fatal(err)
	}
	r.svc = svc
}

// TestPluginLifecycle drives a plugin volume through create, mount,
// unmount and remove, across a service restart, and checks the plugin saw
// the protocol's requests in order with the right bodies.
func TestPluginLifecycle(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	dir := t.TempDir()
	p := newTestPlugin(t)
	p.listenUnix(t, filepath.Join(dir, "tp.sock"))
	r.openWithPlugins(dir)

	v, err := r.svc.Create(ctx, "v1", "tp", map[string]string{"size": "1g", "anything": "x"}, map[string]string{"l": "1"})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(p.dataDir, "v1")
	if v.Driver != "tp" || v.Mountpoint != want || v.Scope != "global" || v.Labels["l"] != "1" {
		t.Fatalf("created: %+v", v)
	}
	// Creating it again, without a driver or with the same one, returns it.
	for _, driver := range []string{"", "tp"} {
		if again, err := r.svc.Create(ctx, "v1", driver, nil, nil); err != nil || again.Driver != "tp" {
			t.Fatalf("create again with %q: %+v, %v", driver, again, err)
		}
	}
	if _, err := r.svc.Create(ctx, "v1", "local", nil, nil); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "driver 'tp' already has volume 'v1'") {
		t.Fatalf("create with another driver: %v", err)
	}

	path, err := r.svc.Acquire(ctx, "v1", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if path != want {
		t.Fatalf("Acquire = %q, want %q", path, want)
	}
	if err := os.WriteFile(filepath.Join(path, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Remove(ctx, "v1", true); !errdefs.IsConflict(err) {
		t.Fatalf("remove while mounted: %v", err)
	}
	if _, called := p.call("VolumeDriver.Remove"); called {
		t.Fatal("plugin asked to remove a volume in use")
	}

	// A restart keeps the record; the plugin is found and activated again.
	r.openWithPlugins(dir)
	list, err := r.svc.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Driver != "tp" || list[0].Mountpoint != want {
		t.Fatalf("list after restart: %+v", list)
	}
	if size, refs := r.svc.Usage(ctx, "v1"); size != -1 || refs != 1 {
		t.Fatalf("Usage = %d, %d", size, refs)
	}
	if err := r.svc.Release(ctx, "v1", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Remove(ctx, "v1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Get(ctx, "v1"); !errdefs.IsNotFound(err) {
		t.Fatalf("get after remove: %v", err)
	}
	// The plugin's data is the plugin's: berth does not delete it.
	if _, err := os.Stat(filepath.Join(want, "f")); err != nil {
		t.Fatal(err)
	}

	wantOrder := []string{
		"Plugin.Activate", "VolumeDriver.Capabilities", "VolumeDriver.Create", "VolumeDriver.Get", "VolumeDriver.Mount",
		"Plugin.Activate", "VolumeDriver.Capabilities", "VolumeDriver.List", "VolumeDriver.Unmount", "VolumeDriver.Remove",
	}
	if got := p.methods(); !slices.Equal(got, wantOrder) {
		t.Fatalf("plugin calls:\n got %v\nwant %v", got, wantOrder)
	}
	bodies := []struct {
		method string
		want   map[string]any
	}{
		{"VolumeDriver.Create", map[string]any{"Name": "v1", "Opts": map[string]any{"size": "1g", "anything": "x"}}},
		{"VolumeDriver.Mount", map[string]any{"Name": "v1", "ID": "c1"}},
		{"VolumeDriver.Unmount", map[string]any{"Name": "v1", "ID": "c1"}},
		{"VolumeDriver.Remove", map[string]any{"Name": "v1"}},
	}
	for _, b := range bodies {
		c, _ := p.call(b.method)
		gotJSON, _ := json.Marshal(c.Body)
		wantJSON, _ := json.Marshal(b.want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%s body = %s, want %s", b.method, gotJSON, wantJSON)
		}
		if c.ContentType != pluginMediaType {
			t.Errorf("%s Content-Type = %q", b.method, c.ContentType)
		}
	}
}

// TestPluginErrors: a plugin's Err (with status 200 or an error status)
// fails the operation with its text and leaves berth's records as they were.
func TestPluginErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		method  string
		status  int
		run     func(s *Service) error
		wantErr string
		check   func(t *testing.T, s *Service)
	}{
		{
			name: "create", method: "VolumeDriver.Create",
			run:     func(s *Service) error { _, err := s.Create(ctx, "vol", "tp", nil, nil); return err },
			wantErr: "create vol: disk full",
			check: func(t *testing.T, s *Service) {
				if _, err := s.Get(ctx, "vol"); !errdefs.IsNotFound(err) {
					t.Errorf("volume recorded after a failed create: %v", err)
				}
			},
		},
		{
			name: "create with an error status", method: "VolumeDriver.Create", status: http.StatusInternalServerError,
			run:     func(s *Service) error { _, err := s.Create(ctx, "vol", "tp", nil, nil); return err },
			wantErr: "create vol: VolumeDriver.Create: disk full",
		},
		{
			name: "mount", method: "VolumeDriver.Mount",
			run: func(s *Service) error {
				if _, err := s.Create(ctx, "vol", "tp", nil, nil); err != nil {
					return err
				}
				_, err := s.Acquire(ctx, "vol", "c1")
				return err
			},
			wantErr: "acquire volume vol: disk full",
			check: func(t *testing.T, s *Service) {
				if err := s.Remove(ctx, "vol", false); err != nil {
					t.Errorf("a volume whose mount failed is held: %v", err)
				}
			},
		},
		{
			name: "unmount", method: "VolumeDriver.Unmount",
			run: func(s *Service) error {
				if _, err := s.Create(ctx, "vol", "tp", nil, nil); err != nil {
					return err
				}
				if _, err := s.Acquire(ctx, "vol", "c1"); err != nil {
					return err
				}
				return s.Release(ctx, "vol", "c1")
			},
			wantErr: "release volume vol: disk full",
			check: func(t *testing.T, s *Service) {
				if err := s.Remove(ctx, "vol", false); !errdefs.IsConflict(err) {
					t.Errorf("remove of a volume still mounted: %v", err)
				}
			},
		},
		{
			name: "remove", method: "VolumeDriver.Remove",
			run: func(s *Service) error {
				if _, err := s.Create(ctx, "vol", "tp", nil, nil); err != nil {
					return err
				}
				return s.Remove(ctx, "vol", false)
			},
			wantErr: "remove vol: disk full",
			check: func(t *testing.T, s *Service) {
				if v, err := s.Get(ctx, "vol"); err != nil || v.Driver != "tp" {
					t.Errorf("volume after a refused remove: %+v, %v", v, err)
				}
			},
		},
		{
			name: "activate", method: "Plugin.Activate",
			run:     func(s *Service) error { _, err := s.Create(ctx, "vol", "tp", nil, nil); return err },
			wantErr: "error looking up volume plugin tp: disk full",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			dir := t.TempDir()
			p := newTestPlugin(t)
			p.fail[tt.method] = "disk full"
			if tt.status != 0 {
				p.status[tt.method] = tt.status
			}
			p.listenUnix(t, filepath.Join(dir, "tp.sock"))
			r.openWithPlugins(dir)
			err := tt.run(r.svc)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, r.svc)
			}
		})
	}
}

// TestPluginNotVolumeDriver: a plugin that does not implement VolumeDriver
// is refused.
func TestPluginNotVolumeDriver(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	p := newTestPlugin(t)
	p.implements = []string{"NetworkDriver"}
	p.listenUnix(t, filepath.Join(dir, "tp.sock"))
	r.openWithPlugins(dir)
	_, err := r.svc.Create(context.Background(), "vol", "tp", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "does not implement VolumeDriver") {
		t.Fatalf("error = %v", err)
	}
}

// TestPluginDiscovery finds a plugin by socket and by spec file in each
// of the places dockerd looks, and creates a volume through it.
func TestPluginDiscovery(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string, p *testPlugin)
	}{
		{"socket", func(t *testing.T, dir string, p *testPlugin) {
			p.listenUnix(t, filepath.Join(dir, "tp.sock"))
		}},
		{"socket in a directory", func(t *testing.T, dir string, p *testPlugin) {
			p.listenUnix(t, filepath.Join(dir, "tp", "tp.sock"))
		}},
		{"spec file with a unix address", func(t *testing.T, dir string, p *testPlugin) {
			sock := filepath.Join(t.TempDir(), "elsewhere.sock")
			p.listenUnix(t, sock)
			writeSpec(t, filepath.Join(dir, "tp.spec"), "unix://"+sock+"\n")
		}},
		{"spec file with a tcp address", func(t *testing.T, dir string, p *testPlugin) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p.serve(t, ln)
			writeSpec(t, filepath.Join(dir, "tp", "tp.spec"), "tcp://"+ln.Addr().String())
		}},
		{"json spec file", func(t *testing.T, dir string, p *testPlugin) {
			sock := filepath.Join(t.TempDir(), "elsewhere.sock")
			p.listenUnix(t, sock)
			writeSpec(t, filepath.Join(dir, "tp.json"), `{"Name":"tp","Addr":"unix://`+sock+`"}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			empty, dir := t.TempDir(), t.TempDir()
			p := newTestPlugin(t)
			tt.setup(t, dir, p)
			// The second directory is searched when the first has nothing.
			r.openWithPlugins(empty, dir)
			v, err := r.svc.Create(context.Background(), "vol", "tp", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if v.Driver != "tp" {
				t.Fatalf("driver %q", v.Driver)
			}
			if got := p.methods(); len(got) < 3 || got[0] != "Plugin.Activate" || got[2] != "VolumeDriver.Create" {
				t.Fatalf("plugin calls %v", got)
			}
		})
	}
}

func writeSpec(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPluginLookupFailures: an unknown driver keeps dockerd's message, and
// bad spec files say what is wrong with them.
func TestPluginLookupFailures(t *testing.T) {
	tests := []struct {
		name     string
		spec     string // tp.spec's content; "" for none
		notFound bool
		wantErr  string
	}{
		{"unknown", "", true, `error looking up volume plugin tp: plugin "tp" not found`},
		{"bad scheme", "http://example.com", false, `unsupported address "http://example.com"`},
		{"unix without a path", "unix://", false, "unix address without a path"},
		{"nothing listening", "unix:///nonexistent/tp.sock", false, "Plugin.Activate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			dir := t.TempDir()
			if tt.spec != "" {
				writeSpec(t, filepath.Join(dir, "tp.spec"), tt.spec)
			}
			r.openWithPlugins(dir)
			_, err := r.svc.Create(context.Background(), "vol", "tp", nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q in it", err, tt.wantErr)
			}
			if errdefs.IsNotFound(err) != tt.notFound {
				t.Fatalf("NotFound = %v for %v", errdefs.IsNotFound(err), err)
			}
			if _, err := r.svc.Get(context.Background(), "vol"); !errdefs.IsNotFound(err) {
				t.Fatalf("volume recorded: %v", err)
			}
		})
	}
	if _, err := findPlugin([]string{t.TempDir()}, "../x"); !errors.Is(err, errPluginNotFound) {
		t.Fatalf("a name with a slash: %v", err)
	}
}
