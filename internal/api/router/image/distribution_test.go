package image

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
	"golang.org/x/crypto/bcrypt"
)

// startRegistry runs Debian's docker-registry on 127.0.0.1 with htpasswd
// auth when user is set; it returns HOST:PORT.
func startRegistry(t *testing.T, user, password string) string {
	t.Helper()
	const bin = "/usr/bin/docker-registry"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("needs Debian's docker-registry (apt-get install docker-registry)")
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), host)
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		out := []byte(user + ":" + string(hash) + "\n")
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), out, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		closed := false
		for sc.Scan() {
			if !closed && strings.Contains(sc.Text(), "listening on") {
				close(ready)
				closed = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("registry did not start")
	}
	return host
}

// TestDockerCLIPushPull drives push, pull, login and manifest inspect
// with the real Docker CLI.
func TestDockerCLIPushPull(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t, "bob", "hunter2")
	ref := reg + "/cli/app:1.0"
	e.ok("import", e.rootfs, ref)

	e.fails("no basic auth credentials", "push", ref)
	e.fails("login attempt to", "login", "-u", "bob", "-p", "nope", reg)
	out := e.ok("login", "-u", "bob", "-p", "hunter2", reg)
	if !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("login: %q", out)
	}
	out = e.ok("push", ref)
	if !strings.Contains(out, "The push refers to repository ["+reg+"/cli/app]") || !strings.Contains(out, "1.0: digest: sha256:") {
		t.Fatalf("push output:\n%s", out)
	}
	digest := out[strings.Index(out, "digest: ")+len("digest: "):]
	digest = digest[:strings.Index(digest, " ")]
	// push --platform: the image's own platform pushes the same manifest;
	// another is refused.
	if out := e.ok("push", "--platform", "linux/"+goruntime.GOARCH, ref); !strings.Contains(out, "1.0: digest: "+digest) {
		t.Errorf("push --platform linux/%s:\n%s", goruntime.GOARCH, out)
	}
	other := "linux/arm64"
	if goruntime.GOARCH == "arm64" {
		other = "linux/amd64"
	}
	e.fails("does not provide the specified platform ("+other+")", "push", "--platform", other, ref)

	id := strings.TrimSpace(e.ok("image", "inspect", "-f", "{{.Id}}", ref))
	e.ok("rmi", ref)
	out = e.ok("pull", ref)
	for _, want := range []string{"1.0: Pulling from cli/app", "Pull complete", "Digest: " + digest, "Status: Downloaded newer image for " + ref, ref} {
		if !strings.Contains(out, want) {
			t.Errorf("pull output lacks %q:\n%s", want, out)
		}
	}
	if got := strings.TrimSpace(e.ok("image", "inspect", "-f", "{{.Id}}", ref)); got != id {
		t.Errorf("pulled %s, pushed %s", got, id)
	}
	out = e.ok("pull", ref)
	if !strings.Contains(out, "Status: Image is up to date for "+ref) {
		t.Errorf("second pull:\n%s", out)
	}
	e.fails("manifest for "+reg+"/cli/nope:latest not found: manifest unknown", "pull", reg+"/cli/nope")

	// GET /distribution/{name}/json with the CLI's credentials.
	auth, _ := authconfig.Encode(registry.AuthConfig{Username: "bob", Password: "hunter2", ServerAddress: reg})
	hc := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", strings.TrimPrefix(e.host, "unix://"))
	}}}
	req, _ := http.NewRequest("GET", "http://berth/v1.50/distribution/"+ref+"/json", nil)
	req.Header.Set(registry.AuthHeader, auth)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var di registry.DistributionInspect
	err = json.NewDecoder(resp.Body).Decode(&di)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || di.Descriptor.Digest.String() != digest || len(di.Platforms) != 1 || di.Platforms[0].Architecture != "amd64" {
		t.Errorf("distribution inspect: %d %+v %v", resp.StatusCode, di, err)
	}

	// A platform that is not an OCI platform object: 400 and Docker's body.
	for _, bad := range []string{"linux/amd64", "{nope", `{"architecture":"amd64"}`} {
		req, _ = http.NewRequest("POST", "http://berth/v1.50/images/"+ref+"/push?platform="+url.QueryEscape(bad), nil)
		req.Header.Set(registry.AuthHeader, auth)
		resp, err = hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Message string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || err != nil || !strings.Contains(body.Message, "invalid platform") {
			t.Errorf("push with platform %q: %d %q %v", bad, resp.StatusCode, body.Message, err)
		}
	}

	out = e.ok("manifest", "inspect", "--insecure", ref)
	if !strings.Contains(out, "application/vnd.docker.distribution.manifest.v2+json") {
		t.Errorf("manifest inspect:\n%s", out)
	}
}
