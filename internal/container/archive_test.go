package container

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	ctypes "github.com/moby/moby/api/types/container"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
	"berth/internal/events"
)

// testTree is a container root next to a host directory it must never
// reach: rootfs/ and outside/ under one temporary directory, with the
// symlinks an attacker would plant inside the container.
type testTree struct {
	base, rootfs, outside string
}

func newTestTree(t *testing.T) testTree {
	t.Helper()
	base := t.TempDir()
	tr := testTree{base: base, rootfs: filepath.Join(base, "rootfs"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{"rootfs/etc", "rootfs/bin", "rootfs/tmp", "rootfs/d/sub", "outside"} {
		must(t, os.MkdirAll(filepath.Join(base, d), 0o755))
	}
	files := map[string]string{
		"rootfs/etc/passwd":  "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
		"rootfs/etc/group":   "root:x:0:\nstaff:x:50:\n",
		"rootfs/bin/busybox": "#!busybox",
		"rootfs/d/f":         "file in d",
		"rootfs/d/sub/g":     "file in sub",
		"outside/x":          "host file",
	}
	for name, body := range files {
		must(t, os.WriteFile(filepath.Join(base, name), []byte(body), 0o644))
	}
	links := map[string]string{
		"rootfs/bin/sh":   "/bin/busybox",                    // absolute, inside
		"rootfs/tmp/etc":  "/etc",                            // absolute: the host's /etc if followed naively
		"rootfs/tmp/out":  "../../outside",                   // relative, climbing out of the root
		"rootfs/tmp/deep": "../../../../../../../../outside", // climbing far past /
		"rootfs/d/l":      "f",
	}
	for name, target := range links {
		must(t, os.Symlink(target, filepath.Join(base, name)))
	}
	return tr
}

// outsideUntouched fails the test if anything in outside/ changed.
func (tr testTree) outsideUntouched(t *testing.T) {
	t.Helper()
	ents, err := os.ReadDir(tr.outside)
	must(t, err)
	if len(ents) != 1 || ents[0].Name() != "x" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("outside/ now holds %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(tr.outside, "x")); string(b) != "host file" {
		t.Fatalf("outside/x now holds %q", b)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// bindImages mounts a prepared directory as a container's file system.
type bindImages struct {
	Images // unused methods
	rootfs string
}

func (b bindImages) MountRootfs(_ context.Context, _, target string) error {
	return unix.Mount(b.rootfs, target, "", unix.MS_BIND, "")
}

func (b bindImages) UnmountRootfs(_ context.Context, target string) error {
	return unix.Unmount(target, 0)
}

// newArchiveService is a service with one container, "box", whose file
// system is tr.rootfs: stopped, or running with the root mounted where
// start mounts it.
func newArchiveService(t *testing.T, tr testTree, running bool) (*Service, *Container) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the container's file system is bind-mounted")
	}
	state := t.TempDir() // one per service: bbolt locks its file
	db, err := bolt.Open(filepath.Join(state, "berth.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := New(Config{DB: db, DataRoot: filepath.Join(state, "data"), ExecRoot: filepath.Join(state, "exec"),
		Images: bindImages{rootfs: tr.rootfs}, Events: events.New()})
	must(t, err)
	t.Cleanup(s.Close)
	c := newContainer()
	c.ID, c.Name = strings.Repeat("ab", 32), "/box"
	c.Config, c.HostConfig = &ctypes.Config{}, &ctypes.HostConfig{}
	c.State.Status = ctypes.StateCreated
	must(t, s.store.add(c))
	if running {
		mnt := filepath.Join(s.execDir(c.ID), "rootfs")
		must(t, os.MkdirAll(mnt, 0o710))
		must(t, unix.Mount(tr.rootfs, mnt, "", unix.MS_BIND, ""))
		t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
		c.State.Status = ctypes.StateRunning
	}
	t.Cleanup(func() {
		// Nothing of ours may stay mounted, and the container not busy.
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		if n := strings.Count(string(mi), filepath.Join(s.execDir(c.ID), "archive-")); n > 0 {
			t.Errorf("%d temporary mounts left", n)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.busy {
			t.Error("container left busy")
		}
	})
	return s, c
}

func TestStatPath(t *testing.T) {
	tr := newTestTree(t)
	cases := []struct {
		doc      string
		path     string
		name     string
		mode     fs.FileMode // type bits only
		size     int64
		link     string
		notFound bool
	}{
		{doc: "file", path: "/etc/passwd", name: "passwd", size: 65},
		{doc: "dot-dot stops at the root", path: "../../etc/passwd", name: "passwd", size: 65},
		{doc: "absolute symlink in the path resolves in the container", path: "/tmp/etc/passwd", name: "passwd", size: 65},
		{doc: "last element symlink is not followed", path: "/bin/sh", name: "sh", mode: fs.ModeSymlink, size: 12, link: "/bin/busybox"},
		{doc: "trailing slash follows it", path: "/tmp/etc/", name: "etc", mode: fs.ModeDir},
		{doc: "directory contents", path: "/d/.", name: ".", mode: fs.ModeDir},
		{doc: "relative symlink out of the root", path: "/tmp/out/x", notFound: true},
		{doc: "far climbing symlink", path: "/tmp/deep/x", notFound: true},
		{doc: "escaping link's own target", path: "/tmp/out", name: "out", mode: fs.ModeSymlink, size: 13, link: "/outside"},
		{doc: "missing", path: "/nope", notFound: true},
	}
	for _, running := range []bool{false, true} {
		s, _ := newArchiveService(t, tr, running)
		for _, tc := range cases {
			t.Run(tc.doc, func(t *testing.T) {
				st, err := s.StatPath(context.Background(), "box", tc.path)
				if tc.notFound {
					if !errdefs.IsNotFound(err) || err.Error() != "Could not find the file "+tc.path+" in container box" {
						t.Fatalf("err = %v, want not found", err)
					}
					return
				}
				must(t, err)
				if st.Name != tc.name || st.Mode.Type() != tc.mode || (tc.size != 0 && st.Size != tc.size) || st.LinkTarget != tc.link {
					t.Fatalf("stat = %+v", st)
				}
			})
		}
	}
}

// tarNames reads an archive's entry names (and link targets as name->target).
func tarNames(t *testing.T, r io.Reader) ([]string, map[string]string) {
	t.Helper()
	var names []string
	bodies := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, bodies
		}
		must(t, err)
		names = append(names, h.Name)
		b, _ := io.ReadAll(tr)
		bodies[h.Name] = string(b) + h.Linkname
	}
}

func TestArchivePath(t *testing.T) {
	tr := newTestTree(t)
	cases := []struct {
		doc   string
		path  string
		names []string
		body  map[string]string
	}{
		{doc: "directory under its name", path: "/d", names: []string{"d/", "d/f", "d/l", "d/sub/", "d/sub/g"}, body: map[string]string{"d/l": "f"}},
		{doc: "directory contents", path: "/d/.", names: []string{"./", "./f", "./l", "./sub/", "./sub/g"}},
		{doc: "file", path: "/d/f", names: []string{"f"}, body: map[string]string{"f": "file in d"}},
		{doc: "symlink as a symlink", path: "/bin/sh", names: []string{"sh"}, body: map[string]string{"sh": "/bin/busybox"}},
		{doc: "escaping symlink is archived, not followed", path: "/tmp/out", names: []string{"out"}, body: map[string]string{"out": "../../outside"}},
		{doc: "through an absolute symlink: the container's /etc", path: "/tmp/etc/", names: []string{"etc/", "etc/group", "etc/passwd"},
			body: map[string]string{"etc/group": "root:x:0:\nstaff:x:50:\n"}},
	}
	for _, running := range []bool{false, true} {
		s, c := newArchiveService(t, tr, running)
		since := time.Now()
		for _, tc := range cases {
			t.Run(tc.doc, func(t *testing.T) {
				a, err := s.ArchivePath(context.Background(), "box", tc.path)
				must(t, err)
				var buf bytes.Buffer
				err = a.Stream(&buf)
				a.Close()
				must(t, err)
				names, bodies := tarNames(t, &buf)
				if !slices.Equal(names, tc.names) {
					t.Fatalf("names = %q, want %q", names, tc.names)
				}
				for n, want := range tc.body {
					if bodies[n] != want {
						t.Fatalf("%s holds %q, want %q", n, bodies[n], want)
					}
				}
			})
		}
		msgs, _ := s.cfg.Events.Subscribe(context.Background(), since)
		if len(msgs) != len(cases) || msgs[0].Action != "archive-path" || msgs[0].Actor.ID != c.ID {
			t.Fatalf("events = %+v", msgs)
		}
	}
	tr.outsideUntouched(t)
}

func TestExport(t *testing.T) {
	tr := newTestTree(t)
	s, _ := newArchiveService(t, tr, false)
	a, err := s.Export(context.Background(), "box")
	must(t, err)
	var buf bytes.Buffer
	must(t, a.Stream(&buf))
	a.Close()
	names, bodies := tarNames(t, &buf)
	for _, want := range []string{"bin/", "bin/busybox", "bin/sh", "d/sub/g", "etc/passwd", "tmp/out"} {
		if !slices.Contains(names, want) {
			t.Fatalf("export lacks %s: %q", want, names)
		}
	}
	if bodies["tmp/out"] != "../../outside" || slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "host file") || n == "x" }) {
		t.Fatalf("export followed a link: %q", names)
	}
}

// entry is one tar entry for the extraction cases.
type entry struct {
	name, body, link string
	kind             byte
	mode             int64
	uid              int
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.kind, Linkname: e.link, Mode: e.mode, Uid: e.uid, Gid: e.uid,
			Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0)}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.kind != tar.TypeReg {
			h.Size = 0
		}
		must(t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(e.body)[:h.Size])
		must(t, err)
	}
	must(t, tw.Close())
	return buf.Bytes()
}

func reg(name, body string) entry  { return entry{name: name, body: body, kind: tar.TypeReg} }
func dir(name string) entry        { return entry{name: name, kind: tar.TypeDir, mode: 0o750} }
func sym(name, to string) entry    { return entry{name: name, link: to, kind: tar.TypeSymlink} }
func hardln(name, to string) entry { return entry{name: name, link: to, kind: tar.TypeLink} }

func TestExtractToDir(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return buf.Bytes()
	}
	cases := []struct {
		doc         string
		dest        string
		entries     []entry
		raw         func([]byte) []byte
		noOverwrite bool
		setup       func(t *testing.T, rootfs string)
		wantErr     string
		check       func(t *testing.T, rootfs string) // paths in rootfs
	}{
		{doc: "file and directory with modes and owners", dest: "/tmp",
			entries: []entry{dir("new"), {name: "new/f", body: "hi", kind: tar.TypeReg, mode: 0o4755, uid: 1234}},
			check: func(t *testing.T, r string) {
				fileIs(t, filepath.Join(r, "tmp/new/f"), "hi", 0o755|fs.ModeSetuid, 1234)
				fi, err := os.Stat(filepath.Join(r, "tmp/new"))
				must(t, err)
				if fi.Mode().Perm() != 0o750 || !fi.ModTime().Equal(time.Unix(1700000000, 0)) {
					t.Fatalf("dir mode %v mtime %v", fi.Mode(), fi.ModTime())
				}
			}},
		{doc: "gzip", dest: "/", entries: []entry{reg("z", "zipped")}, raw: gz,
			check: func(t *testing.T, r string) { fileIs(t, filepath.Join(r, "z"), "zipped", 0o644, 0) }},
		{doc: "implied parents", dest: "/tmp", entries: []entry{reg("a/b/c", "deep")},
			check: func(t *testing.T, r string) { fileIs(t, filepath.Join(r, "tmp/a/b/c"), "deep", 0o644, 0) }},
		{doc: "dot-dot name refused", dest: "/tmp", entries: []entry{reg("../../outside/evil", "x")}, wantErr: "is outside of"},
		{doc: "absolute name stays inside", dest: "/tmp", entries: []entry{reg("/abs", "a")},
			check: func(t *testing.T, r string) { fileIs(t, filepath.Join(r, "tmp/abs"), "a", 0o644, 0) }},
		{doc: "destination through an absolute symlink", dest: "/tmp/etc", entries: []entry{reg("evil", "x")},
			check: func(t *testing.T, r string) { fileIs(t, filepath.Join(r, "etc/evil"), "x", 0o644, 0) }},
		{doc: "destination dot-dot", dest: "../../../tmp", entries: []entry{reg("dd", "x")},
			check: func(t *testing.T, r string) { fileIs(t, filepath.Join(r, "tmp/dd"), "x", 0o644, 0) }},
		{doc: "planted absolute symlink in an entry's parent", dest: "/tmp", entries: []entry{reg("etc/planted", "x")},
			check: func(t *testing.T, r string) { fileIs(t, filepath.Join(r, "etc/planted"), "x", 0o644, 0) }},
		{doc: "planted relative symlink out of the root, dangling inside", dest: "/", entries: []entry{reg("tmp/out/evil", "x")},
			wantErr: "not a directory"},
		{doc: "planted relative symlink out of the root", dest: "/", entries: []entry{reg("tmp/deep/evil", "x")},
			setup: func(t *testing.T, r string) { must(t, os.Mkdir(filepath.Join(r, "outside"), 0o755)) },
			check: func(t *testing.T, r string) {
				if _, err := os.Lstat(filepath.Join(r, "outside/evil")); err != nil {
					t.Fatalf("want rootfs/outside/evil: %v", err)
				}
			}},
		{doc: "symlink then a file through it", dest: "/tmp", entries: []entry{sym("l", "/etc"), reg("l/through", "x")},
			check: func(t *testing.T, r string) {
				fileIs(t, filepath.Join(r, "etc/through"), "x", 0o644, 0)
				if target, _ := os.Readlink(filepath.Join(r, "tmp/l")); target != "/etc" {
					t.Fatalf("tmp/l -> %q", target)
				}
			}},
		{doc: "relative symlink climbing out of the destination", dest: "/d", entries: []entry{sym("l", "../../x")}, wantErr: "invalid symlink"},
		{doc: "existing symlink replaced, not followed", dest: "/tmp", entries: []entry{reg("etc", "now a file")},
			check: func(t *testing.T, r string) {
				fileIs(t, filepath.Join(r, "tmp/etc"), "now a file", 0o644, 0)
				fileIs(t, filepath.Join(r, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n", 0o644, 0)
			}},
		{doc: "hard link inside", dest: "/tmp", entries: []entry{reg("f", "x"), hardln("h", "f")},
			check: func(t *testing.T, r string) { sameInode(t, filepath.Join(r, "tmp/f"), filepath.Join(r, "tmp/h")) }},
		{doc: "hard link through a planted symlink links the container's file", dest: "/tmp",
			entries: []entry{{name: "h", link: "etc/group", kind: tar.TypeLink, mode: 0o644}},
			check:   func(t *testing.T, r string) { sameInode(t, filepath.Join(r, "etc/group"), filepath.Join(r, "tmp/h")) }},
		{doc: "hard link climbing out", dest: "/tmp", entries: []entry{hardln("h", "../../outside/x")}, wantErr: "invalid hardlink"},
		{doc: "hard link to an escaping symlink links the symlink", dest: "/tmp", entries: []entry{hardln("h", "out")},
			check: func(t *testing.T, r string) {
				if target, err := os.Readlink(filepath.Join(r, "tmp/h")); err != nil || target != "../../outside" {
					t.Fatalf("tmp/h: %q, %v", target, err)
				}
			}},
		{doc: "file over directory refused", dest: "/", entries: []entry{reg("d", "x")}, noOverwrite: true, wantErr: `cannot overwrite directory "/d" with non-directory "/"`},
		{doc: "directory over file refused", dest: "/d", entries: []entry{dir("f")}, noOverwrite: true, wantErr: `cannot overwrite non-directory "/d/f" with directory "/d"`},
		{doc: "file over directory allowed", dest: "/", entries: []entry{reg("d", "x")},
			check: func(t *testing.T, r string) { fileIs(t, filepath.Join(r, "d"), "x", 0o644, 0) }},
		{doc: "directory merged with directory", dest: "/", entries: []entry{dir("d"), reg("d/new", "n")}, noOverwrite: true,
			check: func(t *testing.T, r string) {
				fileIs(t, filepath.Join(r, "d/new"), "n", 0o644, 0)
				fileIs(t, filepath.Join(r, "d/f"), "file in d", 0o644, 0)
			}},
		{doc: "destination is a file", dest: "/etc/passwd", entries: []entry{reg("x", "x")}, wantErr: "extraction point is not a directory"},
		{doc: "destination missing", dest: "/nope", entries: []entry{reg("x", "x")}, wantErr: "Could not find the file /nope in container box"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			tr := newTestTree(t)
			s, _ := newArchiveService(t, tr, false)
			if tc.setup != nil {
				tc.setup(t, tr.rootfs)
			}
			data := tarOf(t, tc.entries...)
			if tc.raw != nil {
				data = tc.raw(data)
			}
			err := s.ExtractToDir(context.Background(), "box", tc.dest, ExtractOptions{NoOverwriteDirNonDir: tc.noOverwrite}, bytes.NewReader(data))
			tr.outsideUntouched(t)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			must(t, err)
			tc.check(t, tr.rootfs)
		})
	}
}

func TestExtractOwnerAndReadOnly(t *testing.T) {
	tr := newTestTree(t)
	s, c := newArchiveService(t, tr, true)
	data := tarOf(t, entry{name: "owned", body: "o", kind: tar.TypeReg, mode: 0o600, uid: 77})
	extract := func(o ExtractOptions) error {
		return s.ExtractToDir(context.Background(), "box", "/tmp", o, bytes.NewReader(data))
	}
	must(t, extract(ExtractOptions{CopyUIDGID: true})) // no Config.User: the archive's owner
	fileIs(t, filepath.Join(tr.rootfs, "tmp/owned"), "o", 0o600, 77)
	c.Config.User = "app:staff" // looked up in the container's files
	must(t, extract(ExtractOptions{CopyUIDGID: true}))
	fileIs(t, filepath.Join(tr.rootfs, "tmp/owned"), "o", 0o600, 1000)
	if st := statT(t, filepath.Join(tr.rootfs, "tmp/owned")); st.Gid != 50 {
		t.Fatalf("gid %d, want 50", st.Gid)
	}
	c.Config.User = "nobody-here"
	if err := extract(ExtractOptions{CopyUIDGID: true}); err == nil || !strings.Contains(err.Error(), "unable to find user nobody-here") {
		t.Fatalf("err = %v", err)
	}
	c.HostConfig.ReadonlyRootfs = true
	if err := extract(ExtractOptions{}); !errdefs.IsInvalid(err) || err.Error() != "container rootfs is marked read-only" {
		t.Fatalf("err = %v", err)
	}
}

func statT(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	must(t, err)
	return fi.Sys().(*syscall.Stat_t)
}

func fileIs(t *testing.T, p, body string, mode fs.FileMode, uid int) {
	t.Helper()
	fi, err := os.Lstat(p)
	must(t, err)
	b, err := os.ReadFile(p)
	must(t, err)
	if !fi.Mode().IsRegular() || string(b) != body || fi.Mode()&(fs.ModePerm|fs.ModeSetuid) != mode || int(statT(t, p).Uid) != uid {
		t.Fatalf("%s: mode %v uid %d body %q; want %v %d %q", p, fi.Mode(), statT(t, p).Uid, b, mode, uid, body)
	}
}

func sameInode(t *testing.T, a, b string) {
	t.Helper()
	if statT(t, a).Ino != statT(t, b).Ino {
		t.Fatalf("%s and %s are not the same file", a, b)
	}
}
