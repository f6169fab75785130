package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// psAll is `ps -aq --no-trunc`, sorted as printed.
func psAll(c *client) string {
	c.t.Helper()
	return c.ok("ps", "-aq", "--no-trunc")
}

// removeVolumeAtEnd removes a volume when the test ends.
func removeVolumeAtEnd(c *client, name string) {
	d := c.d
	c.t.Cleanup(func() {
		if d.running() {
			_, _, _, _ = d.api("DELETE", "/volumes/"+name+"?force=1", "", nil)
		}
	})
}

func TestVolumeDatabaseWorkflow(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		vol := c.uniqueName("dbdata")
		removeVolumeAtEnd(c, vol)
		writer := c.uniqueName("writer")
		c.ok("run", "--name", writer, "-v", vol+":/data", "busybox", "sh", "-c",
			"i=0; while [ $i -lt 1000 ]; do echo row$i > /data/f$i; i=$((i+1)); done")
		if got := c.inspect("{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}", writer); got != "volume "+vol+" /data true" {
			t.Errorf("inspect Mounts: %q", got)
		}
		c.ok("rm", writer)
		out := c.okTrim("run", "--rm", "-v", vol+":/data", "busybox", "sh", "-c", "ls /data | wc -l; cat /data/f999")
		if f := strings.Fields(out); len(f) != 2 || f[0] != "1000" || f[1] != "row999" {
			t.Fatalf("a new container sees %q, want 1000 files and row999", out)
		}
		user := c.uniqueName("user")
		c.ok("create", "--name", user, "-v", vol+":/data", "busybox", "true")
		r := c.run("volume", "rm", vol)
		if r.code == 0 || !strings.Contains(r.stderr, "volume is in use") {
			t.Fatalf("volume rm while in use: %s", r)
		}
		c.ok("rm", user)
		c.ok("volume", "rm", vol)
		if r := c.run("volume", "inspect", vol); r.code == 0 {
			t.Fatalf("volume still there after rm: %s", r)
		}
	})
}

func TestBindMounts(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		dir := t.TempDir()
		c.ok("run", "--rm", "-v", dir+":/app", "busybox", "sh", "-c", "echo from-container > /app/out")
		if got := readFile(t, filepath.Join(dir, "out")); got != "from-container\n" {
			t.Errorf("host sees %q", got)
		}

		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.WriteFile(filepath.Join(dir, "in"), []byte("from-host"), 0o644))
		r := c.run("run", "--rm", "--mount", "type=bind,source="+dir+",target=/app,readonly", "busybox", "sh", "-c", "cat /app/in; echo x > /app/new")
		if r.code == 0 || !strings.Contains(r.stdout, "from-host") || !strings.Contains(r.stderr, "Read-only file system") {
			t.Fatalf("readonly bind: %s", r)
		}
		if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
			t.Error("a write through a readonly bind reached the host")
		}

		// -v makes a missing source directory; --mount refuses it.
		missing := filepath.Join(t.TempDir(), "made", "here")
		name := c.uniqueName("bind")
		c.ok("run", "--name", name, "-v", missing+":/m:ro", "busybox", "true")
		if fi, err := os.Stat(missing); err != nil || !fi.IsDir() {
			t.Errorf("-v did not make %s: %v", missing, err)
		}
		want := "bind " + missing + " /m false rprivate ro"
		if got := c.inspect("{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}} {{.Propagation}} {{.Mode}}{{end}}", name); got != want {
			t.Errorf("inspect Mounts %q, want %q", got, want)
		}
		if got := c.okTrim("ps", "-a", "--no-trunc", "--filter", "name="+name, "--format", "{{.Mounts}}"); !strings.Contains(got, "here") {
			t.Errorf("ps Mounts %q", got)
		}
	})
}

func TestTmpfsSizeLimit(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		out := c.okTrim("run", "--rm", "--tmpfs", "/app/temp:size=16m", "busybox", "sh", "-c", "df -k /app/temp | tail -n 1")
		if f := strings.Fields(out); len(f) < 2 || f[1] != "16384" {
			t.Errorf("--tmpfs size=16m: df says %q", out)
		}
		r := c.run("run", "--rm", "--mount", "type=tmpfs,destination=/t,tmpfs-size=8m,tmpfs-mode=1770", "busybox", "sh", "-c",
			"stat -c %a /t; dd if=/dev/zero of=/t/big bs=1M count=12")
		if r.code == 0 || !strings.HasPrefix(r.stdout, "1770") || !strings.Contains(r.stderr, "No space left on device") {
			t.Fatalf("--mount type=tmpfs,tmpfs-size=8m: %s", r)
		}
	})
}

// volumeImageTar is the busybox rootfs plus /data/file owned by 1000:1000,
// mode 0640, under /data (0750, owned by 1000:1000).
func volumeImageTar(t *testing.T) string {
	t.Helper()
	in, err := os.Open(the.busybox)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(in)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	mt := time.Unix(1700000000, 0)
	for _, h := range []*tar.Header{
		{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1000, ModTime: mt},
		{Name: "data/file", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1000, Gid: 1000, ModTime: mt, Size: 5},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVolumeCopyUp(t *testing.T) {
	d := sharedDaemon(t)
	tarPath := volumeImageTar(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		ref := c.uniqueName("voldata")
		c.ok("import", "--change", "VOLUME /data", tarPath, ref)
		t.Cleanup(func() { _ = c.run("rmi", "-f", ref) })

		vol := c.uniqueName("copyup")
		removeVolumeAtEnd(c, vol)
		const check = "stat -c '%u:%g %a' /data /data/file; cat /data/file"
		want := "1000:1000 750\n1000:1000 640\nhello"
		first := c.uniqueName("first")
		if got := c.okTrim("run", "--name", first, "-v", vol+":/data", ref, "sh", "-c", check); got != want {
			t.Errorf("named volume over the image's /data: %q, want %q", got, want)
		}
		c.ok("rm", first)
		// The content is the volume's now: a plain busybox sees it.
		if got := c.okTrim("run", "--rm", "-v", vol+":/data", "busybox", "sh", "-c", check); got != want {
			t.Errorf("volume after its first container: %q, want %q", got, want)
		}
		// nocopy: an empty volume stays empty.
		empty := c.uniqueName("nocopy")
		removeVolumeAtEnd(c, empty)
		if got := c.okTrim("run", "--rm", "-v", empty+":/data:nocopy", ref, "ls", "-A", "/data"); got != "" {
			t.Errorf("nocopy volume has %q", got)
		}
		// The image's VOLUME alone: an anonymous volume, filled as well.
		anon := c.uniqueName("anon")
		if got := c.okTrim("run", "--name", anon, ref, "sh", "-c", check); got != want {
			t.Errorf("anonymous volume: %q, want %q", got, want)
		}
		name := c.inspect("{{range .Mounts}}{{.Name}}{{end}}", anon)
		if len(name) != 64 {
			t.Fatalf("anonymous volume name %q", name)
		}
		c.ok("rm", "-v", anon)
		if r := c.run("volume", "inspect", name); r.code == 0 {
			t.Errorf("rm -v left the anonymous volume %s", name)
		}
	})
}

func TestRmVolumesRemovesAnonymousOnly(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		vol := c.uniqueName("keep")
		removeVolumeAtEnd(c, vol)
		name := c.uniqueName("rmv")
		c.ok("create", "--name", name, "-v", vol+":/named", "-v", "/anon", "busybox", "true")
		var anon string
		for _, l := range lines(c.inspect("{{range .Mounts}}{{.Destination}} {{.Name}}\n{{end}}", name)) {
			if dest, n, _ := strings.Cut(l, " "); dest == "/anon" {
				anon = n
			}
		}
		if anon == "" {
			t.Fatal("no anonymous volume at /anon")
		}
		c.ok("rm", "-v", name)
		c.ok("volume", "inspect", vol)
		if r := c.run("volume", "inspect", anon); r.code == 0 {
			t.Errorf("rm -v left anonymous volume %s", anon)
		}
		// Without -v, the anonymous volume stays.
		name2 := c.uniqueName("rmnov")
		c.ok("create", "--name", name2, "-v", "/anon", "busybox", "true")
		anon2 := c.inspect("{{range .Mounts}}{{.Name}}{{end}}", name2)
		removeVolumeAtEnd(c, anon2)
		c.ok("rm", name2)
		c.ok("volume", "inspect", anon2)
	})
}

func TestMountBadInput(t *testing.T) {
	d := sharedDaemon(t)
	cases := []struct {
		doc  string
		args []string
		want string
	}{
		{doc: "relative host path", args: []string{"-v", "rel/dir:/app"},
			want: `"rel/dir" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{doc: "ro typo", args: []string{"-v", "/tmp:/app:rx"}, want: "invalid mode: rx"},
		{doc: "duplicate target", args: []string{"-v", "itdupvol:/data", "-v", "/tmp:/data"}, want: "Duplicate mount point: /data"},
		{doc: "duplicate with --mount", args: []string{"-v", "/tmp:/data", "--mount", "type=tmpfs,target=/data"}, want: "Duplicate mount point: /data"},
		{doc: "missing --mount bind source", args: []string{"--mount", "type=bind,source=/no/such/berth/dir,target=/app"},
			want: `invalid mount config for type "bind": bind source path does not exist: /no/such/berth/dir`},
		{doc: "target /", args: []string{"-v", "/tmp:/"}, want: "destination can't be '/'"},
	}
	eachClient(t, d, func(t *testing.T, c *client) {
		before := psAll(c)
		for _, tc := range cases {
			args := append(append([]string{"run", "--rm"}, tc.args...), "busybox", "true")
			r := c.expectExit(125, args...)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s: stderr %q, want %q", tc.doc, r.stderr, tc.want)
			}
		}
		if after := psAll(c); after != before {
			t.Errorf("bad input left containers: before %q after %q", before, after)
		}
		if r := c.run("volume", "inspect", "itdupvol"); r.code == 0 {
			t.Errorf("a refused create made volume itdupvol")
		}
		if _, err := os.Stat("/no/such/berth/dir"); err == nil {
			t.Errorf("a refused --mount made its source")
		}
	})
}

// sharedMount bind-mounts dir onto itself and makes it a shared mount,
// undone when the test ends (with whatever was mounted under it).
func sharedMount(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", dir, err)
	}
}

// mountTmpfs mounts a tmpfs holding one file, hello, at dir on the host.
func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs at %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "hello"), []byte("from-host-mount"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBindPropagation: shared and slave propagation need a source whose
// host mount is shared (Docker's refusals otherwise); with one, a mount
// made on the host under the source after the container started shows
// inside an rshared or rslave bind and not inside a private one. A bind
// that holds the data root defaults to rslave.
func TestBindPropagation(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		src := t.TempDir()
		// The source lies on the root filesystem, a private mount here.
		mnt, err := hostMountOf(src)
		if err != nil {
			t.Fatal(err)
		}
		refusals := []struct{ mount, want string }{
			{"type=bind,source=" + src + ",target=/m,bind-propagation=rshared", "path " + src + " is mounted on " + mnt + " but it is not a shared mount"},
			{"type=bind,source=" + src + ",target=/m,bind-propagation=slave", "path " + src + " is mounted on " + mnt + " but it is not a shared or slave mount"},
		}
		for _, r := range refusals {
			name := c.uniqueName("noprop")
			rmAtEnd(t, d, name)
			res := c.run("run", "--name", name, "--mount", r.mount, "busybox", "true")
			if res.code == 0 || !strings.Contains(res.stderr, r.want) {
				t.Errorf("--mount %s on a private mount: %s\nwant %q", r.mount, res, r.want)
			}
		}

		sharedMount(t, src)
		if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		binds := []struct {
			doc, flag, arg, prop string
			visible              bool
		}{
			{"--mount rshared", "--mount", "type=bind,source=" + src + ",target=/m,bind-propagation=rshared", "rshared", true},
			{"-v :rslave", "-v", src + ":/m:rslave", "rslave", true},
			{"-v :shared", "-v", src + ":/m:shared", "shared", true},
			{"-v default", "-v", src + ":/m", "rprivate", false},
			{"--mount private", "--mount", "type=bind,source=" + src + ",target=/m,bind-propagation=private", "private", false},
		}
		names := make([]string, len(binds))
		for i, b := range binds {
			names[i] = c.uniqueName("prop")
			rmAtEnd(t, d, names[i])
			c.ok("run", "-d", "--name", names[i], b.flag, b.arg, "busybox", "sleep", "300")
			if got := c.inspect("{{range .Mounts}}{{.Propagation}}{{end}}", names[i]); got != b.prop {
				t.Errorf("%s: inspect Propagation %q, want %q", b.doc, got, b.prop)
			}
		}
		// Only now, with every container running, the host mounts under src.
		mountTmpfs(t, filepath.Join(src, "sub"))
		for i, b := range binds {
			r := c.run("exec", names[i], "cat", "/m/sub/hello")
			if seen := r.code == 0 && r.stdout == "from-host-mount"; seen != b.visible {
				t.Errorf("%s: the host's later mount seen inside: %v, want %v (%s)", b.doc, seen, b.visible, r)
			}
		}

		// A bind holding the data root: rslave unless chosen, and then
		// only rslave or rshared. Its source is a private mount, so the
		// slave propagation falls back to private, as dockerd's does.
		name := c.uniqueName("rootbind")
		rmAtEnd(t, d, name)
		c.ok("run", "--name", name, "-v", d.root+":/root-parent:ro", "busybox", "true")
		if got := c.inspect("{{range .Mounts}}{{.Propagation}}{{end}}", name); got != "rslave" {
			t.Errorf("bind of the data root's parent: Propagation %q, want rslave", got)
		}
		r := c.expectExit(125, "run", "--rm", "-v", d.root+":/root-parent:private", "busybox", "true")
		if !strings.Contains(r.stderr, `must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root`) {
			t.Errorf("private bind of the data root's parent: %s", r)
		}
	})
}

// hostMountOf is the mount point of the host mount that holds path.
func hostMountOf(path string) (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	best := ""
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if (mp == "/" || path == mp || strings.HasPrefix(path, mp+"/")) && len(mp) >= len(best) {
			best = mp
		}
	}
	if best == "" {
		return "", fmt.Errorf("no mount holds %s", path)
	}
	return best, nil
}

// TestBindRecursive: a read-only bind is read-only with its submounts too
// (rro) unless bind-recursive=writable; bind-recursive=readonly insists
// on it; bind-recursive=disabled leaves submounts out. The flag is the
// Docker CLI's (berth's CLI parses --mount in internal/cli).
func TestBindRecursive(t *testing.T) {
	d := sharedDaemon(t)
	c := d.client(t, "docker")
	src := t.TempDir()
	mountTmpfs(t, filepath.Join(src, "sub"))
	// The probe removes what it wrote: through a non-recursive bind a file
	// lands under the tmpfs, where the host cannot reach it.
	const probe = `ls /m/sub; touch /m/top 2>/dev/null && echo top-rw || echo top-ro; touch /m/sub/x 2>/dev/null && echo sub-rw || echo sub-ro; rm -f /m/sub/x /m/top 2>/dev/null; true`
	cases := []struct {
		doc  string
		args []string
		want string
	}{
		{"--mount readonly", []string{"--mount", "type=bind,source=" + src + ",target=/m,readonly"}, "hello\ntop-ro\nsub-ro"},
		{"-v :ro", []string{"-v", src + ":/m:ro"}, "hello\ntop-ro\nsub-ro"},
		{"bind-recursive=readonly", []string{"--mount", "type=bind,source=" + src + ",target=/m,readonly,bind-recursive=readonly,bind-propagation=rprivate"}, "hello\ntop-ro\nsub-ro"},
		{"bind-recursive=writable", []string{"--mount", "type=bind,source=" + src + ",target=/m,readonly,bind-recursive=writable"}, "hello\ntop-ro\nsub-rw"},
		{"bind-recursive=disabled", []string{"--mount", "type=bind,source=" + src + ",target=/m,bind-recursive=disabled"}, "top-rw\nsub-rw"},
	}
	eachClient(t, d, func(t *testing.T, c *client) {
		for _, tc := range cases {
			t.Run(tc.doc, func(t *testing.T) {
				// Each case starts from the tmpfs's one file and the bare source.
				_ = os.Remove(filepath.Join(src, "sub", "x"))
				_ = os.Remove(filepath.Join(src, "top"))
				args := append(append([]string{"run", "--rm"}, tc.args...), "busybox", "sh", "-c", probe)
				if got := c.okTrim(args...); got != tc.want {
					t.Errorf("got %q, want %q", got, tc.want)
				}
			})
		}
	})
	// The Docker CLI refuses this itself; the daemon refuses it at start.
	name := c.uniqueName("rconflict")
	rmAtEnd(t, d, name)
	body := `{"Image":"busybox","Cmd":["true"],"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + src + `","Target":"/m","BindOptions":{"ReadOnlyNonRecursive":true}}]}}`
	if code, _, out, err := d.api("POST", "/containers/create?name="+name, "application/json", strings.NewReader(body)); err != nil || code != 201 {
		t.Fatalf("create: %d %s %v", code, out, err)
	}
	code, _, out, err := d.api("POST", "/containers/"+name+"/start", "", nil)
	var msg struct{ Message string }
	_ = json.Unmarshal(out, &msg)
	if err != nil || code != 500 || msg.Message != "mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive" {
		t.Errorf("start with ReadOnlyNonRecursive but not ReadOnly: %d %s %v", code, out, err)
	}
}
