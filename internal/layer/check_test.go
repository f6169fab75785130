package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"berth/internal/errdefs"
)

func TestCheckEntry(t *testing.T) {
	cases := []struct {
		hdr     tar.Header
		layer   bool // CheckEntry accepts
		archive bool // CheckArchiveEntry accepts
	}{
		{tar.Header{Name: "bin/sh", Typeflag: tar.TypeReg}, true, true},
		{tar.Header{Name: "./bin/", Typeflag: tar.TypeDir}, true, true},
		{tar.Header{Name: "a/../b", Typeflag: tar.TypeReg}, true, true},
		{tar.Header{Name: "../x", Typeflag: tar.TypeReg}, false, false},
		{tar.Header{Name: "a/../../x", Typeflag: tar.TypeReg}, false, false},
		{tar.Header{Name: "/etc/x", Typeflag: tar.TypeReg}, false, false},
		{tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "/bin/busybox"}, true, false},
		{tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"}, true, true},
		{tar.Header{Name: "a/b/c", Typeflag: tar.TypeSymlink, Linkname: "../../x"}, true, true},
		{tar.Header{Name: "a/b/c", Typeflag: tar.TypeSymlink, Linkname: "../../../x"}, false, false},
		{tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "bin/busybox"}, true, true},
		{tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "../etc/passwd"}, false, false},
		{tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}, false, false},
	}
	for _, tc := range cases {
		err := CheckEntry(&tc.hdr)
		if (err == nil) != tc.layer || (err != nil && !errdefs.IsInvalid(err)) {
			t.Errorf("CheckEntry(%s -> %s) = %v, want ok=%v", tc.hdr.Name, tc.hdr.Linkname, err, tc.layer)
		}
		err = CheckArchiveEntry(&tc.hdr)
		if (err == nil) != tc.archive {
			t.Errorf("CheckArchiveEntry(%s -> %s) = %v, want ok=%v", tc.hdr.Name, tc.hdr.Linkname, err, tc.archive)
		}
	}
}

func TestScanAndDecompress(t *testing.T) {
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Size: 5, Mode: 0o644})
	tw.Write([]byte("hello"))
	tw.Close()
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(plain.Bytes())
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(plain.Bytes())
	zw.Close()

	cases := []struct {
		name string
		in   []byte
		c    Compression
		ok   bool
	}{
		{"plain", plain.Bytes(), Uncompressed, true},
		{"gzip", gz.Bytes(), Gzip, true},
		{"zstd", zs.Bytes(), Zstd, true},
		{"truncated in padding", plain.Bytes()[:600], Uncompressed, false},
		{"truncated at entry end", plain.Bytes()[:1024], Uncompressed, false},
		{"one end block", plain.Bytes()[:1536], Uncompressed, true},
		{"empty", nil, Uncompressed, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc, c, err := Decompress(context.Background(), bytes.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if c != tc.c {
				t.Fatalf("compression %s, want %s", c, tc.c)
			}
			err = Scan(rc, CheckEntry)
			if (err == nil) != tc.ok {
				t.Fatalf("Scan = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errdefs.IsInvalid(err) {
				t.Fatalf("Scan error not invalid: %v", err)
			}
			_, _ = io.Copy(io.Discard, rc)
		})
	}
}
