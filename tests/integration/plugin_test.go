package integration

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// volumePlugin is a v1 volume plugin served from the test process on a
// unix socket in /run/docker/plugins, where berthd looks for plugins. It
// records the methods called and keeps its volumes' data under dataDir.
type volumePlugin struct {
	name    string
	dataDir string

	mu      sync.Mutex
	methods []string
	bodies  map[string]map[string]string // method -> last request body
	vols    map[string]bool              // its volumes: made by Create, dropped by Remove
}

func startVolumePlugin(t *testing.T) *volumePlugin {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	p := &volumePlugin{name: "berth-test-" + hex.EncodeToString(b), dataDir: t.TempDir(), bodies: map[string]map[string]string{}, vols: map[string]bool{}}
	const dir = "/run/docker/plugins"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, p.name+".sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = os.Remove(sock)
	})
	return p
}

func (p *volumePlugin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/")
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	flat := map[string]string{}
	for k, v := range body {
		if s, ok := v.(string); ok {
			flat[k] = s
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.methods = append(p.methods, method)
	p.bodies[method] = flat
	mp := filepath.Join(p.dataDir, filepath.Base(flat["Name"]))
	var resp any = map[string]string{"Err": ""}
	switch method {
	case "VolumeDriver.Create":
		p.vols[flat["Name"]] = true
	case "VolumeDriver.Remove":
		delete(p.vols, flat["Name"])
	case "Plugin.Activate":
		resp = map[string][]string{"Implements": {"VolumeDriver"}}
	case "VolumeDriver.Capabilities":
		resp = map[string]any{"Capabilities": map[string]string{"Scope": "local"}}
	case "VolumeDriver.Mount":
		if err := os.MkdirAll(mp, 0o755); err != nil {
			resp = map[string]string{"Err": err.Error()}
			break
		}
		resp = map[string]string{"Mountpoint": mp}
	case "VolumeDriver.Path":
		resp = map[string]string{"Mountpoint": mp}
	case "VolumeDriver.Get":
		if !p.vols[flat["Name"]] {
			resp = map[string]string{"Err": "no such volume"}
			break
		}
		resp = map[string]any{"Volume": map[string]any{"Name": flat["Name"], "Mountpoint": mp, "Status": map[string]string{"backend": "test"}}}
	case "VolumeDriver.List":
		vols := []map[string]string{}
		for name := range p.vols {
			vols = append(vols, map[string]string{"Name": name, "Mountpoint": filepath.Join(p.dataDir, name)})
		}
		resp = map[string]any{"Volumes": vols}
	}
	w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.2+json")
	_ = json.NewEncoder(w).Encode(resp)
}

// calls returns the methods called so far, leaving out the informational
// ones (Get, Path, List, Capabilities) berthd may call at any time.
func (p *volumePlugin) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.methods {
		switch m {
		case "VolumeDriver.Get", "VolumeDriver.Path", "VolumeDriver.List", "VolumeDriver.Capabilities":
			continue
		}
		out = append(out, m)
	}
	return out
}

func (p *volumePlugin) body(method string) map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bodies[method]
}

// TestVolumePlugin: `volume create --driver` with a third-party plugin,
// a container writing into it, and its removal reach the plugin as the
// protocol's requests in order: Activate, Create, Mount, Unmount, Remove.
func TestVolumePlugin(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		p := startVolumePlugin(t)
		vol := c.uniqueName("plugvol")
		t.Cleanup(func() { _, _, _, _ = d.api("DELETE", "/volumes/"+vol+"?force=1", "", nil) })

		if got := c.okTrim("volume", "create", "--driver", p.name, "--opt", "color=blue", vol); got != vol {
			t.Fatalf("volume create printed %q", got)
		}
		// inspect asks the plugin (VolumeDriver.Get): its status shows.
		if got := c.okTrim("volume", "inspect", "--format", "{{.Driver}} {{.Mountpoint}} {{.Status.backend}}", vol); got != p.name+" "+filepath.Join(p.dataDir, vol)+" test" {
			t.Fatalf("inspect: %q", got)
		}
		if got := lines(c.ok("volume", "ls", "-q", "--filter", "driver="+p.name)); !slices.Equal(got, []string{vol}) {
			t.Fatalf("ls --filter driver: %v", got)
		}
		// ls merges what the plugin lists (VolumeDriver.List) with berth's
		// records: a volume made behind berth's back is listed too.
		outside := c.uniqueName("outside")
		p.mu.Lock()
		p.vols[outside] = true
		p.mu.Unlock()
		want := []string{p.name + " " + outside, p.name + " " + vol}
		slices.Sort(want)
		got := lines(c.ok("volume", "ls", "--filter", "driver="+p.name, "--format", "{{.Driver}} {{.Name}}"))
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("ls of the plugin's volumes: %v, want %v", got, want)
		}
		if all := c.ok("volume", "ls", "-q"); !strings.Contains(all, outside) || !strings.Contains(all, vol) {
			t.Fatalf("plain ls misses the plugin's volumes: %q", all)
		}
		p.mu.Lock()
		delete(p.vols, outside)
		p.mu.Unlock()
		c.ok("run", "--rm", "-v", vol+":/data", "busybox", "sh", "-c", "echo x > /data/f")
		data, err := os.ReadFile(filepath.Join(p.dataDir, vol, "f"))
		if err != nil || string(data) != "x\n" {
			t.Fatalf("the container's file in the plugin's mountpoint: %q, %v", data, err)
		}
		c.ok("volume", "rm", vol)
		r := c.expectExit(1, "volume", "inspect", vol)
		if !strings.Contains(r.stderr, "no such volume") {
			t.Fatalf("inspect after rm: %s", r)
		}

		order := []string{"Plugin.Activate", "VolumeDriver.Create", "VolumeDriver.Mount", "VolumeDriver.Unmount", "VolumeDriver.Remove"}
		if got := p.calls(); !slices.Equal(got, order) {
			t.Fatalf("plugin calls:\n got %v\nwant %v", got, order)
		}
		if b := p.body("VolumeDriver.Create"); b["Name"] != vol {
			t.Errorf("Create body: %v", b)
		}
		mount, unmount := p.body("VolumeDriver.Mount"), p.body("VolumeDriver.Unmount")
		if mount["Name"] != vol || mount["ID"] == "" || unmount["ID"] != mount["ID"] {
			t.Errorf("Mount body %v, Unmount body %v", mount, unmount)
		}
	})
}

// TestVolumePluginUnknown: a driver nobody serves keeps dockerd's message.
func TestVolumePluginUnknown(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		r := c.expectExit(1, "volume", "create", "--driver", "berth-test-nobody", c.uniqueName("plugvol"))
		if !strings.Contains(r.stderr, `error looking up volume plugin berth-test-nobody: plugin "berth-test-nobody" not found`) {
			t.Fatalf("create with an unknown driver: %s", r)
		}
	})
}
