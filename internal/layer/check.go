package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"berth/internal/errdefs"
)

// CheckEntry refuses a tar entry whose name, or whose link target, would
// leave the directory the archive is unpacked into: absolute names, names
// that climb out with "..", hard links to such paths, and relative
// symbolic links that resolve above the root. Absolute symbolic link
// targets are allowed: inside a root file system they name paths within it.
// The error is of the invalid class, worded as dockerd words it.
func CheckEntry(hdr *tar.Header) error {
	if escapes(hdr.Name) {
		return errdefs.Invalid(fmt.Errorf("invalid tar entry %q: path is outside of the archive root", hdr.Name))
	}
	switch hdr.Typeflag {
	case tar.TypeLink:
		if escapes(hdr.Linkname) {
			return errdefs.Invalid(fmt.Errorf("invalid hardlink %q -> %q", hdr.Name, hdr.Linkname))
		}
	case tar.TypeSymlink:
		if path.IsAbs(hdr.Linkname) {
			return nil
		}
		if escapes(path.Join(path.Dir(path.Clean(hdr.Name)), hdr.Linkname)) {
			return errdefs.Invalid(fmt.Errorf("invalid symlink %q -> %q", hdr.Name, hdr.Linkname))
		}
	}
	return nil
}

// CheckArchiveEntry is CheckEntry for the outer tar of a saved image
// archive, where no link may point outside the archive, absolute or not.
func CheckArchiveEntry(hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeSymlink && path.IsAbs(hdr.Linkname) {
		return errdefs.Invalid(fmt.Errorf("invalid symlink %q -> %q", hdr.Name, hdr.Linkname))
	}
	return CheckEntry(hdr)
}

func escapes(name string) bool {
	if name == "" {
		return false
	}
	if path.IsAbs(name) || strings.HasPrefix(name, `\`) {
		return true
	}
	c := path.Clean(name)
	return c == ".." || strings.HasPrefix(c, "../")
}

// Scan reads the tar stream r to its end, checking every entry with check
// and reading every entry's body. A stream that stops early is an error,
// even at an entry boundary, where Go's tar reader would see a clean end:
// the end-of-archive marker must be there. It is what an archive is put
// through while another reader (a tee) consumes the same bytes.
func Scan(r io.Reader, check func(*tar.Header) error) error {
	cr := &countingReader{r: r}
	tr := tar.NewReader(cr)
	var end int64 // where the last entry's data (with its padding) ends
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if cr.n < end+blockSize {
				return Malformed(io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			return Malformed(err)
		}
		if err := check(hdr); err != nil {
			return err
		}
		end = cr.n
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA { //nolint:staticcheck // old tars use TypeRegA
			end += (hdr.Size + blockSize - 1) / blockSize * blockSize
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return Malformed(err)
		}
	}
}

const blockSize = 512

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Malformed classifies an error from reading a tar stream: a stream that
// ends early or is not a tar is the caller's mistake (invalid), anything
// else (a failing disk, a cancelled request) is passed on unchanged.
func Malformed(err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errdefs.Invalid(fmt.Errorf("archive is truncated: %w", err))
	case errors.Is(err, tar.ErrHeader), errors.Is(err, tar.ErrInsecurePath), errors.Is(err, tar.ErrFieldTooLong):
		return errdefs.Invalid(fmt.Errorf("invalid tar archive: %w", err))
	}
	return err
}
