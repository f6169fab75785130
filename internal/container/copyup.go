package container

import (
	"io"
	"os"
	"path/filepath"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// copyUp fills an empty volume (at dst on the host) with what the image
// has at dest (read in the mounted rootfs), keeping owners, modes, times
// and links, as dockerd's copy-up does. A volume with anything in it, or
// a path the image lacks, is left as it is.
func copyUp(rootfs, dest, dst string) error {
	src, err := securejoin.SecureJoin(rootfs, dest)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	if err != nil || !fi.IsDir() {
		return nil
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return nil
	}
	if err := copyTree(src, dst); err != nil {
		return err
	}
	return copyMeta(src, dst, fi)
}

// copyTree copies the content of directory src into the existing dst.
func copyTree(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		s, d := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		fi, err := os.Lstat(s)
		if err != nil {
			return err
		}
		if err := copyEntry(s, d, fi); err != nil {
			return err
		}
	}
	return nil
}

func copyEntry(s, d string, fi os.FileInfo) error {
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch m := fi.Mode(); {
	case m.IsDir():
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
		if err := copyTree(s, d); err != nil {
			return err
		}
	case m&os.ModeSymlink != 0:
		target, err := os.Readlink(s)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, d); err != nil {
			return err
		}
	case m.IsRegular():
		if err := copyFile(s, d); err != nil {
			return err
		}
	case st != nil:
		if err := unix.Mknod(d, st.Mode, int(st.Rdev)); err != nil {
			return err
		}
	default:
		return nil
	}
	return copyMeta(s, d, fi)
}

func copyFile(s, d string) error {
	in, err := os.Open(s)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(d, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyMeta gives d the owner, mode and times of s (fi); symlinks get
// owner and times only.
func copyMeta(s, d string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if err := os.Lchown(d, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		// Chmod after chown: chown clears set-id bits.
		if err := unix.Chmod(d, st.Mode&07777); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec}, {Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec}}
	return unix.UtimesNanoAt(unix.AT_FDCWD, d, ts, unix.AT_SYMLINK_NOFOLLOW)
}
