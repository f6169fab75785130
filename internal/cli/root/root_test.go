package root

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"berth/internal/cli/command"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
)

// fakeEngine answers the few Engine API endpoints the tested commands
// call, and records the requests it saw.
type fakeEngine struct {
	t          *testing.T
	now        time.Time
	mu         sync.Mutex
	requests   []string          // guarded by mu
	queries    map[string]string // guarded by mu: path -> raw query
	createBody []byte            // guarded by mu
	createErr  string
	startErr   string
}

var versionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

func (f *fakeEngine) record(r *http.Request) string {
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+path)
	if f.queries == nil {
		f.queries = map[string]string{}
	}
	f.queries[path] = r.URL.RawQuery
	return path
}

func (f *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := f.record(r)
	w.Header().Set("Api-Version", "1.50")
	w.Header().Set("Ostype", "linux")
	writeJSON := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case path == "/_ping":
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, "OK")
		}
	case path == "/version":
		writeJSON(200, system.VersionResponse{Version: "0.1.0", APIVersion: "1.50", MinAPIVersion: "1.24", Os: "linux", Arch: "amd64"})
	case path == "/containers/json":
		writeJSON(200, []container.Summary{
			{
				ID:      "4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d",
				Names:   []string{"/web"},
				Image:   "busybox",
				ImageID: "sha256:aaaa",
				Command: "sleep 1000000 && echo done",
				Created: f.now.Add(-90 * time.Second).Unix(),
				State:   container.StateRunning,
				Status:  "Up About a minute",
				Labels:  map[string]string{"tier": "front"},
			},
			{
				ID:      "1111111111112222222222223333333333334444444444445555555555556666",
				Names:   []string{"/old"},
				Image:   "docker.io/library/busybox:1.36",
				Command: "true",
				Created: f.now.Add(-3 * time.Hour).Unix(),
				State:   container.StateExited,
				Status:  "Exited (0) 2 hours ago",
			},
		})
	case path == "/images/json":
		writeJSON(200, []image.Summary{
			{ID: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", RepoTags: []string{"busybox:latest", "myimg:v1"}, Created: f.now.Add(-14 * 24 * time.Hour).Unix(), Size: 4261550, Containers: -1, SharedSize: -1},
			{ID: "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", Created: f.now.Add(-30 * time.Second).Unix(), Size: 1000, Containers: -1, SharedSize: -1},
		})
	case path == "/containers/create":
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.createBody = body
		f.mu.Unlock()
		if f.createErr != "" {
			writeJSON(404, map[string]string{"message": f.createErr})
			return
		}
		writeJSON(201, container.CreateResponse{ID: "abc123abc123abc123"})
	case path == "/images/create":
		writeJSON(501, map[string]string{"message": "pull is not implemented yet"})
	case strings.HasSuffix(path, "/wait"):
		writeJSON(200, container.WaitResponse{StatusCode: 0})
	case strings.HasSuffix(path, "/start"):
		if f.startErr != "" {
			writeJSON(400, map[string]string{"message": f.startErr})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(404, map[string]string{"message": "page not found"})
	}
}

// run executes berth with args against the fake engine.
func run(t *testing.T, f *fakeEngine, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	lookup := func(k string) (string, bool) {
		if k == "DOCKER_HOST" {
			return "tcp://" + strings.TrimPrefix(srv.URL, "http://"), true
		}
		if k == "HOME" {
			return t.TempDir(), true
		}
		v, ok := env[k]
		return v, ok
	}
	var out, errb bytes.Buffer
	cli := command.NewCli(io.NopCloser(strings.NewReader("")), &out, &errb, lookup)
	cli.Version, cli.Commit = "0.1.0", "dev"
	code = Run(context.Background(), cli, args)
	return out.String(), errb.String(), code
}

func TestPsTable(t *testing.T) {
	f := &fakeEngine{t: t, now: time.Now()}
	out, stderr, code := run(t, f, nil, "ps", "-a")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows, got %q", out)
	}
	for _, col := range []string{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header %q lacks %q", lines[0], col)
		}
	}
	wantRow := []string{"4c5d6e7f8a9b", "busybox", `"sleep 1000000 && ec…"`, "About a minute ago", "Up About a minute", "web"}
	for _, w := range wantRow {
		if !strings.Contains(lines[1], w) {
			t.Errorf("row %q lacks %q", lines[1], w)
		}
	}
	if !strings.Contains(lines[2], "busybox:1.36") || !strings.Contains(lines[2], "3 hours ago") {
		t.Errorf("second row %q", lines[2])
	}
	if q := f.queries["/containers/json"]; !strings.Contains(q, "all=1") {
		t.Errorf("ps -a sent query %q", q)
	}
}

func TestPsFormatAndFilter(t *testing.T) {
	tests := []struct {
		doc   string
		args  []string
		want  string
		query string
	}{
		{doc: "quiet", args: []string{"ps", "-q"}, want: "4c5d6e7f8a9b\n111111111111\n"},
		{doc: "names template", args: []string{"ps", "--format", "{{.Names}} {{.State}}"}, want: "web running\nold exited\n"},
		{doc: "label func", args: []string{"ps", "--format", `{{.Label "tier"}}|{{upper .Names}}`}, want: "front|WEB\n|OLD\n"},
		{doc: "table template", args: []string{"ps", "--format", "table {{.ID}}\t{{.Names}}"}, want: "CONTAINER ID   NAMES\n4c5d6e7f8a9b   web\n111111111111   old\n"},
		{doc: "filter", args: []string{"ps", "-q", "--filter", "status=running", "-f", "name=web"}, query: `filters=%7B%22name%22%3A%7B%22web%22%3Atrue%7D%2C%22status%22%3A%7B%22running%22%3Atrue%7D%7D`},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			f := &fakeEngine{t: t, now: time.Now()}
			out, stderr, code := run(t, f, nil, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if tc.want != "" && out != tc.want {
				t.Errorf("got %q, want %q", out, tc.want)
			}
			if tc.query != "" && f.queries["/containers/json"] != tc.query {
				t.Errorf("query %q, want %q", f.queries["/containers/json"], tc.query)
			}
		})
	}
}

func TestPsJSON(t *testing.T) {
	f := &fakeEngine{t: t, now: time.Now()}
	out, _, code := run(t, f, nil, "ps", "--format", "json")
	if code != 0 {
		t.Fatal(code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines, got %q", out)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m["Names"] != "web" || m["ID"] != "4c5d6e7f8a9b" || m["State"] != "running" || m["Labels"] != "tier=front" {
		t.Errorf("unexpected JSON %v", m)
	}
}

func TestImagesTable(t *testing.T) {
	f := &fakeEngine{t: t, now: time.Now()}
	out, stderr, code := run(t, f, nil, "images")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{
		"REPOSITORY   TAG       IMAGE ID       CREATED          SIZE",
		"busybox      latest    0123456789ab   2 weeks ago      4.26MB",
		"myimg        v1        0123456789ab   2 weeks ago      4.26MB",
		"<none>       <none>    fedcba987654   30 seconds ago   1kB",
	}
	if got := strings.Split(strings.TrimRight(out, "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}
	out, _, _ = run(t, f, nil, "images", "-q", "busybox")
	if out != "0123456789ab\n0123456789ab\nfedcba987654\n" {
		t.Errorf("images -q: %q", out)
	}
	if q := f.queries["/images/json"]; !strings.Contains(q, "reference") {
		t.Errorf("images busybox sent query %q", q)
	}
}

func TestVersion(t *testing.T) {
	f := &fakeEngine{t: t, now: time.Now()}
	out, stderr, code := run(t, f, nil, "version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"Client:", " Version:           0.1.0", " API version:       1.50 (downgraded from 1.56)", "Server:", " Engine:", "  API version:      1.50 (minimum version 1.24)"} {
		if !strings.Contains(out, w) {
			t.Errorf("version output lacks %q:\n%s", w, out)
		}
	}
	out, _, _ = run(t, f, nil, "version", "--format", "{{.Server.Version}}")
	if out != "0.1.0\n" {
		t.Errorf("format: %q", out)
	}
}

func TestVersionFlagDoesNotDial(t *testing.T) {
	var out, errb bytes.Buffer
	cli := command.NewCli(io.NopCloser(strings.NewReader("")), &out, &errb, func(k string) (string, bool) {
		if k == "DOCKER_HOST" {
			return "unix:///nonexistent/berth.sock", true
		}
		return "", false
	})
	cli.Version, cli.Commit = "1.2.3", "abc"
	if code := Run(context.Background(), cli, []string{"--version"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if out.String() != "berth version 1.2.3, build abc\n" {
		t.Errorf("got %q", out.String())
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		doc       string
		args      []string
		createErr string
		startErr  string
		code      int
		stderr    []string
	}{
		{doc: "unknown flag", args: []string{"run", "--bogus", "busybox"}, code: 125, stderr: []string{"unknown flag: --bogus", "Run 'berth run --help' for more information"}},
		{doc: "missing image, pull 501", args: []string{"run", "-d", "busybox"}, createErr: "No such image: busybox:latest", code: 125,
			stderr: []string{"Unable to find image 'busybox:latest' locally", "berth: Error response from daemon: pull is not implemented yet", "Run 'berth run --help' for more information"}},
		{doc: "pull never", args: []string{"run", "-d", "--pull", "never", "busybox"}, createErr: "No such image: busybox:latest", code: 125, stderr: []string{"berth: Error response from daemon: No such image: busybox:latest"}},
		{doc: "not found", args: []string{"run", "-d", "busybox", "/nope"}, startErr: `failed to create task: exec: "/nope": stat /nope: no such file or directory`, code: 127},
		{doc: "is a directory", args: []string{"run", "-d", "busybox", "/etc"}, startErr: `exec: "/etc": is a directory`, code: 126},
		{doc: "permission denied", args: []string{"run", "-d", "busybox", "/x"}, startErr: `exec: "/x": permission denied`, code: 126},
		{doc: "other start error", args: []string{"run", "-d", "busybox"}, startErr: `cannot start container`, code: 125},
		{doc: "bad restart", args: []string{"run", "--restart", "sometimes", "busybox"}, code: 125, stderr: []string{"invalid restart policy: unknown policy 'sometimes'"}},
		{doc: "bad pull", args: []string{"run", "--pull", "often", "busybox"}, code: 125, stderr: []string{`invalid pull option: 'often'`}},
		{doc: "no image", args: []string{"run"}, code: 1, stderr: []string{"'berth run' requires at least 1 argument"}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			f := &fakeEngine{t: t, now: time.Now(), createErr: tc.createErr, startErr: tc.startErr}
			_, stderr, code := run(t, f, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q lacks %q", stderr, s)
				}
			}
		})
	}
}

func TestRunDetachedPrintsID(t *testing.T) {
	f := &fakeEngine{t: t, now: time.Now()}
	out, stderr, code := run(t, f, map[string]string{"FOO": "from-env"}, "run", "-d", "--name", "x", "-e", "FOO", "-e", "UNSET_VAR", "-e", "A=b", "busybox", "echo", "hi")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if out != "abc123abc123abc123\n" {
		t.Errorf("stdout %q", out)
	}
	var req container.CreateRequest
	if err := json.Unmarshal(f.createBody, &req); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(req.Config.Env, ","); got != "FOO=from-env,A=b" {
		t.Errorf("env %q", got)
	}
	if strings.Join(req.Config.Cmd, " ") != "echo hi" || req.Config.Image != "busybox" {
		t.Errorf("cmd %v image %q", req.Config.Cmd, req.Config.Image)
	}
	if req.Config.AttachStdout || req.Config.AttachStderr {
		t.Errorf("-d must not attach: %+v", req.Config)
	}
	if q := f.queries["/containers/create"]; q != "name=x" {
		t.Errorf("create query %q", q)
	}
	// Wait must be requested before start.
	wi, si := -1, -1
	for i, r := range f.requests {
		if strings.HasSuffix(r, "/wait") && wi < 0 {
			wi = i
		}
		if strings.HasSuffix(r, "/start") && si < 0 {
			si = i
		}
	}
	if wi < 0 || si < 0 || wi > si {
		t.Errorf("wait (%d) must come before start (%d): %v", wi, si, f.requests)
	}
}

func TestContextSelectsHost(t *testing.T) {
	f := &fakeEngine{t: t, now: time.Now()}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	name := "remote"
	if err := writeContext(dir, name, "tcp://"+strings.TrimPrefix(srv.URL, "http://")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext":"remote"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cli := command.NewCli(io.NopCloser(strings.NewReader("")), &out, &errb, func(k string) (string, bool) {
		if k == "DOCKER_CONFIG" {
			return dir, true
		}
		return "", false
	})
	if code := Run(context.Background(), cli, []string{"ps", "-q"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if out.String() != "4c5d6e7f8a9b\n111111111111\n" {
		t.Errorf("got %q", out.String())
	}
	// An unknown --context is an error, not a silent fallback.
	out.Reset()
	errb.Reset()
	cli = command.NewCli(io.NopCloser(strings.NewReader("")), &out, &errb, func(k string) (string, bool) {
		if k == "DOCKER_CONFIG" {
			return dir, true
		}
		return "", false
	})
	if code := Run(context.Background(), cli, []string{"--context", "nope", "ps"}); code != 1 || !strings.Contains(errb.String(), `context "nope" does not exist`) {
		t.Errorf("exit %d stderr %q", code, errb.String())
	}
}

// attachEngine serves create, attach (hijacked, multiplexed), wait and start
// for `run` without -d.
type attachEngine struct {
	fakeEngine
	exitCode int
}

func (a *attachEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	switch {
	case strings.HasSuffix(path, "/attach"), strings.HasSuffix(path, "/wait"):
		a.record(r)
	}
	switch {
	case strings.HasSuffix(path, "/attach"):
		hj, ok := w.(http.Hijacker)
		if !ok {
			a.t.Error("server cannot hijack")
			return
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			a.t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		frame := func(stream byte, s string) {
			hdr := []byte{stream, 0, 0, 0, 0, 0, 0, byte(len(s))}
			_, _ = buf.Write(hdr)
			_, _ = buf.WriteString(s)
		}
		frame(1, "hello out\n")
		frame(2, "hello err\n")
		_ = buf.Flush()
	case strings.HasSuffix(path, "/wait"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_ = json.NewEncoder(w).Encode(container.WaitResponse{StatusCode: int64(a.exitCode)})
	default:
		a.fakeEngine.ServeHTTP(w, r)
	}
}

func TestRunAttachedDemultiplexesAndExits(t *testing.T) {
	a := &attachEngine{fakeEngine: fakeEngine{t: t, now: time.Now()}, exitCode: 3}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	var out, errb bytes.Buffer
	cli := command.NewCli(io.NopCloser(strings.NewReader("")), &out, &errb, func(k string) (string, bool) {
		if k == "DOCKER_HOST" {
			return "tcp://" + strings.TrimPrefix(srv.URL, "http://"), true
		}
		return "", false
	})
	code := Run(context.Background(), cli, []string{"run", "--rm", "busybox", "sh", "-c", "exit 3"})
	if code != 3 {
		t.Errorf("exit %d, want 3 (stderr %q)", code, errb.String())
	}
	if out.String() != "hello out\n" {
		t.Errorf("stdout %q", out.String())
	}
	if errb.String() != "hello err\n" {
		t.Errorf("stderr %q", errb.String())
	}
	if q := a.queries["/containers/abc123abc123abc123/wait"]; q != "condition=removed" {
		t.Errorf("--rm must wait for removal, query %q", q)
	}
}
