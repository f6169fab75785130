package container

// The local half of `cp`: docker's rules (moby/go-archive copy.go) for
// shaping the archive from the source and destination kinds, the tar of a
// local path, and the extraction of a container's tar into a local
// directory, confined to that directory with os.Root.

import (
	"archive/tar"
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
)

// copyInfo is a source or destination of a copy.
type copyInfo struct {
	path       string
	exists     bool
	isDir      bool
	rebaseName string // the name the archive's first element must take
}

var (
	errNotDirectory  = errors.New("not a directory")
	errDirNotExists  = errors.New("no such directory")
	errCannotCopyDir = errors.New("cannot copy directory")
)

func hasTrailingSep(p string) bool      { return strings.HasSuffix(p, "/") }
func specifiesCurrentDir(p string) bool { return filepath.Base(p) == "." }
func assertsDirectory(p string) bool    { return hasTrailingSep(p) || specifiesCurrentDir(p) }
func preserveTrailingDotOrSeparator(cleaned, original string) string {
	if !specifiesCurrentDir(cleaned) && specifiesCurrentDir(original) {
		if !hasTrailingSep(cleaned) {
			cleaned += "/"
		}
		cleaned += "."
	}
	if !hasTrailingSep(cleaned) && hasTrailingSep(original) {
		cleaned += "/"
	}
	return cleaned
}

// splitPathDirEntry splits a path into directory and last element,
// keeping a final "." ("dir/." gives "dir" and ".").
func splitPathDirEntry(p string) (dir, base string) {
	clean := filepath.Clean(p)
	if specifiesCurrentDir(p) {
		clean += "/."
	}
	return filepath.Dir(clean), filepath.Base(clean)
}

// rebaseFor returns resolved with p's trailing "/" or "/.", and the name
// the archive must use when following a link changed the last element.
func rebaseFor(p, resolved string) (string, string) {
	if specifiesCurrentDir(p) && !specifiesCurrentDir(resolved) {
		resolved += "/."
	}
	if hasTrailingSep(p) && !hasTrailingSep(resolved) {
		resolved += "/"
	}
	if filepath.Base(p) != filepath.Base(resolved) {
		return resolved, filepath.Base(p)
	}
	return resolved, ""
}

// copyInfoSourcePath resolves a local source: symlinks before the last
// element always, the last one too with -L.
func copyInfoSourcePath(p string, followLink bool) (copyInfo, error) {
	var resolved, rebase string
	if followLink {
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			return copyInfo{}, err
		}
		resolved, rebase = rebaseFor(p, r)
	} else {
		dir, base := filepath.Split(p)
		rdir, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return copyInfo{}, err
		}
		resolved = rdir + "/" + base
		if hasTrailingSep(p) && filepath.Base(p) != filepath.Base(resolved) {
			rebase = filepath.Base(p)
		}
	}
	fi, err := os.Lstat(resolved)
	if err != nil {
		return copyInfo{}, err
	}
	return copyInfo{path: resolved, exists: true, isDir: fi.IsDir(), rebaseName: rebase}, nil
}

// copyInfoDestinationPath resolves a local destination, following
// symlinks to their target; a missing one needs an existing parent.
func copyInfoDestinationPath(p string) (copyInfo, error) {
	orig := p
	fi, err := os.Lstat(p)
	for n := 0; err == nil && fi.Mode()&os.ModeSymlink != 0; n++ {
		if n > 10 {
			return copyInfo{}, errors.New("too many symlinks in " + orig)
		}
		target, err := os.Readlink(p)
		if err != nil {
			return copyInfo{}, err
		}
		if !filepath.IsAbs(target) {
			parent, _ := splitPathDirEntry(p)
			target = filepath.Join(parent, target)
		}
		p = target
		fi, err = os.Lstat(p)
	}
	if err != nil {
		if !os.IsNotExist(err) {
			return copyInfo{}, err
		}
		parent, _ := splitPathDirEntry(p)
		pfi, err := os.Stat(parent)
		if err != nil {
			return copyInfo{}, err
		}
		if !pfi.IsDir() {
			return copyInfo{}, errNotDirectory
		}
		return copyInfo{path: p}, nil
	}
	return copyInfo{path: p, exists: true, isDir: fi.IsDir()}, nil
}

// prepareArchiveCopy decides where src's archive goes for dst and renames
// its first element when the copy gives the result another name.
func prepareArchiveCopy(content io.Reader, src, dst copyInfo) (string, io.ReadCloser, error) {
	dstDir, dstBase := splitPathDirEntry(dst.path)
	_, srcBase := splitPathDirEntry(src.path)
	if src.rebaseName != "" {
		srcBase = src.rebaseName
	}
	switch {
	case dst.exists && dst.isDir:
		return dst.path, io.NopCloser(content), nil
	case dst.exists && src.isDir:
		return "", nil, errCannotCopyDir
	case dst.exists, src.isDir:
		return dstDir, rebaseArchive(content, srcBase, dstBase), nil
	case assertsDirectory(dst.path):
		return "", nil, errDirNotExists
	}
	return dstDir, rebaseArchive(content, srcBase, dstBase), nil
}

// rebaseArchive renames the first occurrence of oldBase in every entry
// name (and hard link target) to newBase.
func rebaseArchive(r io.Reader, oldBase, newBase string) io.ReadCloser {
	if oldBase == "/" {
		oldBase = ""
	}
	pr, pw := io.Pipe()
	go func() {
		tr, tw := tar.NewReader(r), tar.NewWriter(pw)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			hdr.Format = tar.FormatPAX
			hdr.Name = strings.Replace(hdr.Name, oldBase, newBase, 1)
			if hdr.Typeflag == tar.TypeLink {
				hdr.Linkname = strings.Replace(hdr.Linkname, oldBase, newBase, 1)
			}
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

// tarResource archives a local path: a file as its name, a directory as
// its name and contents ("./…" for "dir/."), symlinks as symlinks.
func tarResource(src copyInfo) io.ReadCloser {
	dir, base := splitPathDirEntry(src.path)
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		links := map[uint64]string{}
		err := filepath.WalkDir(filepath.Join(dir, base), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			if base == "." && rel != "." {
				rel = "./" + rel
			}
			if src.rebaseName != "" {
				rebase := src.rebaseName
				if rebase == "/" {
					rebase = ""
				}
				rel = strings.Replace(rel, base, rebase, 1)
			}
			return addLocalFile(tw, p, filepath.ToSlash(rel), links)
		})
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func addLocalFile(tw *tar.Writer, p, name string, links map[uint64]string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	var link string
	if fi.Mode()&os.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return nil // sockets: not archivable, skipped as docker does
	}
	hdr.Name, hdr.Format, hdr.Uname, hdr.Gname = name, tar.FormatPAX, "", ""
	hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = hdr.ModTime.Truncate(time.Second), time.Time{}, time.Time{}
	if fi.IsDir() && !strings.HasSuffix(hdr.Name, "/") {
		hdr.Name += "/"
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
		if first, ok := links[st.Ino]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			return tw.WriteHeader(hdr)
		}
		links[st.Ino] = name
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, io.LimitReader(f, hdr.Size))
	return err
}

// copyToLocal extracts a container's archive of src to the local dstPath.
func copyToLocal(content io.Reader, src copyInfo, dstPath string) error {
	dst, err := copyInfoDestinationPath(dstPath)
	if err != nil {
		return err
	}
	dir, archive, err := prepareArchiveCopy(content, src, dst)
	if err != nil {
		return err
	}
	defer archive.Close()
	return untarLocal(archive, dir)
}

// untarLocal extracts into dir, never replacing a directory with a
// non-directory or the reverse, keeping the invoking user as owner (no
// chown), and writing nothing outside dir: names and links that climb out
// are refused, and os.Root will not follow a symlink out of dir.
func untarLocal(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	var dirs []*tar.Header
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name := path.Clean(hdr.Name)
		if name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%q is outside of %q", hdr.Name, dir)
		}
		rel := strings.TrimPrefix(path.Join("/", name), "/")
		if rel == "" {
			continue
		}
		hdr.Name = rel
		full := filepath.Join(dir, rel)
		if err := root.MkdirAll(path.Dir(rel), 0o755); err != nil {
			return err
		}
		if fi, err := root.Lstat(rel); err == nil {
			if fi.IsDir() && hdr.Typeflag != tar.TypeDir {
				return fmt.Errorf("cannot overwrite directory %q with non-directory %q", full, dir)
			}
			if !fi.IsDir() && hdr.Typeflag == tar.TypeDir {
				return fmt.Errorf("cannot overwrite non-directory %q with directory %q", full, dir)
			}
			if !fi.IsDir() {
				if err := root.Remove(rel); err != nil {
					return err
				}
			}
		}
		mode := hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.Mkdir(rel, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			dirs = append(dirs, hdr)
		case tar.TypeReg:
			f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			target := path.Join(path.Dir(rel), hdr.Linkname)
			if target == ".." || strings.HasPrefix(target, "../") {
				return fmt.Errorf("invalid symlink %q -> %q", full, hdr.Linkname)
			}
			if err := root.Symlink(hdr.Linkname, rel); err != nil {
				return err
			}
			continue
		case tar.TypeLink:
			target := path.Clean(hdr.Linkname)
			if target == ".." || strings.HasPrefix(target, "../") {
				return fmt.Errorf("invalid hardlink %q -> %q", full, hdr.Linkname)
			}
			if err := root.Link(strings.TrimPrefix(path.Join("/", target), "/"), rel); err != nil {
				return err
			}
		default:
			continue // devices and FIFOs are not made on the client's side
		}
		if err := root.Chmod(rel, mode); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeDir {
			if err := root.Chtimes(rel, hdr.ModTime, hdr.ModTime); err != nil {
				return err
			}
		}
	}
	for _, hdr := range dirs {
		if err := root.Chtimes(hdr.Name, hdr.ModTime, hdr.ModTime); err != nil {
			return err
		}
	}
	return nil
}
