// Package daemon wires berthd together: it opens the stores, builds the
// services and the API server, restores containers on start-up and shuts
// everything down in order. It holds no domain logic of its own.
package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"

	"berth/internal/api/router/container"
	imagerouter "berth/internal/api/router/image"
	"berth/internal/api/router/network"
	"berth/internal/api/router/plugin"
	"berth/internal/api/router/system"
	volumerouter "berth/internal/api/router/volume"
	"berth/internal/api/server"
	"berth/internal/config"
	ctr "berth/internal/container"
	"berth/internal/events"
	"berth/internal/image"
	bnet "berth/internal/network"
	"berth/internal/runtime"
	"berth/internal/shim"
	"berth/internal/volume"
)

// BuildInfo identifies this build of berth.
type BuildInfo struct {
	Version   string
	Commit    string
	BuildTime string
}

// Daemon is a running berthd.
type Daemon struct {
	cfg        config.Config
	build      BuildInfo
	log        *slog.Logger
	id         string
	started    time.Time
	db         *bolt.DB
	events     *events.Bus
	images     *image.Service
	containers *ctr.Service
	volumes    *volume.Service
	networks   *bnet.Service
	runtimes   map[string]ctr.Runtime
	defaultRT  string
	warnings   []string
}

// Run starts berthd with cfg and serves until ctx ends, then shuts down.
func Run(ctx context.Context, cfg config.Config, build BuildInfo, log *slog.Logger) error {
	d := &Daemon{cfg: cfg, build: build, log: log, started: time.Now(), events: events.New()}
	if err := d.prepareDirs(); err != nil {
		return err
	}
	if err := writePidfile(cfg.Pidfile); err != nil {
		return err
	}
	defer os.Remove(cfg.Pidfile)

	var err error
	if d.id, err = loadOrCreateID(filepath.Join(cfg.DataRoot, "engine-id")); err != nil {
		return err
	}
	if err := d.pickRuntimes(); err != nil {
		return err
	}
	d.db, err = bolt.Open(filepath.Join(cfg.DataRoot, "berth.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("open state database: %w", err)
	}
	defer d.db.Close()

	driver := cfg.StorageDriver
	if driver == "overlay" {
		driver = "overlay2"
	}
	if driver == "native" {
		driver = "vfs"
	}
	// The image, volume and network stores open independently of each
	// other; opening them side by side brings the first answered request
	// closer to the start.
	var g errgroup.Group
	g.Go(func() (err error) {
		d.images, err = image.New(ctx, image.Config{
			Root: cfg.DataRoot, Driver: driver, Events: d.events, Logger: log.With("component", "image"),
			RegistryMirrors: cfg.RegistryMirrors, InsecureRegistries: cfg.InsecureRegistries,
			InUse:   func(id string) []string { return d.containers.ContainersUsingImage(id) },
			Running: func(id string) bool { return d.containers.IsRunning(id) },
		})
		if err != nil {
			return fmt.Errorf("open image store: %w", err)
		}
		return nil
	})
	g.Go(func() (err error) {
		// The volume service finishes half-done removals and unmounts
		// unused volumes before any request can see them.
		d.volumes, err = volume.New(ctx, volume.Config{
			DB: d.db, Root: filepath.Join(cfg.DataRoot, "volumes"), Events: d.events, Logger: log.With("component", "volume"),
		})
		if err != nil {
			return fmt.Errorf("open volume store: %w", err)
		}
		return nil
	})
	g.Go(func() (err error) {
		if d.networks, err = d.openNetworks(); err != nil {
			return fmt.Errorf("open networks: %w", err)
		}
		return nil
	})
	err = g.Wait()
	if d.images != nil {
		defer d.images.Close()
	}
	if d.networks != nil {
		defer d.networks.Close()
	}
	if err != nil {
		return err
	}

	shimPath, err := findShim(cfg.ShimPath)
	if err != nil {
		return err
	}
	hostCaps, err := runtime.HostCapabilities()
	if err != nil {
		return err
	}
	d.containers, err = ctr.New(ctr.Config{
		DB: d.db, DataRoot: cfg.DataRoot, ExecRoot: cfg.ExecRoot, ShimBinary: shimPath,
		Runtimes: d.runtimes, DefaultRuntime: d.defaultRT,
		LogDriver: cfg.LogDriver, LogOpts: cfg.LogOpts,
		InitPath: findInit(), HostCaps: hostCaps, CgroupParent: "berth", NoX32: !runtime.KernelHasX32(),
		Images: d.images, Volumes: d.volumes, Networks: d.networks, Events: d.events, Logger: log.With("component", "container"),
		DNSSearch: cfg.DNSSearch, DNSOptions: cfg.DNSOpts, DNS: cfg.DNS,
	})
	if err != nil {
		return err
	}
	if err := d.containers.Restore(ctx); err != nil {
		return fmt.Errorf("restore containers: %w", err)
	}
	d.networks.Restore(ctx, d.containers.IsRunning)

	listeners, err := d.listen()
	if err != nil {
		d.containers.Close()
		return err
	}
	srv := server.New(server.Config{Logger: log, ServerHeader: "berth/" + build.Version + " (linux)"},
		system.NewRouter(d, d.events),
		container.NewRouter(d.containers),
		imagerouter.NewRouter(d.images),
		network.NewRouter(d.networks, d.containers),
		volumerouter.NewRouter(d.volumes),
		plugin.NewRouter(),
	)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(listeners...) }()
	log.Info("API listening", "hosts", strings.Join(cfg.Hosts, ","), "runtime", d.defaultRT, "storage_driver", driver)

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if !cfg.LiveRestore {
		d.containers.Shutdown(shutCtx)
	}
	d.containers.Close()
	return err
}

func (d *Daemon) prepareDirs() error {
	if err := os.MkdirAll(d.cfg.DataRoot, 0o711); err != nil {
		return err
	}
	return os.MkdirAll(d.cfg.ExecRoot, 0o700)
}

// pickRuntimes registers runc and crun (where installed) plus configured
// runtimes, and chooses the default: the configured one, else crun (in
// berth-shim's cgroup v1 view on a hybrid cgroup host), else runc.
func (d *Daemon) pickRuntimes() error {
	d.runtimes = map[string]ctr.Runtime{}
	for _, name := range []string{"runc", "crun"} {
		if p, err := exec.LookPath(name); err == nil {
			// crun loads a seccomp filter compiled beforehand; runc
			// compiles the profile itself.
			d.runtimes[name] = ctr.Runtime{Path: p, SeccompBPF: name == "crun", Sealed: runtime.NewSealedBinary(p)}
		}
	}
	crunOK := true
	if rt, ok := d.runtimes["crun"]; ok && shim.HybridV2Controllers() {
		// crun refuses this hybrid layout as it is, but works in a mount
		// namespace without the v2 hierarchy, which berth-shim provides.
		_, err := findShim(d.cfg.ShimPath)
		crunOK = err == nil
		rt.V1View = crunOK
		d.runtimes["crun"] = rt
	}
	for name, rt := range d.cfg.Runtimes {
		d.runtimes[name] = ctr.Runtime{Path: rt.Path, Args: rt.RuntimeArgs}
	}
	switch {
	case d.cfg.DefaultRuntime != "":
		d.defaultRT = d.cfg.DefaultRuntime
		if d.defaultRT == "crun" && !crunOK {
			d.warnings = append(d.warnings, "WARNING: crun cannot manage this host's hybrid cgroup layout; containers will fail to start with it")
		}
	case d.runtimes["crun"].Path != "" && crunOK:
		d.defaultRT = "crun"
	case d.runtimes["runc"].Path != "":
		d.defaultRT = "runc"
	case d.runtimes["crun"].Path != "":
		d.defaultRT = "crun"
	default:
		return errors.New("no OCI runtime found: install crun or runc")
	}
	if _, ok := d.runtimes[d.defaultRT]; !ok {
		return fmt.Errorf("default runtime %s is not installed", d.defaultRT)
	}
	return nil
}

func findShim(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "berth-shim")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("berth-shim")
	if err != nil {
		return "", errors.New("berth-shim not found next to berthd or in PATH")
	}
	return p, nil
}

// findInit locates the init binary for --init (Debian's tini).
func findInit() string {
	for _, name := range []string{"docker-init", "tini-static", "tini"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// listen opens every configured host. A unix socket is mode 0660, owned
// by root and the configured group when that group exists.
func (d *Daemon) listen() ([]net.Listener, error) {
	var ls []net.Listener
	for _, h := range d.cfg.Hosts {
		proto, addr, ok := strings.Cut(h, "://")
		if !ok {
			proto, addr = "unix", h
		}
		switch proto {
		case "unix":
			if err := os.MkdirAll(filepath.Dir(addr), 0o755); err != nil {
				return nil, err
			}
			if err := os.Remove(addr); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			l, err := net.Listen("unix", addr)
			if err != nil {
				return nil, fmt.Errorf("listen on %s: %w", h, err)
			}
			gid := 0
			if g, err := user.LookupGroup(d.cfg.Group); err == nil {
				gid, _ = strconv.Atoi(g.Gid)
			}
			if err := os.Chown(addr, 0, gid); err != nil {
				return nil, err
			}
			if err := os.Chmod(addr, 0o660); err != nil {
				return nil, err
			}
			ls = append(ls, l)
		case "tcp":
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, fmt.Errorf("listen on %s: %w", h, err)
			}
			ls = append(ls, l)
		default:
			return nil, fmt.Errorf("invalid host %q: unsupported protocol %s", h, proto)
		}
	}
	return ls, nil
}

func writePidfile(path string) error {
	if path == "" {
		return nil
	}
	if data, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid != os.Getpid() {
			if syscall.Kill(pid, 0) == nil {
				if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "berthd" {
					return fmt.Errorf("pid file found, ensure berthd is not running or delete %s", path)
				}
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o644)
}

func loadOrCreateID(path string) (string, error) {
	if data, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(data))) > 0 {
		return strings.TrimSpace(string(data)), nil
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	id := fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}
