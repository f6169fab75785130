package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/labels"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// CommitOptions are what `docker commit` makes an image from, besides the
// container's file system.
type CommitOptions struct {
	ParentID string // the container's image
	// Config is the new image's config before Changes: the request's own
	// or, without one, the container's.
	Config dockerspec.DockerOCIImageConfig
	// ContainerConfig fills what Config and Changes leave unset, as
	// dockerd's commit merges them.
	ContainerConfig dockerspec.DockerOCIImageConfig
	Changes         []string // Dockerfile instructions (`--change`)
	Comment         string   // history comment and the image's comment (`-m`)
	Author          string   // `-a`; "" keeps the parent image's author
	CreatedBy       string   // the history step: the container's command
	Repo, Tag       string   // the name to give the image; "" leaves it untagged
}

// commitConfig is the config of a committed image: Docker's, with the
// parent image's ID as the classic image store records it.
type commitConfig struct {
	dockerspec.DockerOCIImage
	Comment string `json:"comment,omitempty"`
	Parent  string `json:"parent,omitempty"`
}

// Commit makes an image of containerID's file system changes on top of its
// image, as `docker commit` does, and returns the new image's ID. A
// container without changes gives an image whose last history step is an
// empty layer. The name given, if any, is moved to the new image.
func (s *Service) Commit(ctx context.Context, containerID string, opts CommitOptions) (string, error) {
	ctx = s.ns(ctx)
	var named reference.NamedTagged
	if opts.Repo != "" {
		n, err := repoTag(opts.Repo, opts.Tag)
		if err != nil {
			return "", err
		}
		named = n
	}
	cfg := opts.Config
	if err := applyChanges(&cfg, opts.Changes); err != nil {
		return "", err
	}
	mergeCommitConfig(&cfg, opts.ContainerConfig)

	parent, _, err := s.lookup(ctx, opts.ParentID)
	if err != nil {
		return "", err
	}
	lay, err := s.rootfsLayout(ctx, containerID)
	if err != nil {
		return "", err
	}
	defer lay.release()
	changes, err := lay.changes()
	if err != nil {
		return "", fmt.Errorf("diff container %s: %w", containerID, err)
	}

	lctx, done, err := s.withTempLease(ctx)
	if err != nil {
		return "", err
	}
	failed := true
	defer func() { done(ctx, failed) }()

	layers := append([]ocispec.Descriptor{}, parent.info.manifest.Layers...)
	diffIDs := append([]digest.Digest{}, parent.info.config.RootFS.DiffIDs...)
	if len(changes) > 0 {
		desc, diffID, err := s.writeTarLayer(lctx, func(w io.Writer) error {
			return writeChanges(w, lay.root, changes)
		})
		if err != nil {
			return "", fmt.Errorf("export changes of container %s: %w", containerID, err)
		}
		layers = append(layers, desc)
		diffIDs = append(diffIDs, diffID)
	}

	pc := parent.info.config
	created := time.Now().UTC()
	author := opts.Author
	if author == "" {
		author = pc.Author
	}
	plat := ocispec.Platform{Architecture: pc.Architecture, OS: pc.OS, Variant: pc.Variant}
	if plat.OS == "" || plat.Architecture == "" {
		plat = platforms.DefaultSpec()
	}
	history := append([]ocispec.History{}, pc.History...)
	history = append(history, ocispec.History{
		Created:    &created,
		CreatedBy:  opts.CreatedBy,
		Author:     author,
		Comment:    opts.Comment,
		EmptyLayer: len(changes) == 0,
	})
	img := commitConfig{
		DockerOCIImage: dockerspec.DockerOCIImage{
			Image: ocispec.Image{
				Created:  &created,
				Author:   author,
				Platform: plat,
				RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
				History:  history,
			},
			Config: cfg,
		},
		Comment: opts.Comment,
		Parent:  parent.info.ID(),
	}
	configDesc, err := s.writeJSON(lctx, ocispec.MediaTypeImageConfig, img)
	if err != nil {
		return "", err
	}
	inf, err := s.storeImage(ctx, lctx, configDesc, layers, named)
	if err != nil {
		return "", err
	}
	failed = false
	if named != nil {
		s.publish("tag", inf.ID(), reference.FamiliarString(named), inf.config.Config.Labels)
	}
	return inf.ID(), nil
}

// mergeCommitConfig fills what cfg leaves unset from the container's
// config, field by field as dockerd's commit does: env and labels by key,
// ports and volumes as unions, the command only when no entrypoint was
// given.
func mergeCommitConfig(cfg *dockerspec.DockerOCIImageConfig, from dockerspec.DockerOCIImageConfig) {
	if cfg.User == "" {
		cfg.User = from.User
	}
	if len(cfg.ExposedPorts) == 0 {
		cfg.ExposedPorts = from.ExposedPorts
	} else {
		for p := range from.ExposedPorts {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	if len(cfg.Env) == 0 {
		cfg.Env = from.Env
	} else {
		for _, kv := range from.Env {
			k, _, _ := strings.Cut(kv, "=")
			if !hasEnvKey(cfg.Env, k) {
				cfg.Env = append(cfg.Env, kv)
			}
		}
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	for k, v := range from.Labels {
		if _, ok := cfg.Labels[k]; !ok {
			cfg.Labels[k] = v
		}
	}
	if len(cfg.Entrypoint) == 0 {
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = from.Cmd
		}
		if cfg.Entrypoint == nil {
			cfg.Entrypoint = from.Entrypoint
		}
	}
	if h := from.Healthcheck; h != nil {
		if cfg.Healthcheck == nil {
			cfg.Healthcheck = h
		} else {
			hc := *cfg.Healthcheck
			if len(hc.Test) == 0 {
				hc.Test = h.Test
			}
			if hc.Interval == 0 {
				hc.Interval = h.Interval
			}
			if hc.Timeout == 0 {
				hc.Timeout = h.Timeout
			}
			if hc.StartPeriod == 0 {
				hc.StartPeriod = h.StartPeriod
			}
			if hc.StartInterval == 0 {
				hc.StartInterval = h.StartInterval
			}
			if hc.Retries == 0 {
				hc.Retries = h.Retries
			}
			cfg.Healthcheck = &hc
		}
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = from.WorkingDir
	}
	if len(cfg.Volumes) == 0 {
		cfg.Volumes = from.Volumes
	} else {
		for v := range from.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = from.StopSignal
	}
}

func hasEnvKey(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// writeTarLayer stores the tar stream that produce writes as a
// gzip-compressed layer blob and returns the blob and its diff ID.
func (s *Service) writeTarLayer(ctx context.Context, produce func(io.Writer) error) (ocispec.Descriptor, digest.Digest, error) {
	ref := "commit-" + randomHex()
	w, err := content.OpenWriter(ctx, s.content, content.WithRef(ref))
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	committed := false
	defer func() {
		w.Close()
		if !committed {
			_ = s.content.Abort(context.WithoutCancel(ctx), ref)
		}
	}()
	gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	dg := digest.Canonical.Digester()
	if err := produce(io.MultiWriter(dg.Hash(), gz)); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := gz.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	st, err := w.Status()
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	diffID := dg.Digest()
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: w.Digest(), Size: st.Offset}
	err = w.Commit(ctx, desc.Size, desc.Digest, content.WithLabels(map[string]string{labels.LabelUncompressed: diffID.String()}))
	if err != nil && !cerrdefs.IsAlreadyExists(err) {
		return ocispec.Descriptor{}, "", fmt.Errorf("commit layer: %w", err)
	}
	committed = true
	return desc, diffID, nil
}

// writeChanges writes changes as a layer tar, reading what was added and
// changed from root: a deletion becomes a ".wh." whiteout entry, a
// changed directory only its own header, and files linked to one another
// hard links to the first one written. Modification times are kept to
// the second and access and change times left out, as Docker's own diff
// archives do. Sockets cannot be archived and are left out.
func writeChanges(w io.Writer, root string, changes []container.FilesystemChange) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{} // device and inode → name written
	now := time.Now().UTC().Truncate(time.Second)
	for _, ch := range changes {
		name := strings.TrimPrefix(ch.Path, "/")
		if ch.Kind == container.ChangeDelete {
			dir, base := path.Split(name)
			hdr := &tar.Header{Name: dir + ".wh." + base, Typeflag: tar.TypeReg, ModTime: now, Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		}
		if err := writeEntry(tw, root, name, links); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, root, name string, links map[[2]uint64]string) error {
	full := filepath.Join(root, name)
	fi, err := os.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // gone since the diff (a running container)
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil
	}
	var target string
	if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err = os.Readlink(full); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, target)
	if err != nil {
		return err
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.Format = tar.FormatPAX
	hdr.ModTime = hdr.ModTime.Truncate(time.Second)
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	if err := addXattrs(hdr, full); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if first, ok := links[key]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			links[key] = name
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := os.Open(full)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// addXattrs records a file's extended attributes, except overlayfs's own.
func addXattrs(hdr *tar.Header, full string) error {
	size, err := unix.Llistxattr(full, nil)
	if err != nil || size == 0 {
		return nil // no attributes, or a file system without them
	}
	buf := make([]byte, size)
	n, err := unix.Llistxattr(full, buf)
	if err != nil {
		return nil
	}
	for _, attr := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if attr == "" || strings.HasPrefix(attr, "trusted.overlay.") || strings.HasPrefix(attr, "user.overlay.") {
			continue
		}
		vsize, err := unix.Lgetxattr(full, attr, nil)
		if err != nil {
			continue
		}
		val := make([]byte, vsize)
		vn, err := unix.Lgetxattr(full, attr, val)
		if err != nil {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+attr] = string(val[:vn])
	}
	return nil
}
