package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/diff/apply"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/containerd/v2/plugins/snapshots/native"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay"
	clog "github.com/containerd/log"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"berth/internal/errdefs"
	"berth/internal/events"
)

// Namespace is the containerd namespace every record of berth lives in.
const Namespace = "berth"

// Config is what the image service needs.
type Config struct {
	Root   string // the data root; the service keeps its stores beneath it
	Driver string // "overlay2" (overlayfs snapshots) or "vfs" (full copies)
	Events *events.Bus
	Logger *slog.Logger
	// InUse lists the containers (IDs) created from imageID; rmi answers
	// 409 while it is not empty. Set by the daemon.
	InUse func(imageID string) []string
	// Running reports whether a container is running; a running user of an
	// image is a conflict even `rmi -f` cannot override. Optional: when nil
	// every user counts as stopped.
	Running func(containerID string) bool

	// RegistryMirrors are tried, in order, before Docker Hub for pulls of
	// docker.io/… images (daemon.json "registry-mirrors").
	RegistryMirrors []string
	// InsecureRegistries may be reached over plain HTTP or with an
	// unverified certificate: HOST[:PORT] or CIDR (daemon.json
	// "insecure-registries"). Loopback registries always may.
	InsecureRegistries []string
	// CertsDirs hold per-registry certificates, HOST[:PORT]/ca.crt,
	// client.cert and client.key; nil means /etc/berth/certs.d and
	// /etc/docker/certs.d.
	CertsDirs []string
	// MaxConcurrentDownloads and MaxConcurrentUploads bound the layers a
	// pull or push moves at once; 0 means 3 and 5 as in dockerd.
	MaxConcurrentDownloads int
	MaxConcurrentUploads   int
}

// Image is what a container needs to know of its image.
type Image struct {
	ID       string // "sha256:" + hex of the config digest
	RepoTags []string
	Config   dockerspec.DockerOCIImage
}

// Service owns images, their content and the snapshots of image and
// container file systems.
type Service struct {
	cfg     Config
	log     *slog.Logger
	bolt    *bolt.DB
	db      *metadata.DB
	content content.Store
	sn      snapshots.Snapshotter
	snName  string // the snapshotter's name in the metadata DB: overlayfs or native
	images  images.Store
	leases  leases.Manager
	applier diff.Applier
	clog    *clog.Entry

	// mu serialises changes to image records (import, load, tag, delete,
	// prune) so that checks such as "last tag" hold until the change is made.
	mu sync.Mutex

	// gcKick asks the collector goroutine for a pass; gcStop ends it and
	// gcDone tells Close it has ended.
	gcKick chan struct{}
	gcStop chan struct{}
	gcDone chan struct{}

	cacheMu sync.Mutex
	infos   map[digest.Digest]*imageInfo // guarded by cacheMu; by manifest digest
	sizes   map[string]int64             // guarded by cacheMu; unpacked layer size by chain ID
}

// New opens (or creates) the stores under cfg.Root.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Events == nil {
		cfg.Events = events.New()
	}
	if cfg.InUse == nil {
		cfg.InUse = func(string) []string { return nil }
	}
	if cfg.CertsDirs == nil {
		cfg.CertsDirs = []string{"/etc/berth/certs.d", "/etc/docker/certs.d"}
	}
	if cfg.MaxConcurrentDownloads <= 0 {
		cfg.MaxConcurrentDownloads = 3
	}
	if cfg.MaxConcurrentUploads <= 0 {
		cfg.MaxConcurrentUploads = 5
	}
	s := &Service{
		cfg:   cfg,
		log:   cfg.Logger,
		infos: map[digest.Digest]*imageInfo{},
		sizes: map[string]int64{},
	}
	s.routeContainerdLog()

	if err := os.MkdirAll(cfg.Root, 0o711); err != nil {
		return nil, err
	}
	cs, err := local.NewStore(filepath.Join(cfg.Root, "content"))
	if err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	var sn snapshots.Snapshotter
	switch cfg.Driver {
	case "", "overlay2", "overlay", "overlayfs":
		s.snName = "overlayfs"
		sn, err = overlay.NewSnapshotter(filepath.Join(cfg.Root, "snapshots", "overlayfs"), overlay.WithUpperdirLabel)
	case "vfs", "native":
		s.snName = "native"
		sn, err = native.NewSnapshotter(filepath.Join(cfg.Root, "snapshots", "native"))
	default:
		return nil, errdefs.Invalid(fmt.Errorf("unsupported storage driver: %s", cfg.Driver))
	}
	if err != nil {
		return nil, fmt.Errorf("%s snapshotter: %w", s.snName, err)
	}
	bdb, err := bolt.Open(filepath.Join(cfg.Root, "metadata.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		sn.Close()
		return nil, fmt.Errorf("open metadata.db: %w", err)
	}
	s.bolt = bdb
	s.db = metadata.NewDB(bdb, cs, map[string]snapshots.Snapshotter{s.snName: sn})
	ctx = s.ns(ctx)
	if err := s.db.Init(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("init metadata: %w", err)
	}
	s.content = s.db.ContentStore()
	s.sn = s.db.Snapshotter(s.snName)
	s.images = metadata.NewImageStore(s.db)
	s.leases = metadata.NewLeaseManager(s.db)
	s.applier = apply.NewFileSystemApplier(s.content)
	s.gcKick, s.gcStop, s.gcDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go s.collector()
	// Whatever a crash left half-made (expired leases, unreferenced blobs
	// and snapshots) goes in a first pass, off the start's path: nothing
	// the API shows refers to it, and passes run beside requests anyway.
	s.gcKick <- struct{}{}
	return s, nil
}

// collector runs a garbage collection pass per kick; kicks that arrive
// during a pass are folded into the next one. It keeps collection off the
// container removal path (`run --rm`).
func (s *Service) collector() {
	defer close(s.gcDone)
	ctx := s.ns(context.Background())
	for {
		select {
		case <-s.gcStop:
			return
		case <-s.gcKick:
			s.gc(ctx)
		}
	}
}

// scheduleGC asks for a collection pass soon, without waiting for it.
func (s *Service) scheduleGC() {
	select {
	case s.gcKick <- struct{}{}:
	default: // a pass is already due
	}
}

// CollectGarbage removes, now, whatever nothing refers to any more.
func (s *Service) CollectGarbage(ctx context.Context) { s.gc(s.ns(ctx)) }

// Close releases the stores.
func (s *Service) Close() error {
	if s.gcStop != nil {
		close(s.gcStop)
		<-s.gcDone
		s.gc(s.ns(context.Background()))
	}
	var errs []error
	if s.db != nil {
		errs = append(errs, s.db.Close())
	} else if s.bolt != nil {
		errs = append(errs, s.bolt.Close())
	}
	if s.sn != nil {
		errs = append(errs, s.sn.Close())
	}
	return errors.Join(errs...)
}

// ns puts berth's namespace and containerd's logger into ctx.
func (s *Service) ns(ctx context.Context) context.Context {
	ctx = namespaces.WithNamespace(ctx, Namespace)
	if s.clog != nil {
		ctx = clog.WithLogger(ctx, s.clog)
	}
	return ctx
}

// routeContainerdLog sends what containerd's libraries log (through
// logrus) to berth's slog logger at debug level, so that their warnings,
// such as the content store's fsverity probe on ext4, stay off stderr.
func (s *Service) routeContainerdLog() {
	w := slogWriter{log: s.log}
	// The libraries also log through their package-level logger, which
	// cannot be reached through ctx.
	clog.L.Logger.SetOutput(w)
	s.clog = clog.L
}

type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("containerd", "msg", string(bytes.TrimSpace(p)))
	return len(p), nil
}

// gc removes whatever no image, container or lease refers to any more.
func (s *Service) gc(ctx context.Context) {
	if _, err := s.db.GarbageCollect(ctx); err != nil {
		s.log.WarnContext(ctx, "image store garbage collection failed", "error", err)
	}
}

// withTempLease holds everything written under the returned ctx until done
// is called; done deletes the lease, and when failed is true it collects
// whatever the lease held at once so that nothing half-made stays behind.
// The lease expires by itself should berthd die before done.
func (s *Service) withTempLease(ctx context.Context) (context.Context, func(ctx context.Context, failed bool), error) {
	l, err := s.leases.Create(ctx, leases.WithRandomID(), leases.WithExpiration(time.Hour))
	if err != nil {
		return nil, nil, err
	}
	return leases.WithLease(ctx, l.ID), func(ctx context.Context, failed bool) {
		ctx = context.WithoutCancel(ctx)
		if err := s.leases.Delete(ctx, l); err != nil {
			s.log.WarnContext(ctx, "delete lease", "lease", l.ID, "error", err)
		}
		if failed {
			s.gc(ctx)
		}
	}, nil
}
