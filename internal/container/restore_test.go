package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"berth/internal/events"
)

// detachImages unmounts as the image service does: whatever is mounted
// at the target, if anything.
type detachImages struct{ Images }

func (detachImages) UnmountRootfs(_ context.Context, target string) error {
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// Bundles of containers that are gone are removed at restore, unless a
// shim still works in them; a rootfs still mounted there is unmounted
// first, never emptied through the mount.
func TestRemoveOrphanBundles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a bundle's rootfs is bind-mounted")
	}
	state := t.TempDir()
	db, err := bolt.Open(filepath.Join(state, "berth.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := New(Config{DB: db, DataRoot: filepath.Join(state, "data"), ExecRoot: filepath.Join(state, "exec"),
		Images: detachImages{}, Events: events.New()})
	must(t, err)
	t.Cleanup(s.Close)

	known, mounted, plain, live := strings.Repeat("ab", 32), strings.Repeat("cd", 32), strings.Repeat("ef", 32), strings.Repeat("12", 32)
	for _, id := range []string{known, mounted, plain, live} {
		must(t, os.MkdirAll(filepath.Join(s.execDir(id), "rootfs"), 0o710))
	}
	precious := t.TempDir()
	must(t, os.WriteFile(filepath.Join(precious, "keep"), []byte("x"), 0o600))
	rootfs := filepath.Join(s.execDir(mounted), "rootfs")
	must(t, unix.Mount(precious, rootfs, "", unix.MS_BIND, ""))
	t.Cleanup(func() { _ = unix.Unmount(rootfs, unix.MNT_DETACH) })
	must(t, os.MkdirAll(filepath.Dir(s.shimSocket(live)), 0o700))
	must(t, os.WriteFile(s.shimSocket(live), nil, 0o600))

	s.removeOrphanBundles(context.Background(), map[string]bool{known: true})

	for id, want := range map[string]bool{known: true, live: true, mounted: false, plain: false} {
		if _, err := os.Stat(s.execDir(id)); (err == nil) != want {
			t.Errorf("bundle %s: present %v, want %v", id[:4], err == nil, want)
		}
	}
	if _, err := os.Stat(filepath.Join(precious, "keep")); err != nil {
		t.Fatalf("a file under a mounted rootfs was removed: %v", err)
	}
}
