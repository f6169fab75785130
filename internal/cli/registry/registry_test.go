package registry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"berth/internal/cli/command"
	"berth/internal/cli/root"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
)

const dockerCLI = "/usr/local/bin/docker"

// fakeDaemon answers /_ping, POST /auth (alice/s3cret is right; "tok"
// gets an identity token) and GET /images/search, recording the
// X-Registry-Auth of each search.
type fakeDaemon struct {
	*httptest.Server
	mu          sync.Mutex
	searchAuths []string
	searchQuery string
}

var apiVersion = regexp.MustCompile(`^/v[0-9.]+`)

func startDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	d := &fakeDaemon{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.50")
		w.Header().Set("Content-Type", "application/json")
		switch apiVersion.ReplaceAllString(r.URL.Path, "") {
		case "/_ping":
			_, _ = io.WriteString(w, "OK")
		case "/auth":
			var ac registry.AuthConfig
			_ = json.NewDecoder(r.Body).Decode(&ac)
			switch {
			case ac.Username == "alice" && ac.Password == "s3cret":
				_ = json.NewEncoder(w).Encode(registry.AuthResponse{Status: "Login Succeeded"})
			case ac.Username == "tok" && ac.Password == "pw":
				_ = json.NewEncoder(w).Encode(registry.AuthResponse{Status: "Login Succeeded", IdentityToken: "idtoken-1"})
			default:
				w.WriteHeader(http.StatusUnauthorized)
				_ = json.NewEncoder(w).Encode(map[string]string{"message": `Get "http://` + ac.ServerAddress + `/v2/": unauthorized: incorrect username or password`})
			}
		case "/images/search":
			d.mu.Lock()
			d.searchAuths = append(d.searchAuths, r.Header.Get("X-Registry-Auth"))
			d.searchQuery = r.URL.RawQuery
			d.mu.Unlock()
			_ = json.NewEncoder(w).Encode([]registry.SearchResult{
				{Name: "team/myapp-api", Description: "An API\nwith a description longer than the table shows", StarCount: 3, IsOfficial: true},
				{Name: "myapp"},
			})
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"message":"page not found"}`)
		}
	}))
	t.Cleanup(d.Close)
	return d
}

// lastSearchAuth decodes the X-Registry-Auth of the last search.
func (d *fakeDaemon) lastSearchAuth(t *testing.T) registry.AuthConfig {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.searchAuths) == 0 {
		t.Fatal("no search reached the daemon")
	}
	ac, err := authconfig.Decode(d.searchAuths[len(d.searchAuths)-1])
	if err != nil {
		t.Fatalf("X-Registry-Auth %q: %v", d.searchAuths[len(d.searchAuths)-1], err)
	}
	return *ac
}

// env is one test's world: a config directory, a PATH holding the test
// credential helper, and the fake daemon.
type env struct {
	t      *testing.T
	d      *fakeDaemon
	config string
	bin    string // holds docker-credential-test
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, d: startDaemon(t), config: t.TempDir(), bin: t.TempDir()}
	build := exec.Command("go", "build", "-o", filepath.Join(e.bin, "docker-credential-test"), "./testdata/docker-credential-test")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test credential helper: %v\n%s", err, out)
	}
	return e
}

func (e *env) host() string { return "tcp://" + strings.TrimPrefix(e.d.URL, "http://") }

func (e *env) path() string { return e.bin + string(os.PathListSeparator) + os.Getenv("PATH") }

// berth runs the berth CLI in this process.
func (e *env) berth(stdin string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	vars := map[string]string{"DOCKER_HOST": e.host(), "PATH": e.path(), "HOME": e.config}
	var out, errb bytes.Buffer
	cli := command.NewCli(io.NopCloser(strings.NewReader(stdin)), &out, &errb, func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	})
	code = root.Run(context.Background(), cli, append([]string{"--config", e.config}, args...))
	return out.String(), errb.String(), code
}

// docker runs the real Docker CLI on the same config directory.
func (e *env) docker(stdin string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	if _, err := os.Stat(dockerCLI); err != nil {
		e.t.Skipf("needs the Docker CLI at %s", dockerCLI)
	}
	cmd := exec.Command(dockerCLI, append([]string{"--config", e.config}, args...)...)
	cmd.Env = []string{"DOCKER_HOST=" + e.host(), "PATH=" + e.path(), "HOME=" + e.config}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

type cliFunc func(stdin string, args ...string) (string, string, int)

func (e *env) ok(run cliFunc, stdin string, args ...string) (string, string) {
	e.t.Helper()
	out, errOut, code := run(stdin, args...)
	if code != 0 {
		e.t.Fatalf("%v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out, errOut
}

// configJSON reads config.json as a generic map.
func (e *env) configJSON() map[string]any {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.config, "config.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("config.json: %v\n%s", err, b)
	}
	return m
}

func (e *env) writeConfig(s string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.config, "config.json"), []byte(s), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// authEntry is config.json's auths[server], nil when absent.
func (e *env) authEntry(server string) map[string]any {
	auths, _ := e.configJSON()["auths"].(map[string]any)
	entry, _ := auths[server].(map[string]any)
	return entry
}

// helperCreds is what the test helper holds.
func (e *env) helperCreds() map[string]map[string]string {
	e.t.Helper()
	out := map[string]map[string]string{}
	b, err := os.ReadFile(filepath.Join(e.bin, "docker-credential-test.json"))
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func wantAuth(t *testing.T, got registry.AuthConfig, user, pass, server string) {
	t.Helper()
	if got.Username != user || got.Password != pass || got.ServerAddress != server {
		t.Errorf("X-Registry-Auth carried %+v, want %s/%s for %s", got, user, pass, server)
	}
}

const unencrypted = "WARNING! Your credentials are stored unencrypted in '"

// TestAuthFileStore: berth writes config.json as the Docker CLI does, and
// each reads what the other wrote.
func TestAuthFileStore(t *testing.T) {
	e := newEnv(t)
	const reg = "localhost:5000"

	out, errOut := e.ok(e.berth, "s3cret\n", "login", "-u", "alice", "--password-stdin", reg)
	if out != "Login Succeeded\n" || !strings.Contains(errOut, unencrypted+filepath.Join(e.config, "config.json")+"'") {
		t.Errorf("login: stdout %q stderr %q", out, errOut)
	}
	if entry := e.authEntry(reg); entry["auth"] != base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) || len(entry) != 1 {
		t.Fatalf("auths[%s] = %v", reg, entry)
	}
	// Unchanged credentials are not written (nor warned about) again.
	if _, errOut := e.ok(e.berth, "", "login", "-u", "alice", "-p", "s3cret", reg); strings.Contains(errOut, unencrypted) {
		t.Errorf("second login warned again: %q", errOut)
	}

	// docker reads berth's file: its search sends alice's credentials.
	e.ok(e.docker, "", "search", reg+"/app")
	wantAuth(t, e.d.lastSearchAuth(t), "alice", "s3cret", reg)
	e.ok(e.berth, "", "search", reg+"/app")
	wantAuth(t, e.d.lastSearchAuth(t), "alice", "s3cret", reg)

	// Stored credentials are used when none are given.
	out, errOut = e.ok(e.berth, "", "login", reg)
	if out != "Login Succeeded\n" || !strings.HasPrefix(errOut, "Authenticating with existing credentials... [Username: alice]\n") {
		t.Errorf("login with stored credentials: stdout %q stderr %q", out, errOut)
	}

	// docker logs out of what berth logged in to.
	if out, _ := e.ok(e.docker, "", "logout", reg); out != "Removing login credentials for "+reg+"\n" {
		t.Errorf("docker logout: %q", out)
	}
	if e.authEntry(reg) != nil {
		t.Fatalf("docker logout left %v", e.configJSON())
	}

	// berth reads docker's file and logs out of it, under every key form.
	e.ok(e.docker, "", "login", "-u", "alice", "-p", "s3cret", "http://"+reg+"/v2/")
	e.ok(e.berth, "", "search", reg+"/app")
	wantAuth(t, e.d.lastSearchAuth(t), "alice", "s3cret", reg)
	if out, _ := e.ok(e.berth, "", "logout", "https://"+reg); out != "Removing login credentials for "+reg+"\n" {
		t.Errorf("berth logout: %q", out)
	}
	if e.authEntry(reg) != nil {
		t.Fatalf("berth logout left %v", e.configJSON())
	}
	e.ok(e.berth, "", "search", reg+"/app")
	if got := e.d.lastSearchAuth(t); got != (registry.AuthConfig{}) {
		t.Errorf("search after logout sent %+v", got)
	}

	// An identity token is stored instead of the password.
	e.ok(e.berth, "", "login", "-u", "tok", "-p", "pw", "127.0.0.1:5001")
	if entry := e.authEntry("127.0.0.1:5001"); entry["identitytoken"] != "idtoken-1" || entry["auth"] != base64.StdEncoding.EncodeToString([]byte("tok:")) {
		t.Errorf("identity token entry %v", entry)
	}
}

// TestAuthSameOutput: login errors and prompts read as docker's.
func TestAuthSameOutput(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"login", "-u", "alice", "-p", "wrong", "localhost:5000"},
		{"login", "localhost:5002"},
		{"login", "-u", "alice", "localhost:5002"},
		{"login", "--password-stdin", "localhost:5002"},
		{"login", "-p", "x", "--password-stdin", "-u", "a", "localhost:5002"},
		{"login", "-u", "", "-p", "x", "localhost:5002"},
		{"login", "-u", "a", "-p", "", "localhost:5002"},
		{"logout", "localhost:5003"},
	} {
		bout, berr, bcode := e.berth("", args...)
		dout, derr, dcode := e.docker("", args...)
		if bout != dout || berr != derr || bcode != dcode {
			t.Errorf("%v:\nberth  %d %q %q\ndocker %d %q %q", args, bcode, bout, berr, dcode, dout, derr)
		}
	}
}

// TestAuthCredsStore: with credsStore the helper holds the secret and
// config.json an empty entry, both ways between berth and docker.
func TestAuthCredsStore(t *testing.T) {
	e := newEnv(t)
	const reg = "localhost:5000"
	e.writeConfig(`{"credsStore": "test", "detachKeys": "ctrl-x"}`)

	_, errOut := e.ok(e.berth, "s3cret", "login", "-u", "alice", "--password-stdin", reg)
	if strings.Contains(errOut, unencrypted) {
		t.Errorf("helper login warned about plain text: %q", errOut)
	}
	if got := e.helperCreds()[reg]; got["Username"] != "alice" || got["Secret"] != "s3cret" || got["ServerURL"] != reg {
		t.Fatalf("helper holds %v", e.helperCreds())
	}
	cfg := e.configJSON()
	if entry := e.authEntry(reg); entry == nil || len(entry) != 0 || cfg["credsStore"] != "test" || cfg["detachKeys"] != "ctrl-x" {
		t.Fatalf("config.json %v", cfg)
	}
	e.ok(e.docker, "", "search", reg+"/app")
	wantAuth(t, e.d.lastSearchAuth(t), "alice", "s3cret", reg)
	e.ok(e.docker, "", "logout", reg)
	if len(e.helperCreds()) != 0 || e.authEntry(reg) != nil {
		t.Fatalf("after docker logout: helper %v, config %v", e.helperCreds(), e.configJSON())
	}

	e.ok(e.docker, "", "login", "-u", "alice", "-p", "s3cret", reg)
	e.ok(e.berth, "", "search", reg+"/app")
	wantAuth(t, e.d.lastSearchAuth(t), "alice", "s3cret", reg)
	e.ok(e.berth, "", "logout", reg)
	if len(e.helperCreds()) != 0 || e.authEntry(reg) != nil {
		t.Fatalf("after berth logout: helper %v, config %v", e.helperCreds(), e.configJSON())
	}

	// Identity tokens go to the helper as <token>.
	e.ok(e.berth, "", "login", "-u", "tok", "-p", "pw", reg)
	if got := e.helperCreds()[reg]; got["Username"] != "<token>" || got["Secret"] != "idtoken-1" {
		t.Errorf("helper holds %v", got)
	}
	e.ok(e.docker, "", "search", reg+"/app")
	if got := e.d.lastSearchAuth(t); got.IdentityToken != "idtoken-1" {
		t.Errorf("docker sent %+v", got)
	}
	e.ok(e.berth, "", "search", reg+"/app")
	if got := e.d.lastSearchAuth(t); got.IdentityToken != "idtoken-1" || got.Password != "" {
		t.Errorf("berth sent %+v", got)
	}
}

// TestAuthCredHelpers: credHelpers sends one registry to the helper and
// leaves the others in the file.
func TestAuthCredHelpers(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(`{"credHelpers": {"helped.example:5000": "test"}}`)
	e.ok(e.berth, "", "login", "-u", "alice", "-p", "s3cret", "helped.example:5000")
	e.ok(e.berth, "", "login", "-u", "alice", "-p", "s3cret", "plain.example:5000")
	if got := e.helperCreds(); len(got) != 1 || got["helped.example:5000"]["Secret"] != "s3cret" {
		t.Errorf("helper holds %v", got)
	}
	if entry := e.authEntry("plain.example:5000"); entry["auth"] == nil {
		t.Errorf("file entry %v", entry)
	}
	if entry := e.authEntry("helped.example:5000"); len(entry) != 0 {
		t.Errorf("helped entry %v", entry)
	}
	e.ok(e.docker, "", "search", "helped.example:5000/app")
	wantAuth(t, e.d.lastSearchAuth(t), "alice", "s3cret", "helped.example:5000")
	e.ok(e.berth, "", "search", "helped.example:5000/app")
	wantAuth(t, e.d.lastSearchAuth(t), "alice", "s3cret", "helped.example:5000")
}

// TestSearchSameOutput: berth's search output is docker's, byte for byte.
func TestSearchSameOutput(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"search", "localhost:5000/app"},
		{"search", "--no-trunc", "localhost:5000/app"},
		{"search", "--format", "json", "localhost:5000/app"},
		{"search", "--format", "{{.Name}} {{.StarCount}} {{.IsOfficial}}", "busybox"},
		{"search", "--format", "table {{.Name}}\t{{.IsOfficial}}", "busybox"},
		{"search", "-f", "is-automated=false", "--limit", "3", "busybox"},
	} {
		bout, berr, bcode := e.berth("", args...)
		bq := e.d.searchQuery
		dout, derr, dcode := e.docker("", args...)
		if bout != dout || berr != derr || bcode != dcode || bq != e.d.searchQuery {
			t.Errorf("%v:\nberth  %d %q %q %s\ndocker %d %q %q %s", args, bcode, bout, berr, bq, dcode, dout, derr, e.d.searchQuery)
		}
	}
}
