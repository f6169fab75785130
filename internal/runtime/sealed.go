package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// sealedSeals are the seals runc's and crun's defence against
// CVE-2019-5736 looks for on /proc/self/exe: a binary run from a memfd
// sealed so is one no container can rewrite, and the runtime skips
// copying (runc) or re-executing (crun) itself on every command.
const sealedSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// SealedBinary keeps a sealed in-memory copy of a runtime binary, made when
// first asked for (not at daemon start: runc is 9 MB) and again when the
// binary on disk changes (an upgrade).
type SealedBinary struct {
	path string

	mu    sync.Mutex
	f     *os.File
	err   error // the copy of this version failed; not tried again
	size  int64
	mtime time.Time
}

// NewSealedBinary returns the keeper of the binary at path's copy.
func NewSealedBinary(path string) *SealedBinary { return &SealedBinary{path: path} }

// File returns the current copy. A copy handed out before an upgrade stays
// valid: it is closed only when nothing uses it any more (the finalizer).
func (b *SealedBinary) File() (*os.File, error) {
	fi, err := os.Stat(b.path)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if (b.f != nil || b.err != nil) && fi.Size() == b.size && fi.ModTime().Equal(b.mtime) {
		return b.f, b.err
	}
	b.f, b.err = sealedCopy(b.path)
	b.size, b.mtime = fi.Size(), fi.ModTime()
	return b.f, b.err
}

// sealedCopy copies the file at path into a memfd and seals it.
func sealedCopy(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate(filepath.Base(path), unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("sealed copy of %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealed copy of %s: %w", path, err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, sealedSeals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal copy of %s: %w", path, err)
	}
	return f, nil
}
