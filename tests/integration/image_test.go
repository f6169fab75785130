package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// imageID is the full ID of an image, or "" if the daemon does not have it.
func imageID(c *client, ref string) string {
	c.t.Helper()
	r := c.run("image", "inspect", "--format", "{{.Id}}", ref)
	if r.code != 0 {
		return ""
	}
	return strings.TrimSpace(r.stdout)
}

// importUnique imports the busybox rootfs as a new image (its own ID: the
// message and creation time differ) and returns that ID.
func importUnique(c *client, ref, message string, changes ...string) string {
	c.t.Helper()
	args := []string{"import", "-m", message}
	for _, ch := range changes {
		args = append(args, "--change", ch)
	}
	args = append(args, the.busybox)
	if ref != "" {
		args = append(args, ref)
	}
	id := c.okTrim(args...)
	if !strings.HasPrefix(id, "sha256:") || len(id) != len("sha256:")+64 {
		c.t.Fatalf("import printed %q, want sha256:<64 hex>", id)
	}
	if ref != "" {
		c.t.Cleanup(func() { _ = c.run("rmi", "-f", ref) })
	}
	return id
}

func TestImagesListsBusybox(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		table := c.ok("images")
		rows := lines(table)
		if len(rows) < 2 || !strings.HasPrefix(rows[0], "REPOSITORY") {
			t.Fatalf("images: unexpected table:\n%s", table)
		}
		id := imageID(c, "busybox")
		if id == "" {
			t.Fatal("image inspect busybox failed")
		}
		found := false
		for _, r := range rows[1:] {
			f := strings.Fields(r)
			if len(f) >= 3 && f[0] == "busybox" && f[1] == "latest" && f[2] == strings.TrimPrefix(id, "sha256:")[:12] {
				found = true
			}
		}
		if !found {
			t.Errorf("images has no busybox latest %s row:\n%s", id[7:19], table)
		}
		if got := c.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(got, "busybox:latest\n") {
			t.Errorf("images --format lacks busybox:latest:\n%s", got)
		}
		if got := c.okTrim("images", "-q", "busybox"); got != id[7:19] {
			t.Errorf("images -q busybox: %q, want %q", got, id[7:19])
		}
	})
}

func TestTagAndRmiUntag(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		id := imageID(c, "busybox")
		ref := c.uniqueName("tag") + ":v1"
		c.ok("tag", "busybox", ref)
		if got := imageID(c, ref); got != id {
			t.Fatalf("tag: %s has ID %q, want busybox's %s", ref, got, id)
		}
		if got := c.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(got, ref+"\n") {
			t.Errorf("images lacks %s:\n%s", ref, got)
		}
		if got := c.ok("rmi", ref); got != "Untagged: "+ref+"\n" {
			t.Errorf("rmi of an extra tag printed %q, want only Untagged: %s", got, ref)
		}
		if got := imageID(c, "busybox"); got != id {
			t.Errorf("busybox after rmi of another tag: %q, want %s", got, id)
		}
		r := c.expectExit(1, "image", "inspect", ref)
		if !strings.Contains(r.stderr, "No such image: "+ref) {
			t.Errorf("image inspect of an untagged ref: stderr %q", r.stderr)
		}
	})
}

func TestSaveLoadRoundTrip(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		ref := c.uniqueName("save") + ":v1"
		id := importUnique(c, ref, "save test "+ref)
		file := filepath.Join(t.TempDir(), "image.tar")

		// save -o, rmi (deletes: no other tag), load -i.
		c.ok("save", "-o", file, ref)
		if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
			t.Fatalf("save -o wrote nothing: %v", err)
		}
		rmi := c.ok("rmi", ref)
		if !strings.Contains(rmi, "Untagged: "+ref) || !strings.Contains(rmi, "Deleted: "+id) {
			t.Errorf("rmi printed %q, want Untagged: %s and Deleted: %s", rmi, ref, id)
		}
		if got := imageID(c, ref); got != "" {
			t.Fatalf("%s still present after rmi: %s", ref, got)
		}
		if got := c.ok("load", "-i", file); !strings.Contains(got, "Loaded image: "+ref) {
			t.Errorf("load -i printed %q, want Loaded image: %s", got, ref)
		}
		if got := imageID(c, ref); got != id {
			t.Fatalf("after load -i: %s is %q, want %s", ref, got, id)
		}

		// save | load through stdout and stdin.
		saved := c.ok("save", ref)
		c.ok("rmi", ref)
		r := c.runWith(strings.NewReader(saved), nil, "load")
		if r.code != 0 || !strings.Contains(r.stdout, "Loaded image: "+ref) {
			t.Errorf("save | load: %s", r)
		}
		if got := imageID(c, ref); got != id {
			t.Errorf("after save | load: %s is %q, want %s", ref, got, id)
		}
		// The loaded image runs.
		if got := c.ok("run", "--rm", ref, "echo", "loaded"); got != "loaded\n" {
			t.Errorf("run of the loaded image printed %q", got)
		}
	})
}

func TestImportWithChanges(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		ref := c.uniqueName("app") + ":1"
		importUnique(c, ref, "app", `ENTRYPOINT ["echo","app"]`, `CMD ["--port","8000"]`)
		if got := c.ok("run", "--rm", ref); got != "app --port 8000\n" {
			t.Errorf("run %s printed %q, want %q", ref, got, "app --port 8000\n")
		}
		if got := c.ok("run", "--rm", ref, "--port", "5000"); got != "app --port 5000\n" {
			t.Errorf("run %s --port 5000 printed %q, want %q", ref, got, "app --port 5000\n")
		}
		if got := c.okTrim("image", "inspect", "--format", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", ref); got != `["echo","app"] ["--port","8000"]` {
			t.Errorf("image config: %s", got)
		}

		// import from stdin, as scripts/mkbusybox.sh does.
		tarball, err := os.ReadFile(the.busybox)
		if err != nil {
			t.Fatal(err)
		}
		stdinRef := c.uniqueName("stdin") + ":1"
		r := c.runWith(bytes.NewReader(tarball), nil, "import", "--change", `CMD ["echo","from","stdin"]`, "-", stdinRef)
		t.Cleanup(func() { _ = c.run("rmi", "-f", stdinRef) })
		if r.code != 0 {
			t.Fatalf("import - %s: %s", stdinRef, r)
		}
		if got := c.ok("run", "--rm", stdinRef); got != "from stdin\n" {
			t.Errorf("run of the stdin import printed %q", got)
		}
	})
}

func TestHistoryShowsImportComment(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		ref := c.uniqueName("hist") + ":1"
		msg := "history test by " + c.name
		importUnique(c, ref, msg)
		if got := c.ok("history", ref); !strings.Contains(got, msg) || !strings.HasPrefix(got, "IMAGE") {
			t.Errorf("history lacks the comment %q:\n%s", msg, got)
		}
		if got := c.okTrim("history", "--format", "{{.Comment}}", ref); got != msg {
			t.Errorf("history --format {{.Comment}}: %q, want %q", got, msg)
		}
	})
}

func TestImagePruneRemovesDangling(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		id := importUnique(c, "", "dangling "+c.name)
		if got := c.ok("images", "--filter", "dangling=true", "-q", "--no-trunc"); !strings.Contains(got, id) {
			t.Fatalf("images --filter dangling=true lacks %s:\n%s", id, got)
		}
		out := c.ok("image", "prune", "-f")
		if !strings.Contains(out, "deleted: "+id) || !strings.Contains(out, "Total reclaimed space:") {
			t.Errorf("image prune -f printed:\n%s\nwant deleted: %s and Total reclaimed space", out, id)
		}
		if got := imageID(c, id); got != "" {
			t.Errorf("%s still present after prune", id)
		}
		if imageID(c, "busybox") == "" {
			t.Error("prune removed busybox:latest, which is tagged")
		}
	})
}
