package integration

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tarList reads the entry names of a tar stream (and symlink targets as
// "name -> target").
func tarList(t *testing.T, data string) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(strings.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatalf("reading the tar: %v (%d bytes)", err, len(data))
		}
		if h.Typeflag == tar.TypeSymlink {
			names = append(names, h.Name+" -> "+h.Linkname)
		} else {
			names = append(names, h.Name)
		}
	}
}

// hostTree makes a local directory to copy: a file, a subdirectory, a
// relative symlink and a hard link.
func hostTree(t *testing.T) (dir string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "tree")
	for p, body := range map[string]string{"a": "alpha\n", "sub/b": "beta\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a", filepath.Join(dir, "lnk")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "hard")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCpBothWays copies files, directories, symlinks and tars into and out
// of a running and a stopped container with both CLIs.
func TestCpBothWays(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		for _, state := range []string{"running", "stopped"} {
			t.Run(state, func(t *testing.T) {
				name := c.uniqueName("cp")
				if state == "running" {
					c.ok("run", "-d", "--name", name, "busybox", "sh", "-c", idleScript)
				} else {
					c.ok("create", "--name", name, "busybox", "true")
				}
				src := hostTree(t)
				out := t.TempDir()

				// A file in and back out, by a new name.
				c.ok("cp", filepath.Join(src, "a"), name+":/tmp/")
				c.ok("cp", name+":/tmp/a", filepath.Join(out, "a-back"))
				if got := readFile(t, filepath.Join(out, "a-back")); got != "alpha\n" {
					t.Fatalf("file round trip: %q", got)
				}

				// A directory in (created under the new name), and out.
				c.ok("cp", src, name+":/tmp/tree-in")
				c.ok("cp", name+":/tmp/tree-in", filepath.Join(out, "tree-out"))
				if got := readFile(t, filepath.Join(out, "tree-out/sub/b")); got != "beta\n" {
					t.Fatalf("directory round trip: sub/b %q", got)
				}
				if l, err := os.Readlink(filepath.Join(out, "tree-out/lnk")); err != nil || l != "a" {
					t.Fatalf("symlink in a directory came back as %q, %v", l, err)
				}
				if fi, err := os.Stat(filepath.Join(out, "tree-out/a")); err != nil || fi.Mode().Perm() != 0o640 {
					t.Fatalf("mode not kept: %v %v", fi, err)
				}

				// Contents only ("dir/."), into an existing directory.
				c.ok("cp", src+"/.", name+":/tmp")
				listing := tarList(t, c.ok("cp", name+":/tmp/.", "-"))
				for _, want := range []string{"./", "./a", "./sub/b", "./lnk -> a", "./tree-in/"} {
					if !slices.Contains(listing, want) {
						t.Fatalf("cp %s:/tmp/. - lacks %q: %q", name, want, listing)
					}
				}

				// A symlink stays a symlink; -L copies what it points to.
				c.ok("cp", name+":/bin/sh", filepath.Join(out, "sh"))
				if l, err := os.Readlink(filepath.Join(out, "sh")); err != nil || l != "/bin/busybox" {
					t.Fatalf("cp of /bin/sh: %q, %v", l, err)
				}
				c.ok("cp", "-L", name+":/bin/sh", filepath.Join(out, "sh-followed"))
				if fi, err := os.Lstat(filepath.Join(out, "sh-followed")); err != nil || !fi.Mode().IsRegular() || fi.Size() < 100000 {
					t.Fatalf("cp -L of /bin/sh: %v, %v", fi, err)
				}

				// A tar from stdin into a directory, and a tar to stdout.
				in := writeTar([]entry{{name: "from-stdin/", kind: tar.TypeDir}, file("from-stdin/x", "stdin body"), symlink("from-stdin/l", "x")})
				if r := c.runWith(bytes.NewReader(in), nil, "cp", "-", name+":/tmp"); r.code != 0 {
					t.Fatalf("cp - %s:/tmp: %s", name, r)
				}
				got := tarList(t, c.ok("cp", name+":/tmp/from-stdin", "-"))
				if want := []string{"from-stdin/", "from-stdin/l -> x", "from-stdin/x"}; !slices.Equal(got, want) {
					t.Fatalf("cp %s:/tmp/from-stdin -: %q, want %q", name, got, want)
				}
				if state == "running" {
					if body := c.okTrim("exec", name, "cat", "/tmp/from-stdin/l"); body != "stdin body" {
						t.Fatalf("inside the container: %q", body)
					}
				}

				// Docker's refusals.
				if r := c.run("cp", name+":/no/such/file", out); r.code == 0 || !strings.Contains(r.stderr, "Could not find the file /no/such/file in container "+name) {
					t.Fatalf("missing source: %s", r)
				}
				if r := c.run("cp", src, name+":/etc/passwd"); r.code == 0 || !strings.Contains(r.stderr, "cannot copy directory") {
					t.Fatalf("directory onto a file: %s", r)
				}
			})
		}
	})
}

// TestCpNoEscape tries every way out of the container's root; the host
// paths must stay untouched and the writes land inside the container.
func TestCpNoEscape(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("cpesc")
		c.ok("run", "-d", "--name", name, "busybox", "sh", "-c", idleScript)
		tag := name // unique per client and run
		hostTmp := filepath.Join("/tmp", tag)
		c.ok("exec", name, "sh", "-c", "ln -s /etc /tmp/etclink && ln -s ../../../../"+hostTmp[1:]+" /tmp/rel && mkdir /tmp/in")
		probe := filepath.Join(t.TempDir(), "probe")
		if err := os.WriteFile(probe, []byte("probe\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		hostPaths := []string{"/etc/passwd-" + tag, "/etc/" + tag, hostTmp, "/etc/" + tag + "-tar"}
		t.Cleanup(func() {
			for _, p := range hostPaths {
				_ = os.Remove(p) // only if the test failed
			}
		})

		c.ok("cp", probe, name+":../../etc/passwd-"+tag)
		c.ok("cp", probe, name+":/tmp/etclink/"+tag)
		c.ok("cp", probe, name+":/tmp/rel")
		// A tar whose symlink points at /etc, then a file through it.
		evil := writeTar([]entry{symlink("e", "/etc"), file("e/"+tag+"-tar", "through a symlink\n")})
		if r := c.runWith(bytes.NewReader(evil), nil, "cp", "-", name+":/tmp/in"); r.code != 0 {
			t.Fatalf("cp - (symlink then file): %s", r)
		}
		// Names climbing out of the destination are refused outright.
		climb := writeTar([]entry{file("../../../../etc/"+tag+"-climb", "x")})
		if r := c.runWith(bytes.NewReader(climb), nil, "cp", "-", name+":/tmp/in"); r.code == 0 {
			t.Fatalf("cp - with a ../ name succeeded: %s", r)
		}
		hostPaths = append(hostPaths, "/etc/"+tag+"-climb")

		for _, p := range hostPaths {
			if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists on the host: %v", p, err)
			}
		}
		inside := c.ok("exec", name, "sh", "-c", "cat /etc/passwd-"+tag+" /etc/"+tag+" "+hostTmp+" /etc/"+tag+"-tar")
		if inside != "probe\nprobe\nprobe\nthrough a symlink\n" {
			t.Fatalf("the copies did not land inside the container: %q", inside)
		}
	})
}

func TestExport(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		running := c.uniqueName("exp")
		c.ok("run", "-d", "--name", running, "busybox", "sh", "-c", idleScript)
		c.ok("exec", running, "sh", "-c", "echo changed > /root/marker")
		names := tarList(t, c.ok("export", running))
		for _, want := range []string{"bin/busybox", "root/marker", "bin/sh -> /bin/busybox"} {
			if !slices.Contains(names, want) {
				t.Fatalf("export of a running container lacks %q (%d entries)", want, len(names))
			}
		}

		stopped := c.uniqueName("exp")
		c.ok("create", "--name", stopped, "busybox", "true")
		out := filepath.Join(t.TempDir(), "fs.tar")
		c.ok("export", "-o", out, stopped)
		if names := tarList(t, readFile(t, out)); !slices.Contains(names, "bin/busybox") {
			t.Fatalf("export -o lacks bin/busybox: %d entries", len(names))
		}
		for _, bad := range []struct{ path, msg string }{
			{"/no/such/dir/fs.tar", "failed to export container: invalid output path: stat /no/such/dir: no such file or directory"},
			{"/dev/null", "failed to export container: cannot write to a character device file"},
			{t.TempDir(), "failed to export container: cannot write to a directory"},
		} {
			if r := c.run("export", "-o", bad.path, stopped); r.code != 1 || strings.TrimSpace(r.stderr) != bad.msg {
				t.Fatalf("export -o %s: %s", bad.path, r)
			}
		}
	})
}
