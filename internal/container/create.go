package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"berth/internal/errdefs"
	"berth/internal/image"
	"berth/internal/runtime"
)

// CreateRequest is a validated request to create a container.
type CreateRequest struct {
	Name       string
	Config     *container.Config
	HostConfig *container.HostConfig
	Networking *network.NetworkingConfig
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Create makes a container from req: the image's configuration merged with
// the request's, a writable layer, and a record in the store. Nothing is
// left behind when it fails.
func (s *Service) Create(ctx context.Context, req CreateRequest) (*Container, []string, error) {
	if req.Config == nil {
		return nil, nil, errdefs.Invalid(fmt.Errorf("config cannot be empty in order to create a container"))
	}
	if req.HostConfig == nil {
		req.HostConfig = &container.HostConfig{}
	}
	if req.Name != "" && !validName.MatchString(req.Name) {
		return nil, nil, errdefs.Invalid(fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.Name))
	}
	if err := validateConfig(req.Config); err != nil {
		return nil, nil, err
	}
	if err := s.validateHostConfig(req.HostConfig); err != nil {
		return nil, nil, err
	}
	warnings, err := s.createResources(req.HostConfig)
	if err != nil {
		return nil, nil, err
	}
	if req.Config.Image == "" {
		return nil, nil, errdefs.Invalid(fmt.Errorf("no command specified"))
	}
	img, err := s.cfg.Images.Resolve(ctx, req.Config.Image)
	if err != nil {
		return nil, nil, err
	}
	cfg := mergeImageConfig(req.Config, img)
	// An entrypoint of one empty string (`--entrypoint ""`) clears the
	// image's.
	if len(cfg.Entrypoint) == 1 && cfg.Entrypoint[0] == "" {
		cfg.Entrypoint = nil
	}
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		return nil, nil, errdefs.Invalid(fmt.Errorf("no command specified"))
	}

	// `docker run` starts the container next: a head start for the
	// runtime's cgroup write (see runtime.PrimeCgroupMigration).
	runtime.PrimeCgroupMigration()
	c := newContainer()
	c.ID = newID()
	c.Created = time.Now().UTC()
	c.Config = cfg
	c.HostConfig = req.HostConfig
	c.ImageID = img.ID
	c.State.Status = container.StateCreated
	args := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	c.Path, c.Args = args[0], args[1:]
	if c.Config.Hostname == "" {
		if c.HostConfig.NetworkMode.IsHost() {
			c.Config.Hostname, _ = os.Hostname()
		} else {
			c.Config.Hostname = ShortID(c.ID)
		}
	}
	s.applyDefaults(c)
	if err := checkLogConfig(c.HostConfig.LogConfig); err != nil {
		return nil, nil, err
	}
	if c.Networks, err = s.resolveNetworks(c.HostConfig, req.Networking); err != nil { // network.go
		return nil, nil, err
	}

	if err := os.MkdirAll(s.dataDir(c.ID), 0o710); err != nil {
		return nil, nil, err
	}
	if err := s.cfg.Images.PrepareRootfs(ctx, c.ID, img.ID); err != nil {
		os.RemoveAll(s.dataDir(c.ID))
		return nil, nil, err
	}
	undo := func() {
		logErr(s.log, "undo create: remove rootfs", s.cfg.Images.RemoveRootfs(context.WithoutCancel(ctx), c.ID))
		os.RemoveAll(s.dataDir(c.ID))
		s.dropMounts(context.WithoutCancel(ctx), c, false) // mounts.go
	}
	if err := s.createMounts(ctx, c); err != nil { // mounts.go: -v, --mount, --volumes-from, VOLUME
		undo()
		return nil, nil, err
	}
	if req.Name != "" {
		c.Name = "/" + strings.TrimPrefix(req.Name, "/")
		if err := s.store.add(c); err != nil {
			undo()
			return nil, nil, err
		}
	} else {
		for attempt := 0; ; attempt++ {
			c.Name = "/" + randomName(attempt)
			err := s.store.add(c)
			if err == nil {
				break
			}
			if !errdefs.IsConflict(err) || attempt > 10 {
				undo()
				return nil, nil, err
			}
		}
	}
	// The volumes this create made now belong to the volume store: only a
	// failed create undoes them.
	c.mu.Lock()
	for i := range c.MountPoints {
		c.MountPoints[i].created = false
	}
	c.mu.Unlock()
	s.publish(c, "create", nil)
	return c, warnings, nil
}

// validateConfig rejects, as dockerd does at create time, a relative
// working directory, an unknown stop signal and health-check durations
// under a millisecond; it cleans the working directory's path.
func validateConfig(cfg *container.Config) error {
	if wd := cfg.WorkingDir; wd != "" {
		if !path.IsAbs(wd) {
			return errdefs.Invalid(fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path", wd))
		}
		cfg.WorkingDir = path.Clean(wd)
	}
	if cfg.StopSignal != "" {
		if _, err := ParseSignal(cfg.StopSignal); err != nil {
			return err
		}
	}
	hc := cfg.Healthcheck
	if hc == nil {
		return nil
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", hc.Interval}, {"Timeout", hc.Timeout}, {"StartPeriod", hc.StartPeriod}, {"StartInterval", hc.StartInterval}} {
		if d.v != 0 && d.v < container.MinimumDuration {
			return errdefs.Invalid(fmt.Errorf("%s in Healthcheck cannot be less than %s", d.name, container.MinimumDuration))
		}
	}
	if hc.Retries < 0 {
		return errdefs.Invalid(errors.New("Retries in Healthcheck cannot be negative"))
	}
	return nil
}

// validateHostConfig rejects what dockerd rejects at create time.
func (s *Service) validateHostConfig(hc *container.HostConfig) error {
	if hc.Runtime != "" {
		if _, ok := s.cfg.Runtimes[hc.Runtime]; !ok {
			return errdefs.Invalid(fmt.Errorf("unknown or invalid runtime name: %s", hc.Runtime))
		}
	}
	if err := container.ValidateRestartPolicy(hc.RestartPolicy); err != nil {
		return errdefs.Invalid(err)
	}
	if err := runtime.CheckCapabilities(hc.CapAdd, hc.CapDrop); err != nil {
		return err
	}
	if err := s.checkLinks(hc); err != nil {
		return err
	}
	if hc.AutoRemove && hc.RestartPolicy.Name != "" && hc.RestartPolicy.Name != "no" {
		return errdefs.Invalid(fmt.Errorf("can't create 'AutoRemove' container with restart policy"))
	}
	for _, d := range hc.Devices {
		// dockerd checks devices when the container is made (exit 125 from
		// `run`), not when it starts.
		if _, err := os.Stat(d.PathOnHost); err != nil {
			return errdefs.Invalid(fmt.Errorf("error gathering device information while adding custom device %q: %w", d.PathOnHost, errors.Unwrap(err)))
		}
	}
	if s.cfg.Networks == nil {
		nm := string(hc.NetworkMode)
		switch {
		case nm == "", nm == "default", nm == "bridge", nm == "none", nm == "host":
		default:
			return errdefs.NotFound(fmt.Errorf("network %s not found", nm))
		}
	}
	return nil
}

// checkLinks refuses, as dockerd does at create, a --link to a container
// that does not exist or that shares the host's network. On a user-defined
// network a link is only an alias, and nothing is checked.
func (s *Service) checkLinks(hc *container.HostConfig) error {
	if hc.NetworkMode.IsUserDefined() {
		return nil
	}
	for _, l := range hc.Links {
		name, _, _ := strings.Cut(l, ":")
		name = strings.TrimPrefix(name, "/")
		if name == "" {
			return errdefs.Invalid(fmt.Errorf("bad format for links: %s", l))
		}
		// A container in another's network namespace links to that one;
		// such a chain is followed 16 deep at most (a cycle cannot be made
		// through create, but a record could hold one).
		for range 16 {
			other, err := s.store.get(name)
			if err != nil {
				return errdefs.Invalid(fmt.Errorf("could not get container for %s: %s", name, err))
			}
			other.mu.Lock()
			mode := other.HostConfig.NetworkMode
			other.mu.Unlock()
			if mode.IsHost() {
				return errdefs.Invalid(errors.New("conflicting options: host type networking can't be used with links. This would result in undefined behavior"))
			}
			if !mode.IsContainer() {
				break
			}
			name = mode.ConnectedContainer()
		}
	}
	return nil
}

// applyDefaults fills what the daemon decides: runtime, log config.
func (s *Service) applyDefaults(c *Container) {
	hc := c.HostConfig
	if hc.Runtime == "" {
		hc.Runtime = s.cfg.DefaultRuntime
	}
	c.Runtime = hc.Runtime
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = s.cfg.LogDriver
		if len(hc.LogConfig.Config) == 0 && len(s.cfg.LogOpts) > 0 {
			hc.LogConfig.Config = map[string]string{}
			for k, v := range s.cfg.LogOpts {
				hc.LogConfig.Config[k] = v
			}
		}
	}
	if hc.NetworkMode == "" || hc.NetworkMode == "default" {
		hc.NetworkMode = "bridge"
	}
	if hc.RestartPolicy.Name == "" {
		hc.RestartPolicy.Name = "no"
	}
}

// initialNetworks is what inspect shows under NetworkSettings.Networks until
// the network service assigns endpoints.
func initialNetworks(mode container.NetworkMode, _ *network.NetworkingConfig) map[string]*network.EndpointSettings {
	name := string(mode)
	return map[string]*network.EndpointSettings{name: {NetworkID: name}}
}

// mergeImageConfig applies the image's defaults under the request, as
// dockerd's merge does: env by key, labels, and Cmd only when the request
// did not set an entrypoint of its own.
func mergeImageConfig(req *container.Config, img *image.Image) *container.Config {
	cfg := *req
	ic := img.Config.Config
	if cfg.User == "" {
		cfg.User = ic.User
	}
	if len(cfg.Env) == 0 {
		cfg.Env = append([]string{}, ic.Env...)
	} else {
		cfg.Env = mergeEnv(ic.Env, cfg.Env)
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = ic.WorkingDir
	}
	if len(cfg.Entrypoint) == 0 {
		cfg.Entrypoint = ic.Entrypoint
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = ic.Cmd
		}
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = ic.StopSignal
	}
	if len(ic.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range ic.Labels {
			labels[k] = v
		}
		for k, v := range cfg.Labels {
			labels[k] = v
		}
		cfg.Labels = labels
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	if cfg.Healthcheck == nil && ic.Healthcheck != nil {
		hc := container.HealthConfig{
			Test: ic.Healthcheck.Test, Interval: ic.Healthcheck.Interval, Timeout: ic.Healthcheck.Timeout,
			StartPeriod: ic.Healthcheck.StartPeriod, Retries: ic.Healthcheck.Retries,
		}
		cfg.Healthcheck = &hc
	}
	if len(ic.Volumes) > 0 {
		// The image's VOLUMEs and the request's (-v /path) together.
		vols := map[string]struct{}{}
		for v := range ic.Volumes {
			vols[v] = struct{}{}
		}
		for v := range cfg.Volumes {
			vols[v] = struct{}{}
		}
		cfg.Volumes = vols
	}
	if cfg.ExposedPorts == nil && len(ic.ExposedPorts) > 0 {
		cfg.ExposedPorts = map[network.Port]struct{}{}
		for p := range ic.ExposedPorts {
			if port, err := network.ParsePort(p); err == nil {
				cfg.ExposedPorts[port] = struct{}{}
			}
		}
	}
	return &cfg
}

func mergeEnv(base, over []string) []string {
	idx := map[string]int{}
	out := append([]string{}, base...)
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
		} else {
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// newID returns 64 hex characters whose short form is not all digits
// (Docker avoids IDs that read as numbers).
func newID() string {
	b := make([]byte, 32)
	for {
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		if strings.Trim(id[:12], "0123456789") != "" {
			return id
		}
	}
}
