package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/klauspost/compress/gzip"

	"berth/internal/events"
)

// busyboxTar builds the tar of a root file system holding Debian's static
// busybox and its applet links, made inside a chroot so that the host's
// /bin is never touched.
func busyboxTar(t *testing.T) []byte {
	t.Helper()
	return markedBusyboxTar(t, "")
}

// markedBusyboxTar is busyboxTar with /etc/marker holding marker (when not
// empty), so that images made from it have a layer of their own: tar
// headers keep whole seconds, and two plain busybox tars made within one
// second are the same layer.
func markedBusyboxTar(t *testing.T, marker string) []byte {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox (Debian busybox-static)")
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chroot", root, "/bin/busybox", "--install", "-s", "/bin").CombinedOutput(); err != nil {
		t.Fatalf("busybox --install in chroot: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if marker != "" {
		if err := os.WriteFile(filepath.Join(root, "etc", "marker"), []byte(marker), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarOf builds a tar from headers; regular files get body as content.
func tarOf(t testing.TB, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		body := []byte(nil)
		if h.Typeflag == tar.TypeReg {
			body = []byte("data\n")
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if body != nil {
			if _, err := tw.Write(body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type fixture struct {
	svc   *Service
	root  string
	users map[string][]string // image ID → containers
	run   map[string]bool
	bus   *events.Bus
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureDriver(t, "overlay2")
}

func newFixtureDriver(t *testing.T, driver string) *fixture {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for overlayfs")
	}
	f := &fixture{root: t.TempDir(), users: map[string][]string{}, run: map[string]bool{}, bus: events.New()}
	svc, err := New(context.Background(), Config{
		Root:    f.root,
		Driver:  driver,
		Events:  f.bus,
		InUse:   func(id string) []string { return f.users[id] },
		Running: func(id string) bool { return f.run[id] },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	f.svc = svc
	return f
}

func (f *fixture) importBusybox(t *testing.T, repo string, changes ...string) string {
	t.Helper()
	id, err := f.svc.Import(context.Background(), bytes.NewReader(gzipped(t, busyboxTar(t))), ImportOptions{Repo: repo, Changes: changes})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// importMarked imports a busybox whose layer no other image shares.
func (f *fixture) importMarked(t *testing.T, repo, marker string) string {
	t.Helper()
	id, err := f.svc.Import(context.Background(), bytes.NewReader(gzipped(t, markedBusyboxTar(t, marker))), ImportOptions{Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// leftovers counts the blobs and snapshots the stores still hold.
func (f *fixture) leftovers(t *testing.T) (blobs, snaps int) {
	t.Helper()
	ctx := f.svc.ns(context.Background())
	if err := f.svc.content.Walk(ctx, func(content.Info) error { blobs++; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.sn.Walk(ctx, func(context.Context, snapshots.Info) error { snaps++; return nil }); err != nil {
		t.Fatal(err)
	}
	return blobs, snaps
}
