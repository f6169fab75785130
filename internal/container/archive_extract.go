package container

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// ExtractOptions are the flags of PUT /containers/{id}/archive.
type ExtractOptions struct {
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the other way round.
	NoOverwriteDirNonDir bool
	// CopyUIDGID gives the extracted files to the container's user
	// (Config.User), as dockerd does for `docker cp -a`; without it, and
	// for a container without a user, the archive's owners are kept.
	CopyUIDGID bool
}

// ExtractToDir extracts a tar archive (plain, gzip, bzip2 or zstd) into
// the directory p of the container ref (PUT .../archive). p is resolved
// in the container with every symlink followed, its last element too.
func (s *Service) ExtractToDir(ctx context.Context, ref, p string, opts ExtractOptions, content io.Reader) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	v, err := s.openRoot(ctx, c)
	if err != nil {
		return err
	}
	defer v.release()
	dest, err := pathrs.OpenatInRoot(v.root, containerPath(p))
	if err != nil {
		return fileNotFound(p, ref, err)
	}
	defer dest.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(dest.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return errdefs.Invalid(errors.New("extraction point is not a directory"))
	}
	c.mu.Lock()
	readOnly := c.HostConfig != nil && c.HostConfig.ReadonlyRootfs
	user := ""
	if c.Config != nil {
		user = c.Config.User
	}
	c.mu.Unlock()
	if readOnly {
		return errdefs.Invalid(errors.New("container rootfs is marked read-only"))
	}
	// Where dest really is, as a path in the container: entries are
	// resolved from there, inside the root, one by one.
	host, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", dest.Fd()))
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(v.dir, host)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("extraction point %s resolved outside the container", p)
	}
	x := &extractor{root: v.root, dest: path.Join("/", rel), noOverwriteDirNonDir: opts.NoOverwriteDirNonDir}
	if opts.CopyUIDGID && user != "" {
		uid, gid, err := lookupUser(v.root, user)
		if err != nil {
			return err
		}
		x.owner = &[2]int{uid, gid}
	}
	r, err := decompress(content)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := x.extract(tar.NewReader(r)); err != nil {
		return err
	}
	s.publish(c, "extract-to-dir", nil)
	return nil
}

// decompress recognises the archive's compression by its magic number,
// as Docker's archive.DecompressStream does.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b, 0x08}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return io.NopCloser(bzip2.NewReader(br)), nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return nil, errdefs.Invalid(errors.New("xz-compressed archives are not supported by berth"))
	}
	return io.NopCloser(br), nil
}

// extractor writes tar entries under dest inside root. Each entry's parent
// is resolved afresh inside the root (symlinks followed there, as in a
// chroot), and the entry itself is created with *at calls on that parent's
// handle, never following a symlink in its place: a symlink extracted
// earlier, or planted by the container, cannot carry a write outside.
type extractor struct {
	root                 *os.File
	dest                 string // the extraction directory, absolute in the container
	noOverwriteDirNonDir bool
	owner                *[2]int // uid, gid for every entry; nil: the archive's
	dirs                 []*tar.Header
}

func (x *extractor) extract(tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	// Directory times last: creating entries inside changed them.
	for _, hdr := range x.dirs {
		dir, base := path.Split(path.Join(x.dest, hdr.Name))
		h, err := pathrs.OpenatInRoot(x.root, dir)
		if err != nil {
			return err
		}
		err = setTimes(int(h.Fd()), base, hdr)
		_ = h.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// within reports whether the clean absolute path p is dir or below it.
func within(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// relName cleans an entry name to a path relative to the extraction
// directory ("" for the directory itself), refusing names that climb out
// of it, as Docker's Unpack does. Absolute names are taken as relative.
func relName(name string) (string, bool) {
	n := path.Clean(name)
	if n == ".." || strings.HasPrefix(n, "../") {
		return "", false
	}
	return strings.TrimPrefix(path.Join("/", n), "/"), true
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	rel, ok := relName(hdr.Name)
	if !ok {
		return fmt.Errorf("%q is outside of %q", hdr.Name, x.dest)
	}
	full := path.Join(x.dest, rel)
	if rel == "" {
		if hdr.Typeflag == tar.TypeDir {
			return nil // the extraction directory itself stays as it is
		}
		return fmt.Errorf("cannot overwrite directory %q with non-directory %q", full, x.dest)
	}
	hdr.Name = rel
	parent, base := path.Split(full)
	pdir, err := pathrs.MkdirAllHandle(x.root, parent, 0o755)
	if err != nil {
		return err
	}
	defer pdir.Close()
	pfd := int(pdir.Fd())

	// An existing entry is replaced, except a directory by a directory,
	// which is merged.
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if x.noOverwriteDirNonDir && isDir && hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("cannot overwrite directory %q with non-directory %q", full, x.dest)
		}
		if x.noOverwriteDirNonDir && !isDir && hdr.Typeflag == tar.TypeDir {
			return fmt.Errorf("cannot overwrite non-directory %q with directory %q", full, x.dest)
		}
		if !isDir || hdr.Typeflag != tar.TypeDir {
			if err := removeAllAt(pfd, base); err != nil {
				return err
			}
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return err
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		x.dirs = append(x.dirs, hdr)
	case tar.TypeReg:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), full)
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeLink:
		target, ok := relName(hdr.Linkname)
		if !ok || target == "" {
			return fmt.Errorf("invalid hardlink %q -> %q", path.Join(x.dest, hdr.Linkname), hdr.Linkname)
		}
		tdir, tbase := path.Split(path.Join(x.dest, target))
		th, err := pathrs.OpenatInRoot(x.root, tdir)
		if err != nil {
			return err
		}
		// No AT_SYMLINK_FOLLOW: a symlink target is linked, not followed.
		err = unix.Linkat(int(th.Fd()), tbase, pfd, base, 0)
		_ = th.Close()
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		if !within(path.Join(path.Dir(full), hdr.Linkname), x.dest) {
			return fmt.Errorf("invalid symlink %q -> %q", full, hdr.Linkname)
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, kind|uint32(hdr.Mode&0o777), int(dev)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unhandled tar header type %d", hdr.Typeflag)
	}
	return x.setAttrs(pfd, base, hdr)
}

// setAttrs gives the new entry its owner, mode, extended attributes and
// (except directories, done at the end) times, through an O_PATH handle
// opened without following a symlink.
func (x *extractor) setAttrs(pfd int, base string, hdr *tar.Header) error {
	uid, gid := hdr.Uid, hdr.Gid
	if x.owner != nil {
		uid, gid = x.owner[0], x.owner[1]
	}
	fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("failed to Lchown %q for UID %d, GID %d: %w", hdr.Name, uid, gid, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		// chmod has no "don't follow" on Linux; the handle's magic link
		// names exactly the inode just checked. After chown, which
		// clears set-id bits.
		procPath := fmt.Sprintf("/proc/self/fd/%d", fd)
		if err := unix.Chmod(procPath, uint32(hdr.Mode&0o7777)); err != nil {
			return err
		}
		for key, value := range hdr.PAXRecords {
			if attr, ok := strings.CutPrefix(key, "SCHILY.xattr."); ok {
				err := unix.Setxattr(procPath, attr, []byte(value), 0)
				if err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
					return err
				}
			}
		}
	}
	if hdr.Typeflag == tar.TypeDir {
		return nil
	}
	return setTimes(pfd, base, hdr)
}

// setTimes sets an entry's access and modification times without
// following a symlink, clamping times a file system cannot hold.
func setTimes(pfd int, base string, hdr *tar.Header) error {
	bound := func(t time.Time) time.Time {
		if t.Before(time.Unix(0, 0)) || t.After(time.Unix(1<<33, 0)) {
			return time.Unix(0, 0)
		}
		return t
	}
	at := hdr.AccessTime
	if at.Before(hdr.ModTime) {
		at = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(bound(at).UnixNano()), unix.NsecToTimespec(bound(hdr.ModTime).UnixNano())}
	return unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// removeAllAt removes name from directory dfd, recursively, without
// following symlinks.
func removeAllAt(dfd int, name string) error {
	err := unix.Unlinkat(dfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return err
	}
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	names, err := d.Readdirnames(-1)
	for _, n := range names {
		if err != nil {
			break
		}
		err = removeAllAt(fd, n)
	}
	_ = d.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
}

// lookupUser resolves Config.User ("user[:group]", names or IDs) with the
// container's own /etc/passwd and /etc/group. (dockerd looks the name up
// on the host, moby/moby#34142; the container's files are what it means.)
func lookupUser(root *os.File, spec string) (int, int, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	uid, gid := -1, 0
	if n, err := strconv.Atoi(userPart); err == nil {
		uid = n
	}
	for _, f := range readColonFile(root, "/etc/passwd") {
		if len(f) >= 4 && (f[0] == userPart || f[2] == userPart) {
			uid, _ = strconv.Atoi(f[2])
			gid, _ = strconv.Atoi(f[3])
			break
		}
	}
	if uid < 0 {
		return 0, 0, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
	}
	if hasGroup {
		found := false
		if n, err := strconv.Atoi(groupPart); err == nil {
			gid, found = n, true
		}
		for _, f := range readColonFile(root, "/etc/group") {
			if !found && len(f) >= 3 && f[0] == groupPart {
				gid, _ = strconv.Atoi(f[2])
				found = true
			}
		}
		if !found {
			return 0, 0, fmt.Errorf("unable to find group %s: no matching entries in group file", groupPart)
		}
	}
	return uid, gid, nil
}

// readColonFile reads a passwd-style file inside root, split into fields.
func readColonFile(root *os.File, name string) [][]string {
	h, err := pathrs.OpenatInRoot(root, name)
	if err != nil {
		return nil
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil // a FIFO or device in its place would block or worse
	}
	f, err := pathrs.Reopen(h, unix.O_RDONLY)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(io.LimitReader(f, 16<<20))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, strings.Split(line, ":"))
		}
	}
	return out
}
