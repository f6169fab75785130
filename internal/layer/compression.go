package layer

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"berth/internal/errdefs"
)

// Compression names what a stream is compressed with.
type Compression string

// The compressions Docker accepts for an imported root file system.
const (
	Uncompressed Compression = "tar"
	Gzip         Compression = "gzip"
	Bzip2        Compression = "bzip2"
	Xz           Compression = "xz"
	Zstd         Compression = "zstd"
)

var magics = []struct {
	c     Compression
	magic []byte
}{
	{Gzip, []byte{0x1f, 0x8b, 0x08}},
	{Bzip2, []byte{0x42, 0x5a, 0x68}},
	{Xz, []byte{0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
}

// Detect names the compression of a stream from its first bytes.
func Detect(head []byte) Compression {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return m.c
		}
	}
	return Uncompressed
}

// Decompress returns the plain stream behind r, whichever of Docker's
// compressions it uses. xz has no library in the module graph; as dockerd
// does, it is read through the xz program. Close releases the decoder (and
// waits for xz).
func Decompress(ctx context.Context, r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, "", err
	}
	c := Detect(head)
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, errdefs.Invalid(fmt.Errorf("gzip: %w", err))
		}
		return zr, c, nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(br)), c, nil
	case Zstd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, c, errdefs.Invalid(fmt.Errorf("zstd: %w", err))
		}
		return zr.IOReadCloser(), c, nil
	case Xz:
		return xzReader(ctx, br)
	}
	return io.NopCloser(br), c, nil
}

type cmdReader struct {
	io.ReadCloser
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

func (c *cmdReader) Close() error {
	c.ReadCloser.Close()
	if err := c.cmd.Wait(); err != nil && c.stderr.Len() > 0 {
		return fmt.Errorf("xz: %s", bytes.TrimSpace(c.stderr.Bytes()))
	}
	return nil
}

func xzReader(ctx context.Context, r io.Reader) (io.ReadCloser, Compression, error) {
	cmd := exec.CommandContext(ctx, "xz", "-d", "-c", "-q")
	cmd.Stdin = r
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, Xz, err
	}
	if err := cmd.Start(); err != nil {
		return nil, Xz, fmt.Errorf("xz compressed input needs the xz program: %w", err)
	}
	return &cmdReader{ReadCloser: out, cmd: cmd, stderr: &stderr}, Xz, nil
}
