package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
app:x:1000:1000:App User:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`

const testGroup = `root:x:0:
wheel:x:10:app,daemon
staff:x:50:app
app:x:1000:
nogroup:x:65534:
`

// newRootfs makes a directory with /etc/passwd and /etc/group.
func newRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "etc/passwd"), testPasswd)
	writeFile(t, filepath.Join(root, "etc/group"), testGroup)
	return root
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestResolveUser(t *testing.T) {
	root := newRootfs(t)
	tests := []struct {
		doc      string
		user     string
		uid, gid uint32
		gids     []uint32
		home     string
		wantErr  string
	}{
		{doc: "empty is root with its home", user: "", uid: 0, gid: 0, gids: []uint32{0}, home: "/root"},
		{doc: "name picks up supplementary groups", user: "app", uid: 1000, gid: 1000, gids: []uint32{1000, 10, 50}, home: "/home/app"},
		{doc: "uid finds the same entry", user: "1000", uid: 1000, gid: 1000, gids: []uint32{1000, 10, 50}, home: "/home/app"},
		{doc: "uid:gid drops supplementary groups", user: "1000:50", uid: 1000, gid: 50, gids: []uint32{50}, home: "/home/app"},
		{doc: "name:group by name", user: "app:wheel", uid: 1000, gid: 10, gids: []uint32{10}, home: "/home/app"},
		{doc: "unknown uid is used as is", user: "4242", uid: 4242, gid: 0, gids: []uint32{0}, home: "/"},
		{doc: "unknown uid:gid are used as is", user: "4242:4343", uid: 4242, gid: 4343, gids: []uint32{4343}, home: "/"},
		{doc: "unknown name is Docker's error", user: "foo", wantErr: "unable to find user foo: no matching entries in passwd file"},
		{doc: "unknown group name", user: "app:nope", wantErr: "unable to find group nope: no matching entries in group file"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			uid, gid, gids, home, err := ResolveUser(root, tc.user)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if uid != tc.uid || gid != tc.gid || home != tc.home || !slices.Equal(gids, tc.gids) {
				t.Fatalf("got uid=%d gid=%d gids=%v home=%q, want uid=%d gid=%d gids=%v home=%q",
					uid, gid, gids, home, tc.uid, tc.gid, tc.gids, tc.home)
			}
		})
	}
}

func TestResolveUserGroupAdd(t *testing.T) {
	root := newRootfs(t)
	u, err := resolveUser(root, "app", []string{"staff", "777"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{1000, 10, 50, 50, 777}; !slices.Equal(u.additionalGids, want) {
		t.Fatalf("gids = %v, want %v", u.additionalGids, want)
	}
	if _, err := resolveUser(root, "app", []string{"nosuch"}); err == nil || !strings.Contains(err.Error(), "Unable to find group nosuch") {
		t.Fatalf("err = %v, want Unable to find group nosuch", err)
	}
}

// TestResolveUserSymlinkEscape: the image's /etc points out of the rootfs
// (absolutely, or with ../..). The files must be looked up as the container
// sees them, never in the host directory the link names.
func TestResolveUserSymlinkEscape(t *testing.T) {
	tests := []struct {
		doc    string
		target func(hostEtc string) string
	}{
		{doc: "absolute link to the host's directory", target: func(hostEtc string) string { return hostEtc }},
		{doc: "relative link climbing out", target: func(string) string { return "../../host/etc" }},
		{doc: "link to /", target: func(string) string { return "/" }},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			base := t.TempDir()
			hostEtc := filepath.Join(base, "host", "etc")
			if err := os.MkdirAll(hostEtc, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(hostEtc, "passwd"), "hostonly:x:4242:4242::/hostonly:/bin/sh\n")
			rootfs := filepath.Join(base, "img", "rootfs")
			if err := os.MkdirAll(rootfs, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(tc.target(hostEtc), filepath.Join(rootfs, "etc")); err != nil {
				t.Fatal(err)
			}
			// Unsafe resolution really would reach the host file.
			if tc.doc != "link to /" {
				if _, err := os.Stat(filepath.Join(rootfs, "etc", "passwd")); err != nil {
					t.Fatalf("test set-up: the link does not escape: %v", err)
				}
			}
			uid, _, _, _, err := ResolveUser(rootfs, "hostonly")
			if err == nil {
				t.Fatalf("resolved hostonly to uid %d: read a file outside the rootfs", uid)
			}
			if want := "unable to find user hostonly"; !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %q", err, want)
			}
			// The host's real /etc/passwd has root; the container's view has
			// no passwd, so "root" is unknown by name too.
			if _, _, _, _, err := ResolveUser(rootfs, "root"); err == nil {
				t.Fatal("resolved root by name from a rootfs without /etc/passwd")
			}
		})
	}
}
