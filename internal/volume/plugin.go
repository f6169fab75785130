package volume

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/volume"

	"berth/internal/errdefs"
)

// Volume plugins: Docker's v1 plugin protocol, JSON over HTTP POSTs on a
// unix socket (or TCP) that a third-party process serves. A plugin is found
// by name as dockerd finds it: a socket NAME.sock or NAME/NAME.sock, or a
// spec file NAME.spec (a URL on one line) or NAME.json ({"Addr": URL}) in
// the plugin directories. It is activated once (Plugin.Activate must list
// "VolumeDriver") and then driven with VolumeDriver.* calls.

// DefaultPluginDirs are where dockerd looks for v1 plugins: sockets first,
// then spec files.
func DefaultPluginDirs() []string {
	return []string{"/run/docker/plugins", "/etc/docker/plugins", "/usr/lib/docker/plugins"}
}

// pluginMediaType is the v1 plugin protocol's content type.
const pluginMediaType = "application/vnd.docker.plugins.v1.2+json"

// plugin is one activated volume plugin.
type plugin struct {
	name   string
	base   string // http://host[:port] the requests go to
	client *http.Client
	scope  string // "local" or "global", from VolumeDriver.Capabilities
}

// errPluginNotFound is returned by findPlugin when no directory has name.
var errPluginNotFound = errors.New("plugin not found")

// findPlugin looks name up in dirs and returns the address it is served at
// as a URL (unix:///path or tcp://host:port).
func findPlugin(dirs []string, name string) (*url.URL, error) {
	if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return nil, errPluginNotFound
	}
	for _, dir := range dirs {
		for _, p := range []string{filepath.Join(dir, name+".sock"), filepath.Join(dir, name, name+".sock")} {
			fi, err := os.Stat(p)
			if err == nil && fi.Mode()&fs.ModeSocket != 0 {
				return &url.URL{Scheme: "unix", Path: p}, nil
			}
		}
		for _, ext := range []string{".spec", ".json"} {
			for _, p := range []string{filepath.Join(dir, name+ext), filepath.Join(dir, name, name+ext)} {
				data, err := os.ReadFile(p)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("read plugin spec %s: %w", p, err)
				}
				return parseSpec(p, ext, data)
			}
		}
	}
	return nil, errPluginNotFound
}

// parseSpec reads a spec file: .spec holds the address, .json an object
// with Addr (TLS settings in it are not supported).
func parseSpec(path, ext string, data []byte) (*url.URL, error) {
	addr := strings.TrimSpace(string(data))
	if ext == ".json" {
		var spec struct {
			Addr      string
			TLSConfig *json.RawMessage
		}
		if err := json.Unmarshal(data, &spec); err != nil {
			return nil, fmt.Errorf("plugin spec %s: %w", path, err)
		}
		if spec.TLSConfig != nil && string(*spec.TLSConfig) != "null" {
			return nil, fmt.Errorf("plugin spec %s: TLSConfig is not supported", path)
		}
		addr = strings.TrimSpace(spec.Addr)
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("plugin spec %s: %w", path, err)
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return nil, fmt.Errorf("plugin spec %s: unix address without a path: %q", path, addr)
		}
	case "tcp":
		if u.Host == "" {
			return nil, fmt.Errorf("plugin spec %s: tcp address without a host: %q", path, addr)
		}
	default:
		return nil, fmt.Errorf("plugin spec %s: unsupported address %q (want unix:// or tcp://)", path, addr)
	}
	return u, nil
}

// newPlugin makes a client for the plugin served at addr.
func newPlugin(name string, addr *url.URL) *plugin {
	tr := &http.Transport{DisableKeepAlives: true}
	base := "http://" + addr.Host
	if addr.Scheme == "unix" {
		sock := addr.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		base = "http://plugin"
	}
	return &plugin{name: name, base: base, client: &http.Client{Transport: tr}, scope: "local"}
}

// call POSTs req (nil: an empty body) to /method and decodes the answer
// into resp. A non-200 status or a non-empty "Err" in the answer is an
// error carrying the plugin's text.
func (p *plugin) call(ctx context.Context, method string, req, resp any) error {
	var body io.Reader = http.NoBody
	if req != nil {
		data, err := json.Marshal(req)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/"+method, body)
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", pluginMediaType)
	hr.Header.Set("Accept", pluginMediaType)
	res, err := p.client.Do(hr)
	if err != nil {
		return fmt.Errorf("plugin %s: %s: %w", p.name, method, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("plugin %s: %s: %w", p.name, method, err)
	}
	var e struct{ Err string }
	_ = json.Unmarshal(data, &e)
	if res.StatusCode != http.StatusOK {
		msg := e.Err
		if msg == "" {
			msg = strings.TrimSpace(string(data))
		}
		if msg == "" {
			msg = res.Status
		}
		return fmt.Errorf("%s: %s", method, msg)
	}
	if e.Err != "" {
		return errors.New(e.Err)
	}
	if resp != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, resp); err != nil {
			return fmt.Errorf("plugin %s: %s: decode answer: %w", p.name, method, err)
		}
	}
	return nil
}

// activate performs the handshake and learns the driver's scope.
func (p *plugin) activate(ctx context.Context) error {
	var act struct{ Implements []string }
	if err := p.call(ctx, "Plugin.Activate", nil, &act); err != nil {
		return err
	}
	if !slices.Contains(act.Implements, "VolumeDriver") {
		return fmt.Errorf("plugin %s does not implement VolumeDriver (it implements %v)", p.name, act.Implements)
	}
	var caps struct{ Capabilities struct{ Scope string } }
	// Capabilities is optional in the protocol: a plugin without it is local.
	if err := p.call(ctx, "VolumeDriver.Capabilities", nil, &caps); err == nil && caps.Capabilities.Scope == "global" {
		p.scope = "global"
	}
	return nil
}

// pluginVolume is a volume as a plugin describes it.
type pluginVolume struct {
	Name       string
	Mountpoint string         `json:",omitempty"`
	CreatedAt  string         `json:",omitempty"`
	Status     map[string]any `json:",omitempty"`
}

func (p *plugin) create(ctx context.Context, name string, opts map[string]string) error {
	return p.call(ctx, "VolumeDriver.Create", struct {
		Name string
		Opts map[string]string
	}{name, opts}, nil)
}

func (p *plugin) remove(ctx context.Context, name string) error {
	return p.call(ctx, "VolumeDriver.Remove", struct{ Name string }{name}, nil)
}

func (p *plugin) mount(ctx context.Context, name, id string) (string, error) {
	var resp struct{ Mountpoint string }
	if err := p.call(ctx, "VolumeDriver.Mount", struct{ Name, ID string }{name, id}, &resp); err != nil {
		return "", err
	}
	if !filepath.IsAbs(resp.Mountpoint) {
		return "", fmt.Errorf("plugin %s: VolumeDriver.Mount: mountpoint %q is not an absolute path", p.name, resp.Mountpoint)
	}
	return resp.Mountpoint, nil
}

func (p *plugin) unmount(ctx context.Context, name, id string) error {
	return p.call(ctx, "VolumeDriver.Unmount", struct{ Name, ID string }{name, id}, nil)
}

func (p *plugin) path(ctx context.Context, name string) (string, error) {
	var resp struct{ Mountpoint string }
	err := p.call(ctx, "VolumeDriver.Path", struct{ Name string }{name}, &resp)
	return resp.Mountpoint, err
}

func (p *plugin) get(ctx context.Context, name string) (*pluginVolume, error) {
	var resp struct{ Volume *pluginVolume }
	if err := p.call(ctx, "VolumeDriver.Get", struct{ Name string }{name}, &resp); err != nil {
		return nil, err
	}
	if resp.Volume == nil {
		return nil, fmt.Errorf("plugin %s: VolumeDriver.Get: no volume in the answer", p.name)
	}
	return resp.Volume, nil
}

func (p *plugin) list(ctx context.Context) ([]*pluginVolume, error) {
	var resp struct{ Volumes []*pluginVolume }
	err := p.call(ctx, "VolumeDriver.List", nil, &resp)
	return resp.Volumes, err
}

// notFoundDriver is dockerd's error for a volume driver it cannot find.
func notFoundDriver(name string) error {
	return errdefs.NotFound(fmt.Errorf("error looking up volume plugin %s: plugin %q not found", name, name))
}

// plugin returns the activated plugin called name, finding and activating
// it on first use.
func (s *Service) plugin(ctx context.Context, name string) (*plugin, error) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if p := s.plugins[name]; p != nil {
		return p, nil
	}
	addr, err := findPlugin(s.pluginDirs(), name)
	if errors.Is(err, errPluginNotFound) {
		return nil, notFoundDriver(name)
	}
	if err != nil {
		return nil, fmt.Errorf("error looking up volume plugin %s: %w", name, err)
	}
	p := newPlugin(name, addr)
	if err := p.activate(ctx); err != nil {
		return nil, fmt.Errorf("error looking up volume plugin %s: %w", name, err)
	}
	s.plugins[name] = p
	s.cfg.Logger.Info("activated volume plugin", "plugin", name, "address", addr.String(), "scope", p.scope)
	return p, nil
}

// createPluginLocked creates name with plugin p and records it; the
// plugin's Get supplies the mountpoint shown until the first Mount.
// Preconditions: s.mu held; name has no record.
func (s *Service) createPluginLocked(ctx context.Context, p *plugin, name string, opts, labels map[string]string) (*volume.Volume, error) {
	if err := p.create(ctx, name, opts); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	r := &record{
		Name:      name,
		Driver:    p.name,
		Options:   maps.Clone(opts),
		Labels:    maps.Clone(labels),
		CreatedAt: time.Now().Format(time.RFC3339),
		Scope:     p.scope,
	}
	if v, err := p.get(ctx, name); err == nil {
		r.Mountpoint = v.Mountpoint
	} else {
		s.cfg.Logger.Debug("volume plugin has no Get answer", "plugin", p.name, "volume", name, "error", err)
	}
	if err := putRecord(s.cfg.DB, r); err != nil {
		if rerr := p.remove(ctx, name); rerr != nil {
			s.cfg.Logger.Warn("could not undo a plugin volume's creation", "plugin", p.name, "volume", name, "error", rerr)
		}
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	s.recs[name] = r
	s.publish(events.ActionCreate, name, p.name, nil)
	return s.toAPI(r), nil
}

// acquirePluginLocked mounts r for containerID through its plugin and
// returns the plugin's mountpoint. Preconditions: s.mu held.
func (s *Service) acquirePluginLocked(ctx context.Context, r *record, containerID string) (string, error) {
	if r.hasHolder(containerID) && r.Mountpoint != "" {
		return r.Mountpoint, nil
	}
	p, err := s.plugin(ctx, r.Driver)
	if err != nil {
		return "", fmt.Errorf("acquire volume %s: %w", r.Name, err)
	}
	mp, err := p.mount(ctx, r.Name, containerID)
	if err != nil {
		return "", fmt.Errorf("acquire volume %s: %w", r.Name, err)
	}
	next := *r
	next.Mountpoint = mp
	if !r.hasHolder(containerID) {
		next.Holders = append(append([]string(nil), r.Holders...), containerID)
	}
	if err := putRecord(s.cfg.DB, &next); err != nil {
		if uerr := p.unmount(ctx, r.Name, containerID); uerr != nil {
			s.cfg.Logger.Warn("could not undo a plugin volume's mount", "plugin", p.name, "volume", r.Name, "error", uerr)
		}
		return "", fmt.Errorf("acquire volume %s: %w", r.Name, err)
	}
	s.recs[r.Name] = &next
	s.publish(events.ActionMount, r.Name, r.Driver, map[string]string{"container": containerID})
	return mp, nil
}

// removePluginLocked removes an unused plugin volume: the record is marked
// removing, the plugin asked to remove its volume, and the record deleted;
// when the plugin refuses, the record is restored. A crash after the mark
// leaves the record for New to delete (the plugin's data is then the
// plugin's to clean up; berth never deletes it itself).
// Preconditions: s.mu held; nobody uses r.
func (s *Service) removePluginLocked(ctx context.Context, r *record) error {
	p, err := s.plugin(ctx, r.Driver)
	if err != nil {
		return fmt.Errorf("remove %s: %w", r.Name, err)
	}
	marked := *r
	marked.State = stateRemoving
	if err := putRecord(s.cfg.DB, &marked); err != nil {
		return fmt.Errorf("remove %s: %w", r.Name, err)
	}
	s.recs[r.Name] = &marked
	if err := p.remove(ctx, r.Name); err != nil {
		if perr := putRecord(s.cfg.DB, r); perr == nil {
			s.recs[r.Name] = r
		}
		return fmt.Errorf("remove %s: %w", r.Name, err)
	}
	if err := deleteRecord(s.cfg.DB, r.Name); err != nil {
		return fmt.Errorf("remove %s: %w", r.Name, err)
	}
	delete(s.recs, r.Name)
	delete(s.refs, r.Name)
	s.publish(events.ActionDestroy, r.Name, r.Driver, nil)
	return nil
}
