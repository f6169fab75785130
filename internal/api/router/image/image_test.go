package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"berth/internal/api/server"
	"berth/internal/events"
	"berth/internal/image"
)

const dockerCLI = "/usr/local/bin/docker"

// ping is the one system route the Docker CLI needs before anything else.
type ping struct{}

func (ping) Routes() []server.Route {
	h := func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := w.Write([]byte("OK"))
		return err
	}
	return []server.Route{{Method: "GET", Path: "/_ping", Handler: h}, {Method: "HEAD", Path: "/_ping", Handler: h}}
}

type env struct {
	t      *testing.T
	host   string
	dir    string
	mu     sync.Mutex
	inUse  map[string][]string // guarded by mu
	rootfs string              // path of a busybox rootfs tar
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for overlayfs")
	}
	if _, err := os.Stat(dockerCLI); err != nil {
		t.Skip("needs the Docker CLI at " + dockerCLI)
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox (Debian busybox-static)")
	}
	e := &env{t: t, dir: t.TempDir(), inUse: map[string][]string{}}
	svc, err := image.New(context.Background(), image.Config{
		Root:   filepath.Join(e.dir, "root"),
		Driver: "overlay2",
		Events: events.New(),
		InUse: func(id string) []string {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.inUse[id]
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	srv := server.New(server.Config{}, ping{}, NewRouter(svc))
	sock := filepath.Join(e.dir, "berth.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	e.host = "unix://" + sock
	e.rootfs = filepath.Join(e.dir, "rootfs.tar")
	writeBusyboxTar(t, filepath.Join(e.dir, "rootfs"), e.rootfs)
	return e
}

func (e *env) setInUse(id string, containers ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inUse[id] = containers
}

// docker runs the real Docker CLI against the test server.
func (e *env) docker(stdin io.Reader, args ...string) (string, string, error) {
	cmd := exec.Command(dockerCLI, args...)
	cmd.Env = []string{"DOCKER_HOST=" + e.host, "HOME=" + e.dir, "PATH=/usr/bin:/bin"}
	cmd.Dir = e.dir
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (e *env) ok(args ...string) string {
	e.t.Helper()
	out, stderr, err := e.docker(nil, args...)
	if err != nil {
		e.t.Fatalf("docker %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func (e *env) fails(want string, args ...string) {
	e.t.Helper()
	out, stderr, err := e.docker(nil, args...)
	if err == nil || !strings.Contains(stderr, want) {
		e.t.Fatalf("docker %s: err=%v, stderr %q, want %q (stdout %q)", strings.Join(args, " "), err, stderr, want, out)
	}
}

func writeBusyboxTar(t *testing.T, root, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
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
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link, _ := os.Readlink(p)
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		hdr.Name = rel
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			_, err = tw.Write(b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDockerCLI(t *testing.T) {
	e := newEnv(t)

	id := strings.TrimSpace(e.ok("import", "--change", `ENTRYPOINT ["echo","app"]`, "--change", `CMD ["--port","8000"]`, "-m", "first", e.rootfs, "busybox"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("import printed %q", id)
	}
	f, _ := os.Open(e.rootfs)
	defer f.Close()
	out, stderr, err := e.docker(f, "import", "-", "myrepo/app:1.0")
	if err != nil || !strings.HasPrefix(out, "sha256:") {
		t.Fatalf("import -: %v %s %s", err, out, stderr)
	}

	if got := e.ok("image", "inspect", "--format", "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Comment}} {{.Os}}/{{.Architecture}}", "busybox"); got != `["echo","app"] ["--port","8000"] first linux/amd64`+"\n" {
		t.Fatalf("inspect: %q", got)
	}
	e.ok("tag", "busybox", "localhost:5000/x:tag")
	images := e.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
	for _, want := range []string{"busybox:latest " + id[7:19], "localhost:5000/x:tag " + id[7:19], "myrepo/app:1.0 "} {
		if !strings.Contains(images, want) {
			t.Fatalf("images lacks %q:\n%s", want, images)
		}
	}
	if q := e.ok("images", "-q", "--filter", "reference=myrepo/*"); len(strings.Fields(q)) != 1 {
		t.Fatalf("images -q --filter: %q", q)
	}
	if h := e.ok("history", "--no-trunc", "--format", "{{.ID}} {{.Comment}}", "busybox"); h != id+" first\n" {
		t.Fatalf("history: %q", h)
	}

	// save | load round trip into the same daemon after removing the images.
	tarPath := filepath.Join(e.dir, "saved.tar")
	e.ok("save", "-o", tarPath, "busybox", "myrepo/app:1.0")
	if out := e.ok("rmi", "localhost:5000/x:tag"); out != "Untagged: localhost:5000/x:tag\n" {
		t.Fatalf("rmi untag: %q", out)
	}
	e.setInUse(id, "0123456789abcdef")
	e.fails(`conflict: unable to remove repository reference "busybox" (must force) - container 0123456789ab is using its referenced image `+id[7:19], "rmi", "busybox")
	e.setInUse(id)
	if out := e.ok("rmi", "busybox", "myrepo/app:1.0"); !strings.Contains(out, "Untagged: busybox:latest\nDeleted: "+id) {
		t.Fatalf("rmi: %q", out)
	}
	if out := e.ok("load", "-i", tarPath); !strings.Contains(out, "Loaded image: busybox:latest") || !strings.Contains(out, "Loaded image: myrepo/app:1.0") {
		t.Fatalf("load: %q", out)
	}
	if got := e.ok("image", "inspect", "--format", "{{.ID}}", "busybox"); got != id+"\n" {
		t.Fatalf("loaded ID %q, want %s", got, id)
	}
	saved, _ := os.ReadFile(tarPath)
	out, stderr, err = e.docker(bytes.NewReader(saved[:len(saved)/2]), "load")
	if err == nil || !strings.Contains(stderr, "truncated") {
		t.Fatalf("truncated load: %v %q %q", err, out, stderr)
	}

	e.fails("No such image: nope:latest", "rmi", "nope")
	e.fails("invalid reference format", "tag", "busybox", "Bad Name")

	// Dangling image, then prune.
	f2, _ := os.Open(e.rootfs)
	defer f2.Close()
	if _, stderr, err := e.docker(f2, "import", "-"); err != nil {
		t.Fatal(stderr)
	}
	if out := e.ok("images", "--filter", "dangling=true", "-q"); len(strings.Fields(out)) != 1 {
		t.Fatalf("dangling: %q", out)
	}
	if out := e.ok("image", "prune", "-f"); !strings.Contains(out, "deleted: sha256:") || !strings.Contains(out, "Total reclaimed space") {
		t.Fatalf("prune: %q", out)
	}
	if out := e.ok("image", "prune", "-a", "-f"); !strings.Contains(out, "untagged: busybox:latest") || strings.Count(out, "deleted: ") != 3 {
		t.Fatalf("prune -a: %q", out)
	}
	if out := e.ok("images", "-q"); out != "" {
		t.Fatalf("images after prune -a: %q", out)
	}
}
