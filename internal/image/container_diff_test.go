package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// layerFS builds directories the way overlayfs keeps layers: entries are
// "path" (file), "path/" (directory), "path=WH" (a 0/0 character device
// whiteout), "path/=OPQ" (an opaque directory) and "path->target".
func layerFS(t *testing.T, entries ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for whiteout device nodes and trusted.* attributes")
	}
	root := t.TempDir()
	mtime := time.Unix(1700000000, 0)
	for _, e := range entries {
		switch {
		case strings.HasSuffix(e, "=WH"):
			p := filepath.Join(root, strings.TrimSuffix(e, "=WH"))
			mustMkdir(t, filepath.Dir(p))
			if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(e, "/=OPQ"):
			p := filepath.Join(root, strings.TrimSuffix(e, "/=OPQ"))
			mustMkdir(t, p)
			if err := unix.Setxattr(p, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(e, "->"):
			name, target, _ := strings.Cut(e, "->")
			p := filepath.Join(root, name)
			mustMkdir(t, filepath.Dir(p))
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(e, "/"):
			mustMkdir(t, filepath.Join(root, e))
		default:
			name, body, _ := strings.Cut(e, ":")
			p := filepath.Join(root, name)
			mustMkdir(t, filepath.Dir(p))
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func changeLines(cs []container.FilesystemChange) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.Kind.String() + " " + c.Path + "\n")
	}
	return b.String()
}

func TestOverlayChanges(t *testing.T) {
	lowerBottom := []string{"etc/passwd:root", "etc/group:root", "bin/sh:x", "usr/lib/a:1", "usr/lib/b:2", "var/log/", "opt/keep:k", "tmp/"}
	tests := []struct {
		doc    string
		lowers [][]string // top first
		upper  []string
		want   string
	}{
		{
			doc:    "touch and rm as in `sh -c 'touch /tmp/x; rm /etc/passwd'`",
			lowers: [][]string{lowerBottom},
			upper:  []string{"tmp/x", "etc/passwd=WH"},
			want:   "C /etc\nD /etc/passwd\nC /tmp\nA /tmp/x\n",
		},
		{
			doc:    "a file changed in place, and one copied up without change",
			lowers: [][]string{lowerBottom},
			upper:  []string{"etc/passwd:root\nnew", "etc/group:root"},
			want:   "C /etc\nC /etc/passwd\n",
		},
		{
			doc:    "a new tree is reported whole, its parents as changed",
			lowers: [][]string{lowerBottom},
			upper:  []string{"srv/a/b/c:1"},
			want:   "A /srv\nA /srv/a\nA /srv/a/b\nA /srv/a/b/c\n",
		},
		{
			doc:    "every parent of a deep change is changed",
			lowers: [][]string{lowerBottom},
			upper:  []string{"usr/lib/c:3"},
			want:   "C /usr\nC /usr/lib\nA /usr/lib/c\n",
		},
		{
			doc:    "an opaque directory deletes what the image held in it",
			lowers: [][]string{lowerBottom},
			upper:  []string{"usr/lib/=OPQ", "usr/lib/b:2"},
			want:   "C /usr\nC /usr/lib\nD /usr/lib/a\n",
		},
		{
			doc:    "a whiteout in an upper image layer hides the file below",
			lowers: [][]string{{"opt/keep=WH"}, lowerBottom},
			upper:  []string{"opt/keep:again"},
			want:   "C /opt\nA /opt/keep\n",
		},
		{
			doc:    "an opaque image layer hides the directory's older contents",
			lowers: [][]string{{"usr/lib/=OPQ", "usr/lib/z:z"}, lowerBottom},
			upper:  []string{"usr/lib/a:new"},
			want:   "C /usr\nC /usr/lib\nA /usr/lib/a\n",
		},
		{
			doc:    "a whiteout of something no layer has is no change",
			lowers: [][]string{lowerBottom},
			upper:  []string{"nothing=WH"},
			want:   "",
		},
		{
			doc:    "mount points the runtime made are left out",
			lowers: [][]string{lowerBottom},
			upper:  []string{"etc/hostname", "etc/hosts", "etc/resolv.conf", "proc/", "dev/"},
			want:   "",
		},
		{
			doc:    "but not when a process wrote them",
			lowers: [][]string{lowerBottom},
			upper:  []string{"etc/hostname", "etc/hosts:127.0.0.1 x"},
			want:   "C /etc\nA /etc/hosts\n",
		},
		{
			doc:    "a symlink replaced by another",
			lowers: [][]string{{"bin/ls->busybox"}, lowerBottom},
			upper:  []string{"bin/ls->toybox"},
			want:   "C /bin\nC /bin/ls\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			var lowers []string
			for _, l := range tc.lowers {
				lowers = append(lowers, layerFS(t, l...))
			}
			upper := layerFS(t, tc.upper...)
			m, err := overlayChanges(upper, lowers)
			if err != nil {
				t.Fatal(err)
			}
			if got := changeLines(finishChanges(m, upper)); got != tc.want {
				t.Errorf("changes:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestTreeChanges(t *testing.T) {
	old := layerFS(t, "etc/passwd:root", "etc/group:root", "usr/lib/a:1", "usr/lib/b:2", "var/")
	cur := layerFS(t, "etc/group:root", "usr/lib/a:1", "usr/lib/b:22", "tmp/x", "var/", "etc/hostname")
	m, err := treeChanges(cur, old)
	if err != nil {
		t.Fatal(err)
	}
	want := "C /etc\nD /etc/passwd\nA /tmp\nA /tmp/x\nC /usr\nC /usr/lib\nC /usr/lib/b\n"
	if got := changeLines(finishChanges(m, cur)); got != want {
		t.Errorf("changes:\n%s\nwant:\n%s", got, want)
	}
	m, err = treeChanges(cur, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := changeLines(finishChanges(m, cur)); !strings.Contains(got, "A /usr/lib/b\n") || strings.Contains(got, "/etc/hostname") {
		t.Errorf("changes against an empty image:\n%s", got)
	}
}

func TestWriteChanges(t *testing.T) {
	root := layerFS(t, "etc/", "tmp/x:hello", "tmp/l->x")
	if err := os.Link(filepath.Join(root, "tmp/x"), filepath.Join(root, "tmp/y")); err != nil {
		t.Fatal(err)
	}
	changes := []container.FilesystemChange{
		{Path: "/etc", Kind: container.ChangeModify},
		{Path: "/etc/passwd", Kind: container.ChangeDelete},
		{Path: "/gone", Kind: container.ChangeAdd}, // removed since the diff
		{Path: "/tmp", Kind: container.ChangeModify},
		{Path: "/tmp/l", Kind: container.ChangeAdd},
		{Path: "/tmp/x", Kind: container.ChangeAdd},
		{Path: "/tmp/y", Kind: container.ChangeAdd},
	}
	var buf bytes.Buffer
	if err := writeChanges(&buf, root, changes); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	var got []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		line := hdr.Name
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			line += " -> " + hdr.Linkname
		case tar.TypeLink:
			line += " link " + hdr.Linkname
		case tar.TypeReg:
			body, _ := io.ReadAll(tr)
			line += " = " + string(body)
		}
		if !hdr.AccessTime.IsZero() || hdr.ModTime.Nanosecond() != 0 {
			t.Errorf("%s: times not cut to the second: %v %v", hdr.Name, hdr.ModTime, hdr.AccessTime)
		}
		got = append(got, line)
	}
	want := "etc/\netc/.wh.passwd = \ntmp/\ntmp/l -> x\ntmp/x = hello\ntmp/y link tmp/x"
	if strings.Join(got, "\n") != want {
		t.Errorf("archive:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

// TestCommitContainer makes changes in a container's file system, then
// checks diff, commit and a container made from the committed image, on
// both snapshotters.
func TestCommitContainer(t *testing.T) {
	for _, driver := range []string{"overlay2", "vfs"} {
		t.Run(driver, func(t *testing.T) {
			f := newFixtureDriver(t, driver)
			ctx := context.Background()
			base := f.importBusybox(t, "busybox:latest", `CMD ["sh"]`, "ENV A=1")
			if err := f.svc.PrepareRootfs(ctx, "c1", base); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = f.svc.RemoveRootfs(context.Background(), "c1") })
			withRootfs(t, f, "c1", func(root string) {
				if err := os.WriteFile(filepath.Join(root, "tmp/x"), []byte("x\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(filepath.Join(root, "etc/passwd")); err != nil {
					t.Fatal(err)
				}
				// What runc makes for its bind mounts stays out.
				if err := os.WriteFile(filepath.Join(root, "etc/hostname"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			})
			changes, err := f.svc.RootfsChanges(ctx, "c1")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := changeLines(changes), "C /etc\nD /etc/passwd\nC /tmp\nA /tmp/x\n"; got != want {
				t.Fatalf("diff:\n%s\nwant:\n%s", got, want)
			}
			cfg, ccfg := imageCfg("sh"), imageCfg("sh")
			ccfg.Env = []string{"A=1", "B=2"}
			id, err := f.svc.Commit(ctx, "c1", CommitOptions{
				ParentID: base, Config: cfg, ContainerConfig: ccfg,
				Changes: []string{`CMD ["cat", "/tmp/x"]`}, Comment: "added x", Author: "me",
				CreatedBy: "sh -c touch", Repo: "mine", Tag: "v1",
			})
			if err != nil {
				t.Fatal(err)
			}
			img, err := f.svc.Resolve(ctx, "mine:v1")
			if err != nil || img.ID != id {
				t.Fatalf("mine:v1 = %v, %v; want %s", img, err, id)
			}
			if got := strings.Join(img.Config.Config.Cmd, " "); got != "cat /tmp/x" {
				t.Errorf("Cmd = %q", got)
			}
			if got := strings.Join(img.Config.Config.Env, ","); got != "A=1,B=2" {
				t.Errorf("Env = %q", got)
			}
			if n := len(img.Config.RootFS.DiffIDs); n != 2 {
				t.Errorf("%d layers, want 2", n)
			}
			hist, err := f.svc.History(ctx, "mine:v1")
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 2 || hist[0].Comment != "added x" || hist[0].CreatedBy != "sh -c touch" || hist[0].ID != id || hist[0].Size == 0 {
				t.Errorf("history: %+v", hist)
			}
			if err := f.svc.PrepareRootfs(ctx, "c2", id); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = f.svc.RemoveRootfs(context.Background(), "c2") })
			withRootfs(t, f, "c2", func(root string) {
				if b, err := os.ReadFile(filepath.Join(root, "tmp/x")); err != nil || string(b) != "x\n" {
					t.Errorf("/tmp/x in the committed image: %q, %v", b, err)
				}
				if _, err := os.Lstat(filepath.Join(root, "etc/passwd")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("/etc/passwd in the committed image: %v", err)
				}
				if _, err := os.Lstat(filepath.Join(root, "etc/hostname")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("/etc/hostname made it into the image: %v", err)
				}
			})
			changes, err = f.svc.RootfsChanges(ctx, "c2")
			if err != nil || len(changes) != 0 {
				t.Fatalf("diff of a fresh container: %v, %v", changes, err)
			}
			// No changes: an empty history step and no new layer.
			empty, err := f.svc.Commit(ctx, "c2", CommitOptions{ParentID: id, Config: cfg, ContainerConfig: ccfg})
			if err != nil {
				t.Fatal(err)
			}
			eimg, err := f.svc.Resolve(ctx, empty)
			if err != nil {
				t.Fatal(err)
			}
			h := eimg.Config.History
			if len(eimg.Config.RootFS.DiffIDs) != 2 || len(h) != 3 || !h[2].EmptyLayer || len(eimg.RepoTags) != 0 {
				t.Errorf("empty commit: %d layers, history %+v, tags %v", len(eimg.Config.RootFS.DiffIDs), h, eimg.RepoTags)
			}
		})
	}
}

// imageCfg is an image config running cmd.
func imageCfg(cmd ...string) dockerspec.DockerOCIImageConfig {
	var c dockerspec.DockerOCIImageConfig
	c.Cmd = cmd
	return c
}

// withRootfs mounts a container's file system for fn.
func withRootfs(t *testing.T, f *fixture, id string, fn func(root string)) {
	t.Helper()
	dir := t.TempDir()
	if err := f.svc.MountRootfs(context.Background(), id, dir); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.svc.UnmountRootfs(context.Background(), dir); err != nil {
			t.Error(err)
		}
	}()
	fn(dir)
}
