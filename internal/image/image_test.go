package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
)

func TestImportAndResolve(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.importBusybox(t, "busybox",
		`ENTRYPOINT ["echo","app"]`,
		`CMD ["--port","8000"]`,
		`ENV A=1 B="two words"`,
		`LABEL org.example=yes`,
		`EXPOSE 80 53/udp`,
		`WORKDIR /srv`,
	)
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Fatalf("id = %q", id)
	}
	hex := strings.TrimPrefix(id, "sha256:")
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", "library/busybox", id, hex, hex[:12], "sha256:" + hex[:8]} {
		img, err := f.svc.Resolve(ctx, ref)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", ref, err)
		}
		if img.ID != id {
			t.Fatalf("Resolve(%q) = %s, want %s", ref, img.ID, id)
		}
	}
	img, _ := f.svc.Resolve(ctx, "busybox")
	c := img.Config.Config
	if !reflect.DeepEqual(c.Entrypoint, []string{"echo", "app"}) || !reflect.DeepEqual(c.Cmd, []string{"--port", "8000"}) {
		t.Fatalf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	if !reflect.DeepEqual(c.Env, []string{"A=1", "B=two words"}) || c.Labels["org.example"] != "yes" || c.WorkingDir != "/srv" {
		t.Fatalf("config %+v", c)
	}
	if _, ok := c.ExposedPorts["53/udp"]; !ok {
		t.Fatalf("exposed %v", c.ExposedPorts)
	}
	if !reflect.DeepEqual(img.RepoTags, []string{"busybox:latest"}) || img.Config.OS != "linux" || img.Config.Architecture != "amd64" {
		t.Fatalf("image %+v", img)
	}

	errCases := []struct {
		ref  string
		is   func(error) bool
		want string
	}{
		{"nope", errdefs.IsNotFound, "No such image: nope:latest"},
		{"busybox:1.0", errdefs.IsNotFound, "No such image: busybox:1.0"},
		{"Busybox", errdefs.IsInvalid, "invalid reference format: repository name (library/Busybox) must be lowercase"},
		{"a b", errdefs.IsInvalid, "invalid reference format"},
	}
	for _, tc := range errCases {
		_, err := f.svc.Resolve(ctx, tc.ref)
		if err == nil || !tc.is(err) || err.Error() != tc.want {
			t.Errorf("Resolve(%q) = %v, want %q", tc.ref, err, tc.want)
		}
	}

	ins, err := f.svc.Inspect(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if ins.Comment != "Imported from -" || ins.Size < 1<<20 || len(ins.RootFS.Layers) != 1 || ins.GraphDriver.Name != "overlay2" || ins.GraphDriver.Data["UpperDir"] == "" {
		t.Fatalf("inspect %+v %+v", ins, ins.GraphDriver)
	}
	if _, err := os.Stat(filepath.Join(ins.GraphDriver.Data["UpperDir"], "bin", "busybox")); err != nil {
		t.Fatalf("layer not unpacked where inspect says: %v", err)
	}
	hist, err := f.svc.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].ID != id || hist[0].Comment != "Imported from -" || hist[0].Size != ins.Size {
		t.Fatalf("history %+v", hist)
	}
}

func TestImportCompressions(t *testing.T) {
	f := newFixture(t)
	plain := busyboxTar(t)
	cases := map[string][]byte{"plain": plain, "gzip": gzipped(t, plain)}
	if _, err := exec.LookPath("xz"); err == nil {
		cmd := exec.Command("xz", "-z", "-c", "-0")
		cmd.Stdin = bytes.NewReader(plain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		cases["xz"] = out
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			id, err := f.svc.Import(context.Background(), bytes.NewReader(body), ImportOptions{Repo: "x/" + name, Tag: "v1", Message: "m-" + name, Platform: "linux/arm64"})
			if err != nil {
				t.Fatal(err)
			}
			ins, err := f.svc.Inspect(context.Background(), "x/"+name+":v1")
			if err != nil || ins.ID != id || ins.Comment != "m-"+name || ins.Architecture != "arm64" {
				t.Fatalf("inspect %+v %v", ins, err)
			}
		})
	}
}

func TestTagUntagDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.importBusybox(t, "busybox")
	if err := f.svc.Tag(ctx, "busybox", "myrepo/app", "1.0"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Tag(ctx, id, "localhost:5000/x", "tag"); err != nil {
		t.Fatal(err)
	}
	list, err := f.svc.List(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"busybox:latest", "localhost:5000/x:tag", "myrepo/app:1.0"}
	if len(list) != 1 || !reflect.DeepEqual(list[0].RepoTags, want) {
		t.Fatalf("list %+v", list)
	}
	ref, _ := filters.Parse(`{"reference":{"myrepo/*":true}}`)
	list, _ = f.svc.List(ctx, ListOptions{Filters: ref})
	if len(list) != 1 || !reflect.DeepEqual(list[0].RepoTags, []string{"myrepo/app:1.0"}) {
		t.Fatalf("reference filter %+v", list)
	}

	// Several names: rmi by ID needs force.
	if _, err := f.svc.Delete(ctx, id, false, true); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "image is referenced in multiple repositories") {
		t.Fatalf("rmi id with tags: %v", err)
	}
	res, err := f.svc.Delete(ctx, "myrepo/app:1.0", false, true)
	if err != nil || len(res) != 1 || res[0].Untagged != "myrepo/app:1.0" {
		t.Fatalf("untag: %+v %v", res, err)
	}
	if _, err := f.svc.Delete(ctx, "localhost:5000/x:tag", false, true); err != nil {
		t.Fatal(err)
	}

	// A container uses it: conflicts worded as dockerd words them.
	f.users[id] = []string{"0123456789abcdef0123"}
	short := strings.TrimPrefix(id, "sha256:")[:12]
	_, err = f.svc.Delete(ctx, "busybox", false, true)
	if want := `conflict: unable to remove repository reference "busybox" (must force) - container 0123456789ab is using its referenced image ` + short; !errdefs.IsConflict(err) || err.Error() != want {
		t.Fatalf("rmi used by name: %v\nwant %s", err, want)
	}
	_, err = f.svc.Delete(ctx, short, false, true)
	if want := "conflict: unable to delete " + short + " (must be forced) - image is being used by stopped container 0123456789ab"; !errdefs.IsConflict(err) || err.Error() != want {
		t.Fatalf("rmi used by id: %v\nwant %s", err, want)
	}
	f.run["0123456789abcdef0123"] = true
	_, err = f.svc.Delete(ctx, short, true, true)
	if want := "conflict: unable to delete " + short + " (cannot be forced) - image is being used by running container 0123456789ab"; !errdefs.IsConflict(err) || err.Error() != want {
		t.Fatalf("rmi -f used by running: %v\nwant %s", err, want)
	}
	// rmi -f of the name with a running user: untagged, kept as dangling.
	res, err = f.svc.Delete(ctx, "busybox", true, true)
	if err != nil || len(res) != 1 || res[0].Untagged != "busybox:latest" {
		t.Fatalf("rmi -f running: %+v %v", res, err)
	}
	dangling, _ := filters.Parse(`{"dangling":{"true":true}}`)
	list, _ = f.svc.List(ctx, ListOptions{Filters: dangling})
	if len(list) != 1 || list[0].ID != id || len(list[0].RepoTags) != 0 {
		t.Fatalf("dangling after rmi -f: %+v", list)
	}

	delete(f.users, id)
	res, err = f.svc.Delete(ctx, id, false, true)
	if err != nil || len(res) < 2 || res[0].Deleted != id {
		t.Fatalf("rmi: %+v %v", res, err)
	}
	if list, _ := f.svc.List(ctx, ListOptions{}); len(list) != 0 {
		t.Fatalf("images left: %+v", list)
	}
	if blobs, snaps := f.leftovers(t); blobs != 0 || snaps != 0 {
		t.Fatalf("left behind: %d blobs, %d snapshots", blobs, snaps)
	}
	if _, err := f.svc.Delete(ctx, "busybox", false, true); !errdefs.IsNotFound(err) || err.Error() != "No such image: busybox:latest" {
		t.Fatalf("rmi unknown: %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	past, _ := f.bus.Subscribe(cctx, time.Unix(1, 0))
	var got []string
	for _, m := range past {
		if m.Actor.ID != id {
			t.Fatalf("event for %s: %+v", m.Actor.ID, m)
		}
		got = append(got, string(m.Action)+" "+m.Actor.Attributes["name"])
	}
	want = []string{"import " + id, "tag busybox:latest", "tag myrepo/app:1.0", "tag localhost:5000/x:tag", "untag " + id, "untag " + id, "untag " + id, "delete " + id}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n%q\nwant\n%q", got, want)
	}
}

func TestPrune(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tagged := f.importMarked(t, "keep", "keep")
	dangling := f.importMarked(t, "", "dangling")
	used := f.importMarked(t, "used", "used")
	f.users[used] = []string{"c1"}

	rep, err := f.svc.Prune(ctx, filters.Args{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.ImagesDeleted) == 0 || rep.ImagesDeleted[0].Deleted != dangling {
		t.Fatalf("prune: %+v", rep)
	}
	all, _ := filters.Parse(`{"dangling":{"false":true}}`)
	rep, err = f.svc.Prune(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ImagesDeleted[0].Untagged != "keep:latest" || rep.ImagesDeleted[1].Deleted != tagged || rep.SpaceReclaimed == 0 {
		t.Fatalf("prune -a: %+v", rep)
	}
	list, _ := f.svc.List(ctx, ListOptions{})
	if len(list) != 1 || list[0].ID != used {
		t.Fatalf("left: %+v", list)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	src := newFixture(t)
	ctx := context.Background()
	id := src.importBusybox(t, "busybox", `CMD ["sh"]`)
	if err := src.svc.Tag(ctx, "busybox", "myrepo/app", "1.0"); err != nil {
		t.Fatal(err)
	}
	other := src.importBusybox(t, "")
	var archive bytes.Buffer
	if err := src.svc.Save(ctx, []string{"busybox", "myrepo/app:1.0", other}, &archive); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, archive.Bytes())
	for _, want := range []string{"manifest.json", "repositories", "index.json", "oci-layout", "blobs/sha256/" + strings.TrimPrefix(id, "sha256:")} {
		if !names[want] {
			t.Fatalf("archive lacks %s: %v", want, names)
		}
	}

	cases := []struct {
		name string
		drop []string
	}{
		{"both", nil},
		{"docker-archive", []string{"index.json", "oci-layout"}},
		{"oci-layout", []string{"manifest.json", "repositories"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := newFixture(t)
			lines, err := dst.svc.Load(ctx, bytes.NewReader(withoutEntries(t, archive.Bytes(), tc.drop...)))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(lines, "\n")
			for _, want := range []string{"Loaded image: busybox:latest", "Loaded image: myrepo/app:1.0", "Loaded image ID: " + other} {
				if !strings.Contains(got, want) {
					t.Fatalf("load said %q, want %q", got, want)
				}
			}
			img, err := dst.svc.Resolve(ctx, "myrepo/app:1.0")
			if err != nil || img.ID != id || !reflect.DeepEqual(img.Config.Config.Cmd, []string{"sh"}) {
				t.Fatalf("loaded %+v %v", img, err)
			}
			mountBusybox(t, dst, id)
		})
	}
}

func tarNames(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = true
	}
}

func withoutEntries(t *testing.T, b []byte, drop ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		skip := false
		for _, d := range drop {
			skip = skip || h.Name == d
		}
		if skip {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withEntry appends one entry to a saved archive.
func withEntry(t *testing.T, b []byte, h *tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(hd); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	body := []byte("evil\n")
	if h.Typeflag == tar.TypeReg {
		h.Size = int64(len(body))
	}
	h.Mode = 0o644
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	if h.Typeflag == tar.TypeReg {
		tw.Write(body)
	}
	tw.Close()
	return buf.Bytes()
}

func TestLoadRefusesBadArchives(t *testing.T) {
	src := newFixture(t)
	ctx := context.Background()
	src.importBusybox(t, "busybox")
	var saved bytes.Buffer
	if err := src.svc.Save(ctx, []string{"busybox"}, &saved); err != nil {
		t.Fatal(err)
	}
	good := saved.Bytes()
	evilLayer := gzipped(t, tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "../../escaped"}))

	cases := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"dotdot entry", withEntry(t, good, &tar.Header{Typeflag: tar.TypeReg, Name: "../evil"}), "outside of the archive root"},
		{"absolute entry", withEntry(t, good, &tar.Header{Typeflag: tar.TypeReg, Name: "/tmp/evil"}), "outside of the archive root"},
		{"escaping symlink", withEntry(t, good, &tar.Header{Typeflag: tar.TypeSymlink, Name: "blobs/x", Linkname: "../../etc/passwd"}), "invalid symlink"},
		{"absolute symlink", withEntry(t, good, &tar.Header{Typeflag: tar.TypeSymlink, Name: "x", Linkname: "/etc/passwd"}), "invalid symlink"},
		{"escaping hardlink", withEntry(t, good, &tar.Header{Typeflag: tar.TypeLink, Name: "x", Linkname: "../etc/passwd"}), "invalid hardlink"},
		{"truncated", good[:len(good)/2], "truncated"},
		{"not a tar", []byte("this is not an archive at all, not even close................"), ""},
		{"escaping layer", dockerArchive(t, evilLayer), "outside of the archive root"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := newFixture(t)
			_, err := dst.svc.Load(ctx, bytes.NewReader(tc.archive))
			if err == nil || !errdefs.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want invalid %q", err, tc.want)
			}
			if list, _ := dst.svc.List(ctx, ListOptions{}); len(list) != 0 {
				t.Fatalf("images after refused load: %+v", list)
			}
			if blobs, snaps := dst.leftovers(t); blobs != 0 || snaps != 0 {
				t.Fatalf("left behind: %d blobs, %d snapshots", blobs, snaps)
			}
		})
	}
}

// dockerArchive builds a docker-archive holding one image of one layer.
func dockerArchive(t *testing.T, layerBlob []byte) []byte {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}`)
	manifest := []byte(`[{"Config":"config.json","RepoTags":["evil:latest"],"Layers":["layer.tar"]}]`)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name string
		body []byte
	}{{"config.json", cfg}, {"layer.tar", layerBlob}, {"manifest.json", manifest}} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.body))})
		tw.Write(e.body)
	}
	tw.Close()
	return buf.Bytes()
}

func TestImportRefusesBadTars(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	good := busyboxTar(t)
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"dotdot", tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "../../etc/evil"}), "outside of the archive root"},
		{"absolute", tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "/etc/evil"}), "outside of the archive root"},
		{"symlink", tarOf(t, &tar.Header{Typeflag: tar.TypeSymlink, Name: "a/b", Linkname: "../../../etc"}), "invalid symlink"},
		{"hardlink", tarOf(t, &tar.Header{Typeflag: tar.TypeLink, Name: "x", Linkname: "../../etc/shadow"}), "invalid hardlink"},
		{"truncated", good[:len(good)/3], "truncated"},
		{"truncated gzip", gzipped(t, good)[:20000], ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Import(ctx, bytes.NewReader(tc.body), ImportOptions{Repo: "evil"})
			if err == nil || !errdefs.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import = %v, want invalid %q", err, tc.want)
			}
			if list, _ := f.svc.List(ctx, ListOptions{}); len(list) != 0 {
				t.Fatalf("images after refused import: %+v", list)
			}
			if blobs, snaps := f.leftovers(t); blobs != 0 || snaps != 0 {
				t.Fatalf("left behind: %d blobs, %d snapshots", blobs, snaps)
			}
		})
	}
	// A symlink with an absolute target is an ordinary rootfs link.
	ok := tarOf(t, &tar.Header{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755}, &tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/sh", Linkname: "/bin/busybox"})
	if _, err := f.svc.Import(ctx, bytes.NewReader(ok), ImportOptions{}); err != nil {
		t.Fatalf("absolute symlink refused: %v", err)
	}
}

// mountBusybox prepares and mounts a container file system of image id
// and checks busybox is in it and that unmount and removal clean up.
func mountBusybox(t *testing.T, f *fixture, id string) {
	t.Helper()
	ctx := context.Background()
	if err := f.svc.PrepareRootfs(ctx, "c1", id); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := f.svc.MountRootfs(ctx, "c1", target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.svc.UnmountRootfs(context.Background(), target) })
	if fi, err := os.Stat(filepath.Join(target, "bin", "busybox")); err != nil || fi.Size() < 1<<20 {
		t.Fatalf("busybox in mounted rootfs: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(target, "bin", "sh")); err != nil || l != "/bin/busybox" {
		t.Fatalf("bin/sh -> %q, %v", l, err)
	}
	if err := os.WriteFile(filepath.Join(target, "written"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	rw, virtual, err := f.svc.RootfsSize(ctx, "c1")
	if err != nil || rw < 4096 || virtual < rw+1<<20 {
		t.Fatalf("size rw=%d virtual=%d err=%v", rw, virtual, err)
	}
	// The image cannot go while the container's layer holds it.
	if err := f.svc.UnmountRootfs(ctx, target); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(target, "bin")); !os.IsNotExist(err) {
		t.Fatalf("still mounted: %v", err)
	}
	if err := f.svc.UnmountRootfs(ctx, target); err != nil {
		t.Fatalf("second unmount: %v", err)
	}
	if err := f.svc.RemoveRootfs(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.MountRootfs(ctx, "c1", target); !errdefs.IsNotFound(err) {
		t.Fatalf("mount after remove: %v", err)
	}
}

func TestRootfs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.importBusybox(t, "busybox")
	// The container's layer survives the image's deletion and GC.
	if err := f.svc.PrepareRootfs(ctx, "held", id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Delete(ctx, "busybox", false, true); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := f.svc.MountRootfs(ctx, "held", target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.svc.UnmountRootfs(context.Background(), target) })
	if _, err := os.Stat(filepath.Join(target, "bin", "busybox")); err != nil {
		t.Fatalf("rootfs lost its image layers: %v", err)
	}
	if err := f.svc.UnmountRootfs(ctx, target); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RemoveRootfs(ctx, "held"); err != nil {
		t.Fatal(err)
	}
	f.svc.CollectGarbage(ctx)
	if blobs, snaps := f.leftovers(t); blobs != 0 || snaps != 0 {
		t.Fatalf("left behind: %d blobs, %d snapshots", blobs, snaps)
	}

	id = f.importBusybox(t, "busybox")
	mountBusybox(t, f, id)
}

func TestRootfsVFS(t *testing.T) {
	f := newFixtureDriver(t, "vfs")
	id := f.importBusybox(t, "busybox")
	ins, err := f.svc.Inspect(context.Background(), id)
	if err != nil || ins.GraphDriver.Name != "vfs" {
		t.Fatalf("inspect: %+v %v", ins, err)
	}
	mountBusybox(t, f, id)
	if _, err := f.svc.Delete(context.Background(), id, false, true); err != nil {
		t.Fatal(err)
	}
	if blobs, snaps := f.leftovers(t); blobs != 0 || snaps != 0 {
		t.Fatalf("left behind: %d blobs, %d snapshots", blobs, snaps)
	}
}

// BenchmarkContainerRootfs measures the `docker run` path: prepare, mount,
// unmount and remove a container's file system.
func BenchmarkContainerRootfs(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for overlayfs")
	}
	ctx := context.Background()
	svc, err := New(ctx, Config{Root: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	body := tarOf(b, &tar.Header{Typeflag: tar.TypeReg, Name: "bin/true"})
	id, err := svc.Import(ctx, bytes.NewReader(body), ImportOptions{Repo: "x"})
	if err != nil {
		b.Fatal(err)
	}
	target := b.TempDir()
	for i := 0; b.Loop(); i++ {
		cid := fmt.Sprintf("c%d", i)
		t0 := time.Now()
		img, err := svc.Resolve(ctx, "x")
		if err != nil || img.ID != id {
			b.Fatal(err)
		}
		if err := svc.PrepareRootfs(ctx, cid, id); err != nil {
			b.Fatal(err)
		}
		if err := svc.MountRootfs(ctx, cid, target); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(t0).Microseconds()), "µs-to-mounted")
		if err := svc.UnmountRootfs(ctx, target); err != nil {
			b.Fatal(err)
		}
		if err := svc.RemoveRootfs(ctx, cid); err != nil {
			b.Fatal(err)
		}
	}
}
