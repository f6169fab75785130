package container

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUntarLocalStaysInside feeds the client's extraction the archives a
// hostile daemon could send; nothing may appear outside the destination.
func TestUntarLocalStaysInside(t *testing.T) {
	type ent struct {
		name, link string
		kind       byte
	}
	cases := []struct {
		doc     string
		entries []ent
		wantErr string
	}{
		{doc: "dot-dot name", entries: []ent{{name: "../evil", kind: tar.TypeReg}}, wantErr: "is outside of"},
		{doc: "absolute symlink then a file through it", entries: []ent{{name: "l", link: "/tmp", kind: tar.TypeSymlink}, {name: "l/evil", kind: tar.TypeReg}}, wantErr: "escapes"},
		{doc: "relative symlink climbing out", entries: []ent{{name: "l", link: "../..", kind: tar.TypeSymlink}}, wantErr: "invalid symlink"},
		{doc: "hard link climbing out", entries: []ent{{name: "h", link: "../outside/x", kind: tar.TypeLink}}, wantErr: "invalid hardlink"},
		{doc: "plain entries", entries: []ent{{name: "d/", kind: tar.TypeDir}, {name: "d/f", kind: tar.TypeReg}, {name: "d/l", link: "f", kind: tar.TypeSymlink}}},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			base := t.TempDir()
			dest := filepath.Join(base, "dest")
			if err := os.Mkdir(dest, 0o755); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, e := range tc.entries {
				if err := tw.WriteHeader(&tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.kind, Mode: 0o644}); err != nil {
					t.Fatal(err)
				}
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			err := untarLocal(&buf, dest)
			if ents, _ := os.ReadDir(base); len(ents) != 1 {
				t.Fatalf("%d entries beside dest", len(ents))
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if l, err := os.Readlink(filepath.Join(dest, "d/l")); err != nil || l != "f" {
					t.Fatalf("d/l: %q %v", l, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestPrepareArchiveCopy(t *testing.T) {
	cases := []struct {
		doc      string
		src, dst copyInfo
		wantDir  string
		wantErr  error
	}{
		{doc: "into an existing directory", src: copyInfo{path: "/s/f"}, dst: copyInfo{path: "/d", exists: true, isDir: true}, wantDir: "/d"},
		{doc: "directory onto a file", src: copyInfo{path: "/s", isDir: true}, dst: copyInfo{path: "/d/f", exists: true}, wantErr: errCannotCopyDir},
		{doc: "file to a new name", src: copyInfo{path: "/s/f"}, dst: copyInfo{path: "/d/g"}, wantDir: "/d"},
		{doc: "file to a missing directory", src: copyInfo{path: "/s/f"}, dst: copyInfo{path: "/d/new/"}, wantErr: errDirNotExists},
		{doc: "directory to a new name", src: copyInfo{path: "/s", isDir: true}, dst: copyInfo{path: "/d/new"}, wantDir: "/d"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			dir, rc, err := prepareArchiveCopy(strings.NewReader(""), tc.src, tc.dst)
			if err != tc.wantErr || dir != tc.wantDir {
				t.Fatalf("got %q, %v; want %q, %v", dir, err, tc.wantDir, tc.wantErr)
			}
			if rc != nil {
				rc.Close()
			}
		})
	}
}
