package container

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	mevents "github.com/moby/moby/api/types/events"
	bolt "go.etcd.io/bbolt"

	"berth/internal/events"
	"berth/internal/image"
	"berth/internal/runtime"
	"berth/internal/shim"
	"berth/internal/stats"
)

// Images is what containers need from the image service.
type Images interface {
	Resolve(ctx context.Context, ref string) (*image.Image, error)
	PrepareRootfs(ctx context.Context, containerID, imageID string) error
	MountRootfs(ctx context.Context, containerID, target string) error
	UnmountRootfs(ctx context.Context, target string) error
	RemoveRootfs(ctx context.Context, containerID string) error
	RootfsSize(ctx context.Context, containerID string) (rw, virtual int64, err error)
	RootfsContainers(ctx context.Context) ([]string, error)
}

// Runtime is an OCI runtime the daemon may start containers with.
type Runtime struct {
	Path string
	Args []string
	// V1View runs the runtime in berth-shim's cgroup v1 view (crun on a
	// hybrid cgroup host; see shim.ExecInV1View).
	V1View bool
	// SeccompBPF says the runtime takes the default seccomp filter
	// compiled by berthd (crun: runtime.SeccompBPFAnnotation).
	SeccompBPF bool
	// Sealed, when set, is a sealed in-memory copy of the binary that the
	// shim runs instead (see runtime.SealedBinary).
	Sealed *runtime.SealedBinary
}

// command is the runtime's command line for args (its own flags first),
// through shimBinary's v1 view when the runtime needs it.
func (rt Runtime) command(shimBinary string, args ...string) []string {
	var argv []string
	if rt.V1View {
		argv = []string{shimBinary, shim.V1ViewFlag, "--"}
	}
	argv = append(append(argv, rt.Path), rt.Args...)
	return append(argv, args...)
}

// Config is what the container service is built from.
type Config struct {
	DB             *bolt.DB
	DataRoot       string // containers/<id>/ holds hostname, hosts, resolv.conf, logs
	ExecRoot       string // containers/<id>/ holds the bundle, shim socket, exit file
	ShimBinary     string
	Runtimes       map[string]Runtime
	DefaultRuntime string
	LogDriver      string
	LogOpts        map[string]string
	InitPath       string   // tini for --init; "" if the host has none
	HostCaps       []string // the host's bounding set, for --privileged
	CgroupParent   string   // e.g. "berth"
	NoX32          bool     // the kernel has no x32 ABI (runtime.KernelHasX32)
	Images         Images
	Volumes        Volumes  // mounts.go; nil: containers cannot have volumes
	Networks       Networks // network.go; nil: only none and host networking
	DNS            []string // daemon.json dns, dns-search, dns-opts: defaults
	DNSSearch      []string // for containers that set none of their own
	DNSOptions     []string
	Events         *events.Bus
	Logger         *slog.Logger
}

// Service runs containers.
type Service struct {
	cfg   Config
	store *store
	log   *slog.Logger

	// ctx outlives requests: monitors and auto-removal run under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	execMu sync.Mutex
	execs  map[string]*Exec // guarded by execMu; every exec by ID

	statsOnce sync.Once
	stats     *stats.Host // the host's cgroup layout, found on first use
	statsErr  error

	statsMu      sync.Mutex
	statsWanted  time.Time // guarded by statsMu; the last stats request
	statsWarming bool      // guarded by statsMu; warmStats is running
}

// New opens the container store. Call Restore before serving requests.
func New(cfg Config) (*Service, error) {
	st, err := newStore(cfg.DB)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for _, dir := range []string{filepath.Join(cfg.DataRoot, "containers"), filepath.Join(cfg.ExecRoot, "containers")} {
		if err := os.MkdirAll(dir, 0o710); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{cfg: cfg, store: st, log: cfg.Logger, ctx: ctx, cancel: cancel, execs: map[string]*Exec{}}, nil
}

// shimCleanupTimeout bounds a wait for the shim of a container that has
// exited to finish its clean-up (exit file, runtime delete).
const shimCleanupTimeout = 10 * time.Second

// Close stops the service's background work; containers keep running.
// Shims of containers that have just exited are given a moment to finish
// their clean-up, so that none is left half-way when berthd is gone.
func (s *Service) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), shimCleanupTimeout)
	defer cancel()
	for _, c := range s.store.all() {
		c.mu.Lock()
		last := c.lastShim
		c.mu.Unlock()
		if last != nil {
			logErr(s.log, "wait for a shim's clean-up", last.Gone(ctx), "container_id", c.ID)
		}
	}
	s.cancel()
	s.wg.Wait()
}

// Get finds a container by ID, name or ID prefix.
func (s *Service) Get(ref string) (*Container, error) { return s.store.get(ref) }

// ContainersUsingImage lists the IDs of containers created from imageID.
func (s *Service) ContainersUsingImage(imageID string) []string {
	var ids []string
	for _, c := range s.store.all() {
		if c.ImageID == imageID {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Counts returns how many containers are running, paused and stopped.
func (s *Service) Counts() (running, paused, stopped int) {
	for _, c := range s.store.all() {
		c.mu.Lock()
		st := c.State.Status
		c.mu.Unlock()
		switch st {
		case "running", "restarting":
			running++
		case "paused":
			paused++
		default:
			stopped++
		}
	}
	return
}

func (s *Service) dataDir(id string) string { return filepath.Join(s.cfg.DataRoot, "containers", id) }
func (s *Service) execDir(id string) string { return filepath.Join(s.bundlesDir(), id) }

// bundlesDir holds each container's bundle (execDir).
func (s *Service) bundlesDir() string { return filepath.Join(s.cfg.ExecRoot, "containers") }

func (s *Service) publish(c *Container, action string, extra map[string]string) {
	if s.cfg.Events == nil {
		return
	}
	c.mu.Lock()
	attrs := map[string]string{"name": c.displayName(), "image": c.Config.Image}
	for k, v := range c.Config.Labels {
		attrs[k] = v
	}
	id := c.ID
	c.mu.Unlock()
	for k, v := range extra {
		attrs[k] = v
	}
	s.cfg.Events.Publish(mevents.ContainerEventType, mevents.Action(action), id, attrs)
}

func logErr(l *slog.Logger, msg string, err error, args ...any) {
	if err != nil {
		l.Warn(msg, append(args, "error", fmt.Sprint(err))...)
	}
}

// IsRunning reports whether the container with this ID is running.
func (s *Service) IsRunning(id string) bool {
	c, err := s.store.get(id)
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.State.Running()
}
