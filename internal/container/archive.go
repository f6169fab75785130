package container

// The archive API behind `docker cp` and `docker export`:
//
//	HEAD /containers/{id}/archive?path=P  StatPath
//	GET  /containers/{id}/archive?path=P  ArchivePath
//	PUT  /containers/{id}/archive?path=D  ExtractToDir (archive_extract.go)
//	GET  /containers/{id}/export          Export
//
// Every path is resolved inside the container's root as if the daemon were
// chrooted there, as dockerd does: `..` stops at the root, and symlinks,
// absolute or relative, are followed within it. Resolution goes through
// pathrs-lite (openat2 RESOLVE_IN_ROOT where the kernel has it), and every
// later step works on directory handles with *at calls and O_NOFOLLOW, so a
// running container swapping a directory for a symlink between two steps
// cannot redirect a read or a write to the host.

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
	"slices"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	ctypes "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// rootView is a container's file system held open for one request: the
// running container's mounted root, or the stopped container's layers
// mounted on a temporary directory until release.
type rootView struct {
	dir     string   // host path of the root
	root    *os.File // O_PATH handle on dir: every lookup starts here
	release func()
}

// openRoot gives access to c's file system. A stopped container is marked
// busy while its layers are mounted here, so a start waits its turn
// ("container is busy") instead of mounting the same upper directory twice.
func (s *Service) openRoot(ctx context.Context, c *Container) (*rootView, error) {
	c.mu.Lock()
	running := c.State.Running()
	c.mu.Unlock()
	if running {
		dir := filepath.Join(s.execDir(c.ID), "rootfs")
		if v, err := openMounted(dir); err == nil {
			return v, nil
		}
		// It stopped under us: fall through and mount it ourselves.
	}

	c.mu.Lock()
	if c.State.Running() {
		c.mu.Unlock()
		return nil, errdefs.Conflict(fmt.Errorf("container %s is changing state, try again", c.ID))
	}
	if c.busy {
		c.mu.Unlock()
		return nil, errdefs.Conflict(fmt.Errorf("container %s is busy", c.ID))
	}
	c.busy = true
	c.mu.Unlock()
	unbusy := func() {
		c.mu.Lock()
		c.busy = false
		c.mu.Unlock()
	}

	parent := s.execDir(c.ID)
	if err := os.MkdirAll(parent, 0o710); err != nil {
		unbusy()
		return nil, err
	}
	dir, err := os.MkdirTemp(parent, "archive-")
	if err != nil {
		unbusy()
		return nil, err
	}
	if err := s.cfg.Images.MountRootfs(ctx, c.ID, dir); err != nil {
		_ = os.Remove(dir)
		unbusy()
		return nil, err
	}
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		logErr(s.log, "unmount rootfs", s.cfg.Images.UnmountRootfs(context.WithoutCancel(ctx), dir), "container_id", c.ID)
		_ = os.Remove(dir)
		unbusy()
		return nil, err
	}
	return &rootView{dir: dir, root: root, release: func() {
		_ = root.Close()
		logErr(s.log, "unmount rootfs", s.cfg.Images.UnmountRootfs(s.ctx, dir), "container_id", c.ID)
		_ = os.Remove(dir)
		unbusy()
	}}, nil
}

// openMounted opens dir if something is mounted on it (its mount differs
// from its parent's): an unmounted mount point is an empty host directory,
// and nothing may be read from or written to it by mistake.
func openMounted(dir string) (*rootView, error) {
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var st, pst unix.Statx_t
	const mask = unix.STATX_MNT_ID
	err = unix.Statx(int(root.Fd()), "", unix.AT_EMPTY_PATH, mask, &st)
	if err == nil {
		err = unix.Statx(unix.AT_FDCWD, filepath.Dir(dir), 0, mask, &pst)
	}
	mounted := err == nil && st.Mnt_id != pst.Mnt_id
	if err == nil && st.Mask&mask == 0 { // kernel before 5.8: compare devices
		mounted = st.Dev_major != pst.Dev_major || st.Dev_minor != pst.Dev_minor
	}
	if !mounted {
		_ = root.Close()
		return nil, fmt.Errorf("%s is not mounted", dir)
	}
	return &rootView{dir: dir, root: root, release: func() { _ = root.Close() }}, nil
}

// containerPath is p as an absolute path in the container, keeping a
// trailing "/" or "/." that says "the directory itself" or "its contents"
// (archive.PreserveTrailingDotOrSeparator in Docker).
func containerPath(p string) string {
	clean := path.Join("/", p)
	if (p == "." || strings.HasSuffix(p, "/.")) && path.Base(clean) != "." {
		if clean != "/" {
			clean += "/"
		}
		clean += "."
	}
	if strings.HasSuffix(p, "/") && !strings.HasSuffix(clean, "/") {
		clean += "/"
	}
	return clean
}

// resolved is a path in the container found through its parent directory:
// base is "" when the path names the directory itself (it ended in "/",
// "/." or was "/"), in which case dir is the target.
type resolved struct {
	abs  string   // the path as the client asked, absolute in the container
	dir  *os.File // O_PATH handle on the parent (or the target, see base)
	base string
}

func (r *resolved) close() { _ = r.dir.Close() }

// lstat stats the target without following a final symlink.
func (r *resolved) lstat() (unix.Stat_t, error) {
	var st unix.Stat_t
	var err error
	if r.base == "" {
		err = unix.Fstat(int(r.dir.Fd()), &st)
	} else {
		err = unix.Fstatat(int(r.dir.Fd()), r.base, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	return st, err
}

// resolvePath resolves every element of p but the last inside root, as
// Docker's container.ResolvePath does; the last is followed only when p
// ends in "/" or "/.".
func resolvePath(root *os.File, p string) (*resolved, error) {
	abs := containerPath(p)
	dir, base := path.Split(abs)
	if base == "." {
		base = ""
	}
	if base == "" {
		dir = abs
	}
	h, err := pathrs.OpenatInRoot(root, dir)
	if err != nil {
		return nil, err
	}
	return &resolved{abs: abs, dir: h, base: base}, nil
}

// pathStat is what the X-Docker-Container-Path-Stat header carries. A
// symlink's LinkTarget is its full resolution inside the container.
func pathStat(v *rootView, r *resolved, st *unix.Stat_t) ctypes.PathStat {
	ps := ctypes.PathStat{
		Name:  path.Base(r.abs),
		Size:  st.Size,
		Mode:  fileMode(st.Mode),
		Mtime: time.Unix(st.Mtim.Unix()),
	}
	if ps.Mode&fs.ModeSymlink != 0 {
		if host, err := securejoin.SecureJoin(v.dir, r.abs); err == nil {
			if rel, err := filepath.Rel(v.dir, host); err == nil {
				ps.LinkTarget = filepath.Join("/", rel)
			}
		}
	}
	return ps
}

// fileMode converts a stat mode to Go's file mode, as os.Lstat would.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// fileNotFound is dockerd's answer for a path that does not exist.
func fileNotFound(p, ref string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.NotFound(fmt.Errorf("Could not find the file %s in container %s", p, ref))
	}
	return err
}

// StatPath describes path in the container ref (HEAD .../archive).
func (s *Service) StatPath(ctx context.Context, ref, p string) (ctypes.PathStat, error) {
	c, err := s.store.get(ref)
	if err != nil {
		return ctypes.PathStat{}, err
	}
	v, err := s.openRoot(ctx, c)
	if err != nil {
		return ctypes.PathStat{}, err
	}
	defer v.release()
	r, err := resolvePath(v.root, p)
	if err != nil {
		return ctypes.PathStat{}, fileNotFound(p, ref, err)
	}
	defer r.close()
	st, err := r.lstat()
	if err != nil {
		return ctypes.PathStat{}, fileNotFound(p, ref, err)
	}
	return pathStat(v, r, &st), nil
}

// Archive is a tar stream of part of a container's file system, produced
// while it is written out. Close it whether or not Stream was called.
type Archive struct {
	Stat    ctypes.PathStat // the archived path (ArchivePath only)
	write   func(w io.Writer) error
	release func()
}

// Stream writes the tar stream to w.
func (a *Archive) Stream(w io.Writer) error { return a.write(w) }

// Close releases the container's file system.
func (a *Archive) Close() {
	if a.release != nil {
		a.release()
		a.release = nil
	}
}

// ArchivePath archives path in the container ref (GET .../archive): a file
// or symlink as one entry named as the path's last element; a directory
// with its contents under that name, or under "." when the path ends in
// "/.". Symlinks inside are archived as symlinks, never followed.
func (s *Service) ArchivePath(ctx context.Context, ref, p string) (*Archive, error) {
	c, err := s.store.get(ref)
	if err != nil {
		return nil, err
	}
	v, err := s.openRoot(ctx, c)
	if err != nil {
		return nil, err
	}
	r, err := resolvePath(v.root, p)
	if err != nil {
		v.release()
		return nil, fileNotFound(p, ref, err)
	}
	st, err := r.lstat()
	if err != nil {
		r.close()
		v.release()
		return nil, fileNotFound(p, ref, err)
	}
	a := &Archive{Stat: pathStat(v, r, &st), release: func() { r.close(); v.release() }}
	// Entry names start with the path's last element: "dir/…", "./…" for
	// "dir/.", and "/…" for the root itself, as dockerd's rebase does.
	name := path.Base(r.abs)
	a.write = func(w io.Writer) error {
		tw := newTarWalker(w)
		var err error
		if r.base == "" {
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return fmt.Errorf("%s: not a directory", r.abs)
			}
			err = tw.addDir(int(r.dir.Fd()), &st, name)
		} else {
			err = tw.addAt(int(r.dir.Fd()), r.base, name)
		}
		if err != nil {
			return err
		}
		return tw.tw.Close()
	}
	s.publish(c, "archive-path", nil)
	return a, nil
}

// Export archives the container's whole file system (GET .../export),
// with names relative to its root, as `docker export` writes them.
func (s *Service) Export(ctx context.Context, ref string) (*Archive, error) {
	c, err := s.store.get(ref)
	if err != nil {
		return nil, err
	}
	v, err := s.openRoot(ctx, c)
	if err != nil {
		return nil, err
	}
	a := &Archive{release: v.release}
	a.write = func(w io.Writer) error {
		fd, err := unix.Openat(int(v.root.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		tw := newTarWalker(w)
		if err := tw.addChildren(fd, ""); err != nil {
			return err
		}
		return tw.tw.Close()
	}
	s.publish(c, "export", nil)
	return a, nil
}

// tarWalker writes a directory tree as a tar stream, walking it through
// directory file descriptors opened with O_NOFOLLOW, so nothing outside
// the tree is ever read even if the tree changes during the walk.
type tarWalker struct {
	tw    *tar.Writer
	links map[[2]uint64]string // (dev, inode) -> first name, for hard links
	buf   []byte
}

func newTarWalker(w io.Writer) *tarWalker {
	return &tarWalker{tw: tar.NewWriter(w), links: map[[2]uint64]string{}, buf: make([]byte, 128<<10)}
}

// header builds the tar header Docker's archiver writes for st: PAX,
// numeric owners, whole-second mtime.
func header(st *unix.Stat_t, name string) *tar.Header {
	h := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		h.Typeflag = tar.TypeReg
		h.Size = st.Size
	case unix.S_IFDIR:
		h.Typeflag = tar.TypeDir
		if !strings.HasSuffix(h.Name, "/") {
			h.Name += "/"
		}
	case unix.S_IFLNK:
		h.Typeflag = tar.TypeSymlink
	case unix.S_IFCHR, unix.S_IFBLK:
		h.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor = int64(unix.Major(st.Rdev))
		h.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		h.Typeflag = tar.TypeFifo
	default:
		return nil // sockets: tar cannot hold them; Docker skips them too
	}
	return h
}

// addAt archives the entry base of directory dfd as name.
func (t *tarWalker) addAt(dfd int, base, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // removed while we walked
		}
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return t.addDir(fd, &st, name)
	case unix.S_IFREG:
		return t.addFile(dfd, base, &st, name)
	}
	h := header(&st, name)
	if h == nil {
		return nil
	}
	if h.Typeflag == tar.TypeSymlink {
		target, err := readlinkat(dfd, base)
		if err != nil {
			return err
		}
		h.Linkname = target
	}
	return t.tw.WriteHeader(h)
}

// addDir archives the directory open as fd (stat st) and its contents.
func (t *tarWalker) addDir(fd int, st *unix.Stat_t, name string) error {
	if err := t.tw.WriteHeader(header(st, name)); err != nil {
		return err
	}
	return t.addChildren(fd, name)
}

// addChildren archives the entries of directory fd under prefix, sorted
// by name so the same tree always gives the same archive.
func (t *tarWalker) addChildren(fd int, prefix string) error {
	// A dup: closing the *os.File must not close the caller's fd.
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(dfd), "dir")
	names, err := d.Readdirnames(-1)
	_ = d.Close()
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		child := n
		if prefix != "" {
			child = strings.TrimSuffix(prefix, "/") + "/" + n
		}
		if err := t.addAt(fd, n, child); err != nil {
			return err
		}
	}
	return nil
}

// addFile archives a regular file, as a hard link to the first name seen
// for the same inode when it has several.
func (t *tarWalker) addFile(dfd int, base string, st *unix.Stat_t, name string) error {
	h := header(st, name)
	key := [2]uint64{st.Dev, st.Ino}
	if st.Nlink > 1 {
		if first, ok := t.links[key]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			return t.tw.WriteHeader(h)
		}
		t.links[key] = name
	}
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	// The file may have changed since the stat: archive what the open
	// file is, and refuse anything that is no longer a regular file.
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		return err
	}
	if fst.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s changed while it was archived", name)
	}
	h.Size = fst.Size
	if caps := fgetxattr(fd, "security.capability"); caps != nil {
		h.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(caps)}
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return err
	}
	// Copy exactly the size announced: a file growing meanwhile is cut,
	// one shrinking is padded, so the stream stays a valid tar.
	n, err := io.CopyBuffer(t.tw, io.LimitReader(f, h.Size), t.buf)
	if err != nil {
		return err
	}
	if n < h.Size {
		_, err = io.CopyN(t.tw, zeros{}, h.Size-n)
	}
	return err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func readlinkat(dfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		b := make([]byte, size)
		n, err := unix.Readlinkat(dfd, name, b)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(b[:n]), nil
		}
	}
}

func fgetxattr(fd int, attr string) []byte {
	sz, err := unix.Fgetxattr(fd, attr, nil)
	if err != nil || sz <= 0 {
		return nil
	}
	b := make([]byte, sz)
	n, err := unix.Fgetxattr(fd, attr, b)
	if err != nil {
		return nil
	}
	return b[:n]
}
