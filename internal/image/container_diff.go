package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// RootfsChanges lists what changed in containerID's file system against
// its image, as `docker diff` shows it: "A" added, "C" changed, "D"
// deleted, sorted by path, with every parent directory of a change
// reported as changed. It works on running and stopped containers.
func (s *Service) RootfsChanges(ctx context.Context, containerID string) ([]container.FilesystemChange, error) {
	ctx = s.ns(ctx)
	lay, err := s.rootfsLayout(ctx, containerID)
	if err != nil {
		return nil, err
	}
	defer lay.release()
	return lay.changes()
}

// rootfsLayout is where a container's file system lives on disk.
type rootfsLayout struct {
	// root holds the container's own files: the overlay upper directory,
	// or the whole tree for the native snapshotter.
	root string
	// lowers are the image's layer directories, top first (overlay only).
	lowers []string
	// base is the image's whole tree (native only; "" for an image
	// without layers).
	base    string
	overlay bool
	release func()
}

func (l *rootfsLayout) changes() ([]container.FilesystemChange, error) {
	var (
		m   map[string]container.ChangeType
		err error
	)
	if l.overlay {
		m, err = overlayChanges(l.root, l.lowers)
	} else {
		m, err = treeChanges(l.root, l.base)
	}
	if err != nil {
		return nil, err
	}
	return finishChanges(m, l.root), nil
}

// rootfsLayout finds the directories of containerID's snapshot and of the
// image below it. For the native snapshotter it makes a read-only view of
// the image, which release removes.
func (s *Service) rootfsLayout(ctx context.Context, containerID string) (*rootfsLayout, error) {
	key := containerKey(containerID)
	mounts, err := s.sn.Mounts(ctx, key)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, errdefs.NotFound(fmt.Errorf("no file system prepared for container %s", containerID))
		}
		return nil, err
	}
	if len(mounts) != 1 {
		return nil, fmt.Errorf("container %s: unexpected snapshot mounts %v", containerID, mounts)
	}
	m := mounts[0]
	lay := &rootfsLayout{release: func() {}}
	switch {
	case m.Type == "overlay":
		lay.overlay = true
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				lay.root = v
			}
			if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
				lay.lowers = strings.Split(v, ":")
			}
		}
		if lay.root == "" {
			return nil, fmt.Errorf("container %s: snapshot has no upper directory", containerID)
		}
		return lay, nil
	case s.snName == "overlayfs":
		// An overlay snapshot without parents is a bind mount of its
		// upper directory: everything in it was added.
		lay.overlay = true
		lay.root = m.Source
		return lay, nil
	}
	lay.root = m.Source
	info, err := s.sn.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	if info.Parent == "" {
		return lay, nil
	}
	lctx, done, err := s.withTempLease(ctx)
	if err != nil {
		return nil, err
	}
	viewKey := fmt.Sprintf("%s-view-%s", key, randomHex())
	view, err := s.sn.View(lctx, viewKey, info.Parent, snapshots.WithLabels(map[string]string{"berth.created": "diff"}))
	if err != nil {
		done(ctx, true)
		return nil, fmt.Errorf("view image of container %s: %w", containerID, err)
	}
	if len(view) != 1 || view[0].Type != "bind" {
		_ = s.sn.Remove(lctx, viewKey)
		done(ctx, true)
		return nil, fmt.Errorf("container %s: unexpected view mounts %v", containerID, view)
	}
	lay.base = view[0].Source
	lay.release = func() {
		logCtx := context.WithoutCancel(ctx)
		if err := s.sn.Remove(logCtx, viewKey); err != nil {
			s.log.WarnContext(logCtx, "remove diff view", "key", viewKey, "error", err)
		}
		done(logCtx, true)
	}
	return lay, nil
}

// overlayChanges reads an overlay upper directory against the lower
// layers (top first): a whiteout (a 0/0 character device) is a deletion,
// an opaque directory deletes what the layers below held in it, anything
// else is an addition unless the layers below have the path, then a
// change when its metadata differs.
func overlayChanges(upper string, lowers []string) (map[string]container.ChangeType, error) {
	lw := &lowerView{dirs: lowers, hidden: map[string]bool{}}
	out := map[string]container.ChangeType{}
	added := map[string]bool{} // directories added whole: no lower lookups below them
	err := filepath.WalkDir(upper, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		p := slashPath(upper, full)
		if p == "/" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk a running container
			}
			return err
		}
		if added[path.Dir(p)] {
			out[p] = container.ChangeAdd
			if fi.IsDir() {
				added[p] = true
			}
			return nil
		}
		if isWhiteout(fi) {
			if _, ok := lw.stat(p); ok {
				out[p] = container.ChangeDelete
			}
			return nil
		}
		lower, ok := lw.stat(p)
		switch {
		case !ok:
			out[p] = container.ChangeAdd
			if fi.IsDir() {
				added[p] = true
			}
			return nil
		case metadataDiffers(lower, fi):
			out[p] = container.ChangeModify
		}
		if fi.IsDir() && lower.IsDir() && isOpaque(full) {
			names, err := lw.list(p)
			if err != nil {
				return err
			}
			for _, name := range names {
				if _, err := os.Lstat(filepath.Join(full, name)); errors.Is(err, fs.ErrNotExist) {
					out[path.Join(p, name)] = container.ChangeDelete
				}
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return out, nil
}

// treeChanges compares two whole trees (the native snapshotter keeps full
// copies): newRoot against oldRoot ("" for an empty one).
func treeChanges(newRoot, oldRoot string) (map[string]container.ChangeType, error) {
	out := map[string]container.ChangeType{}
	err := filepath.WalkDir(newRoot, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		p := slashPath(newRoot, full)
		if p == "/" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if oldRoot == "" {
			out[p] = container.ChangeAdd
			return nil
		}
		old, err := os.Lstat(filepath.Join(oldRoot, p))
		switch {
		case err != nil:
			out[p] = container.ChangeAdd
		case metadataDiffers(old, fi):
			out[p] = container.ChangeModify
		}
		return nil
	})
	if err != nil || oldRoot == "" {
		return out, err
	}
	err = filepath.WalkDir(oldRoot, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		p := slashPath(oldRoot, full)
		if p == "/" {
			return nil
		}
		if _, err := os.Lstat(filepath.Join(newRoot, p)); err != nil {
			out[p] = container.ChangeDelete
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	return out, err
}

// finishChanges drops what the runtime made for its mounts, reports every
// parent directory of a change as changed, and sorts by path.
func finishChanges(m map[string]container.ChangeType, root string) []container.FilesystemChange {
	paths := make([]string, 0, len(m))
	for p := range m {
		paths = append(paths, p)
	}
	// Children before parents, so that a mount point's parent sees
	// whether anything else is left below it.
	sort.Sort(sort.Reverse(sort.StringSlice(paths)))
	for _, p := range paths {
		if m[p] == container.ChangeAdd && runtimeMountpoint(p) && madeByRuntime(m, root, p) {
			delete(m, p)
		}
	}
	for p := range m {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := m[d]; ok {
				break
			}
			m[d] = container.ChangeModify
		}
	}
	out := make([]container.FilesystemChange, 0, len(m))
	for p, k := range m {
		out = append(out, container.FilesystemChange{Path: p, Kind: k})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// runtimeMountpoint names the paths the OCI runtime creates in a root file
// system that lacks them, to mount the container's hostname, hosts and
// resolv.conf files and the kernel file systems on. Docker keeps them in
// an "init" layer below the container's, so they are never part of diff
// or commit; berth leaves them out when it finds them as made empty.
func runtimeMountpoint(p string) bool {
	switch p {
	case "/etc", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/mtab",
		"/.dockerenv", "/dev", "/dev/console", "/dev/pts", "/dev/shm", "/proc", "/sys":
		return true
	}
	return false
}

// madeByRuntime tells an empty file, or a directory with no other change
// left below it, from something a process in the container made.
func madeByRuntime(m map[string]container.ChangeType, root, p string) bool {
	fi, err := os.Lstat(filepath.Join(root, p))
	if err != nil {
		return false
	}
	switch {
	case fi.Mode().IsRegular():
		return fi.Size() == 0
	case fi.IsDir():
		prefix := p + "/"
		for q := range m {
			if strings.HasPrefix(q, prefix) {
				return false
			}
		}
		return true
	}
	return false
}

// metadataDiffers compares what Docker compares: type and permissions,
// owner, device numbers and, for anything but a directory, size and
// modification time (to the second when either side lost its nanoseconds
// to a tar header).
func metadataDiffers(a, b fs.FileInfo) bool {
	sa, oka := a.Sys().(*syscall.Stat_t)
	sb, okb := b.Sys().(*syscall.Stat_t)
	if a.Mode() != b.Mode() {
		return true
	}
	if oka && okb && (sa.Uid != sb.Uid || sa.Gid != sb.Gid || sa.Rdev != sb.Rdev) {
		return true
	}
	if a.IsDir() {
		return false
	}
	return a.Size() != b.Size() || !sameTime(a.ModTime(), b.ModTime())
}

func sameTime(a, b time.Time) bool {
	return a.Unix() == b.Unix() && (a.Nanosecond() == b.Nanosecond() || a.Nanosecond() == 0 || b.Nanosecond() == 0)
}

// isWhiteout recognises overlayfs's mark of a deleted file.
func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && unix.Major(uint64(st.Rdev)) == 0 && unix.Minor(uint64(st.Rdev)) == 0
}

// isOpaque reports whether an overlay directory hides the layers below.
func isOpaque(dir string) bool {
	for _, attr := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		buf := make([]byte, 8)
		n, err := unix.Lgetxattr(dir, attr, buf)
		if err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// lowerView looks paths up in overlay lower layers as the merged mount
// would show them.
type lowerView struct {
	dirs   []string        // top first
	hidden map[string]bool // layer dir + "\x00" + path: does this layer hide the path's layers below?
}

// stat finds p in the topmost layer that shows it.
func (v *lowerView) stat(p string) (fs.FileInfo, bool) {
	for _, l := range v.dirs {
		fi, err := os.Lstat(filepath.Join(l, p))
		if err == nil {
			if isWhiteout(fi) {
				return nil, false
			}
			return fi, true
		}
		if v.hidesBelow(l, path.Dir(p)) {
			return nil, false
		}
	}
	return nil, false
}

// hidesBelow reports whether layer l keeps the layers under it from
// showing what lies in dir: dir or one of its parents is, in l, a
// whiteout, not a directory, or an opaque directory.
func (v *lowerView) hidesBelow(l, dir string) bool {
	if dir == "/" {
		return false
	}
	key := l + "\x00" + dir
	if h, ok := v.hidden[key]; ok {
		return h
	}
	h := false
	fi, err := os.Lstat(filepath.Join(l, dir))
	switch {
	case err == nil && (!fi.IsDir() || isOpaque(filepath.Join(l, dir))):
		h = true
	default:
		h = v.hidesBelow(l, path.Dir(dir))
	}
	v.hidden[key] = h
	return h
}

// list gives the names the lower layers show in directory p.
func (v *lowerView) list(p string) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for _, l := range v.dirs {
		full := filepath.Join(l, p)
		entries, err := os.ReadDir(full)
		if err == nil {
			for _, e := range entries {
				if seen[e.Name()] {
					continue
				}
				seen[e.Name()] = true
				if fi, err := e.Info(); err == nil && isWhiteout(fi) {
					continue
				}
				names = append(names, e.Name())
			}
			if isOpaque(full) {
				break
			}
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return nil, err
		}
		if v.hidesBelow(l, p) {
			break
		}
	}
	return names, nil
}

// slashPath is full's path below root, absolute and with forward slashes.
func slashPath(root, full string) string {
	rel, err := filepath.Rel(root, full)
	if err != nil || rel == "." {
		return "/"
	}
	return "/" + filepath.ToSlash(rel)
}
