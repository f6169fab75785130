package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestBuildMount(t *testing.T) {
	lookup := func(host string) (string, error) {
		if host == "nas.example" {
			return "192.0.2.7", nil
		}
		return "", fmt.Errorf("no such host %s", host)
	}
	cases := []struct {
		doc  string
		opts map[string]string
		want mountArgs
		bad  string
	}{
		{doc: "tmpfs", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=8m,uid=1000"},
			want: mountArgs{source: "tmpfs", fstype: "tmpfs", data: "size=8m,uid=1000"}},
		{doc: "flags and data", opts: map[string]string{"type": "ext4", "device": "/dev/sdb1", "o": "ro,noexec,nosuid,errors=remount-ro"},
			want: mountArgs{source: "/dev/sdb1", fstype: "ext4", flags: unix.MS_RDONLY | unix.MS_NOEXEC | unix.MS_NOSUID, data: "errors=remount-ro"}},
		{doc: "a later rw clears ro", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "ro,rw"},
			want: mountArgs{source: "tmpfs", fstype: "tmpfs"}},
		{doc: "bind", opts: map[string]string{"type": "none", "device": "/srv/data", "o": "bind,ro"},
			want: mountArgs{source: "/srv/data", flags: unix.MS_BIND | unix.MS_RDONLY}},
		{doc: "nfs resolves addr", opts: map[string]string{"type": "nfs", "device": ":/export/vol", "o": "addr=nas.example,rw,nfsvers=4"},
			want: mountArgs{source: ":/export/vol", fstype: "nfs", data: "addr=192.0.2.7,nfsvers=4"}},
		{doc: "nfs with an IP", opts: map[string]string{"type": "nfs", "device": ":/e", "o": "addr=10.0.0.1"},
			want: mountArgs{source: ":/e", fstype: "nfs", data: "addr=10.0.0.1"}},
		{doc: "nfs unresolvable", opts: map[string]string{"type": "nfs", "device": ":/e", "o": "addr=nowhere"},
			bad: "error resolving passed in network volume address"},
		{doc: "cifs adds addr", opts: map[string]string{"type": "cifs", "device": "//nas.example/share", "o": "username=u,password=p"},
			want: mountArgs{source: "//nas.example/share", fstype: "cifs", data: "username=u,password=p,addr=192.0.2.7"}},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			got, err := buildMount(tc.opts, func(h string) (string, error) {
				if ip := strings.Trim(h, "0123456789."); ip == "" {
					return h, nil
				}
				return lookup(h)
			})
			if tc.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("got %v, want %q", err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if msg := hidePassword("mount failed: data: username=u,password=s3cret", "username=u,password=s3cret"); strings.Contains(msg, "s3cret") {
		t.Fatalf("password shown: %s", msg)
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a tmpfs")
	}
}

func statfs(t *testing.T, path string) unix.Statfs_t {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestAcquireTmpfs: a volume with type=tmpfs device=tmpfs o=size=8m is a
// tmpfs of 8 MiB while held, and nothing when not.
func TestAcquireTmpfs(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	r := newRig(t)
	name := r.create("scratch", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=8m"}, nil)
	data := filepath.Join(r.root, name, "_data")
	if isMounted(data) {
		t.Fatal("mounted before anyone acquired it")
	}
	path, err := r.svc.Acquire(ctx, name, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if path != data {
		t.Fatalf("Acquire answered %s", path)
	}
	st := statfs(t, path)
	if st.Type != unix.TMPFS_MAGIC || st.Blocks*uint64(st.Bsize) != 8<<20 {
		t.Fatalf("type %#x size %d, want tmpfs of 8 MiB", st.Type, st.Blocks*uint64(st.Bsize))
	}
	writeFile(t, filepath.Join(path, "f"), 100)
	// A second holder shares the same mount.
	if _, err := r.svc.Acquire(ctx, name, "c2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(path, "f")); err != nil {
		t.Fatalf("second holder got another mount: %v", err)
	}
	if err := r.svc.Release(ctx, name, "c1"); err != nil {
		t.Fatal(err)
	}
	if !isMounted(path) {
		t.Fatal("unmounted while c2 holds it")
	}

	// A restart keeps the mount of a volume a container still holds.
	r.open()
	if !isMounted(path) {
		t.Fatal("restart unmounted a held volume")
	}
	if err := r.svc.Release(ctx, name, "c2"); err != nil {
		t.Fatal(err)
	}
	if isMounted(path) {
		t.Fatal("still mounted after the last Release")
	}
	if err := r.svc.Release(ctx, name, "c2"); err != nil {
		t.Fatalf("a second Release: %v", err)
	}

	// A mount left behind with no holder (a crash after mounting) goes at start.
	if err := unix.Mount("tmpfs", path, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	r.open()
	if isMounted(path) {
		t.Fatal("restart kept a mount nobody holds")
	}
}

func TestAcquireBind(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	r := newRig(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "hello"), 3)
	name := r.create("shared", map[string]string{"type": "none", "device": src, "o": "bind,ro"}, nil)
	path, err := r.svc.Acquire(ctx, name, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(path, "hello")); err != nil {
		t.Fatalf("bind source not visible: %v", err)
	}
	if err := os.WriteFile(filepath.Join(path, "new"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Fatalf("write to a ro bind: %v", err)
	}
	if err := r.svc.Release(ctx, name, "c1"); err != nil {
		t.Fatal(err)
	}
	// Removing the volume must not touch the bind source.
	if err := r.svc.Remove(ctx, name, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, "hello")); err != nil {
		t.Fatalf("removing the volume deleted its bind source: %v", err)
	}
}

func TestAcquireMountFailure(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	r := newRig(t)
	name := r.create("broken", map[string]string{"type": "nosuchfs", "device": "x"}, nil)
	if _, err := r.svc.Acquire(ctx, name, "c1"); err == nil || !strings.Contains(err.Error(), "failed to mount local volume") {
		t.Fatalf("got %v", err)
	}
	// A failed Acquire holds nothing: the volume can go.
	if err := r.svc.Remove(ctx, name, false); err != nil {
		t.Fatal(err)
	}
}
