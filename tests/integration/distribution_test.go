package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// Issue 7's acceptance checks for distribution (all but signing), tried as
// a new user would, with the Docker CLI and with berth.

// TestDistributionSeedFlow is the seed's self-hosted registry: registry:2
// in a container on a published port, an image tagged for it, pushed,
// removed and pulled back by the same digest, and the registry's catalogue
// and tag list naming it.
func TestDistributionSeedFlow(t *testing.T) {
	d := sharedDaemon(t)
	needNetworking(t)
	registryImage(t, d)
	eachClient(t, d, func(t *testing.T, c *client) {
		port := freePort(t)
		rmAtEnd(t, d, "registry")
		c.ok("run", "-d", "-p", fmt.Sprintf("%d:5000", port), "--name", "registry", "registry:2")
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		waitFor(t, 20*time.Second, "registry:2 to answer on "+base, func() bool {
			code, _, err := httpDo(http.DefaultClient, http.MethodGet, base+"/v2/", nil)
			return err == nil && code == http.StatusOK
		})

		repo := fmt.Sprintf("localhost:%d/myapp", port)
		ref := repo + ":latest"
		importImage(t, d, "myapp:latest")
		rmiAtEnd(t, d, ref)
		c.ok("tag", "myapp:latest", ref)
		out := c.ok("push", ref)
		dg := pushed(t, out)
		if want := "The push refers to repository [" + repo + "]"; !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
		if got := manifestDigest(t, base, "myapp", "latest"); got != dg {
			t.Errorf("push printed %s; the registry has %s", dg, got)
		}

		c.ok("rmi", ref)
		if r := c.run("image", "inspect", ref); r.code == 0 {
			t.Fatalf("%s still there after rmi", ref)
		}
		out = c.ok("pull", ref)
		if got := pulled(t, out); got != dg {
			t.Errorf("pull printed digest %s; push printed %s", got, dg)
		}
		if want := "Status: Downloaded newer image for " + ref; !strings.Contains(out, want) {
			t.Errorf("pull output lacks %q:\n%s", want, out)
		}
		if got := c.okTrim("image", "inspect", "--format", "{{json .RepoDigests}}", ref); !strings.Contains(got, `"`+repo+"@"+dg.String()+`"`) {
			t.Errorf("RepoDigests %s; want %s@%s", got, repo, dg)
		}
		if got, want := c.okTrim("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}", repo), repo+" latest "+dg.String(); got != want {
			t.Errorf("images --digests %s: %q; want %q", repo, got, want)
		}

		var catalog struct{ Repositories []string }
		getJSON(t, base+"/v2/_catalog", &catalog)
		if !slices.Contains(catalog.Repositories, "myapp") {
			t.Errorf("/v2/_catalog: %v; want myapp in it", catalog.Repositories)
		}
		var tags struct {
			Name string
			Tags []string
		}
		getJSON(t, base+"/v2/myapp/tags/list", &tags)
		if tags.Name != "myapp" || !slices.Equal(tags.Tags, []string{"latest"}) {
			t.Errorf("/v2/myapp/tags/list: %+v; want myapp [latest]", tags)
		}
	})
}

// TestDistributionTLSLogin runs registry:2 with TLS (a CA the test makes,
// installed in /etc/berth/certs.d) and htpasswd authentication: login
// with a wrong password fails with Docker's message, a right one writes
// config.json, push and pull work with the stored credentials, and logout
// removes them.
func TestDistributionTLSLogin(t *testing.T) {
	d := sharedDaemon(t)
	needNetworking(t)
	// berthd (like dockerd) treats loopback registries as insecure and
	// would not verify their certificates: reach this one by an address of
	// the host's on a device the test makes.
	host := newTestHost(t).hostAddr.String()
	registryImage(t, d)

	port := freePort(t)
	hostport := fmt.Sprintf("%s:%d", host, port)
	dir := t.TempDir()
	tf := makeCerts(t, filepath.Join(dir, "certs"), host, "localhost", "127.0.0.1")
	const user, password = "berth", "s3cret-passw0rd"
	writeHtpasswd(t, filepath.Join(dir, "auth", "htpasswd"), user, password)

	docker := d.client(t, "docker")
	name := docker.uniqueName("tlsreg")
	docker.ok("run", "-d", "-p", fmt.Sprintf("%d:5000", port), "--name", name,
		"-v", filepath.Join(dir, "certs")+":/certs:ro",
		"-v", filepath.Join(dir, "auth")+":/auth:ro",
		"-e", "REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server.crt",
		"-e", "REGISTRY_HTTP_TLS_KEY=/certs/server.key",
		"-e", "REGISTRY_AUTH=htpasswd",
		"-e", "REGISTRY_AUTH_HTPASSWD_REALM=Registry Realm",
		"-e", "REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd",
		"registry:2")
	base := "https://" + hostport
	waitFor(t, 20*time.Second, "the TLS registry to answer on "+base, func() bool {
		code, _, err := httpDo(tlsClient(tf.ca), http.MethodGet, base+"/v2/", nil)
		return err == nil && code == http.StatusUnauthorized
	})

	// Before its CA is installed, berthd does not trust the registry: it
	// does verify the certificate of a registry reached by this name.
	cfgDir := t.TempDir()
	r := docker.runWith(nil, []string{"DOCKER_CONFIG=" + cfgDir}, "login", "-u", user, "-p", password, hostport)
	if r.code == 0 || !strings.Contains(r.stderr, "x509: certificate signed by unknown authority") {
		t.Fatalf("login before the CA is installed: want an unknown authority error, got %s", r)
	}
	installCA(t, hostport, tf.caPEM)

	eachClient(t, d, func(t *testing.T, c *client) {
		cfgDir := t.TempDir()
		env := []string{"DOCKER_CONFIG=" + cfgDir}

		r := c.runWith(nil, env, "login", "-u", user, "-p", "wrong", hostport)
		want := fmt.Sprintf("Error response from daemon: login attempt to %s/v2/ failed with status: 401 Unauthorized", base)
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("login with a wrong password: want exit 1 and %q, got %s", want, r)
		}
		if _, ok := readDockerConfig(t, cfgDir).Auths[hostport]; ok {
			t.Errorf("a failed login stored credentials for %s", hostport)
		}

		r = c.runWith(strings.NewReader(password+"\n"), env, "login", "-u", user, "--password-stdin", hostport)
		if r.code != 0 || !strings.Contains(r.stdout, "Login Succeeded") {
			t.Fatalf("login: %s", r)
		}
		entry, ok := readDockerConfig(t, cfgDir).Auths[hostport]
		if want := base64.StdEncoding.EncodeToString([]byte(user + ":" + password)); !ok || entry.Auth != want {
			t.Fatalf("config.json auths[%s] = %+v (present %v); want auth %s", hostport, entry, ok, want)
		}

		ref := fmt.Sprintf("%s/tls-%s/myapp:v1", hostport, c.name)
		importImage(t, d, ref)
		r = c.runWith(nil, env, "push", ref)
		if r.code != 0 {
			t.Fatalf("push: %s", r)
		}
		dg := pushed(t, r.stdout)
		c.ok("rmi", ref)
		r = c.runWith(nil, env, "pull", ref)
		if r.code != 0 {
			t.Fatalf("pull: %s", r)
		}
		if got := pulled(t, r.stdout); got != dg {
			t.Errorf("pull printed digest %s; push printed %s", got, dg)
		}

		r = c.runWith(nil, env, "logout", hostport)
		if r.code != 0 || !strings.Contains(r.stdout, "Removing login credentials for "+hostport) {
			t.Errorf("logout: %s", r)
		}
		if _, ok := readDockerConfig(t, cfgDir).Auths[hostport]; ok {
			t.Errorf("config.json still has %s after logout", hostport)
		}
		// Without the credentials the registry turns the pull away.
		c.ok("rmi", ref)
		if r := c.runWith(nil, env, "pull", ref); r.code == 0 {
			t.Errorf("pull after logout succeeded: %s", r)
		}
	})
}

// TestDistributionDebianRegistry checks interop with Debian's
// docker-registry (distribution 2.8): berthd pulls an OCI image skopeo put
// there, and pushes to it.
func TestDistributionDebianRegistry(t *testing.T) {
	d := sharedDaemon(t)
	const bin = "/usr/bin/docker-registry"
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("Debian's docker-registry is not installed (scripts/test.sh installs it): %v", err)
	}
	reg := startRegistryProc(t, bin)
	eachClient(t, d, func(t *testing.T, c *client) {
		img := randomImage(t, 64<<10)
		repo := "interop/" + c.name
		dg := pushLayout(t, reg.addr, repo, "v1", img)
		ref := reg.addr + "/" + repo + ":v1"
		rmiAtEnd(t, d, ref)
		if got := pulled(t, c.ok("pull", ref)); got != dg {
			t.Errorf("pull printed %s; docker-registry has %s", got, dg)
		}
		if got := c.inspectImage("{{json .RootFS.Layers}}", ref); got != `["`+img.diffID.String()+`"]` {
			t.Errorf("layers %s; want [%s]", got, img.diffID)
		}

		up := reg.addr + "/" + repo + "/myapp:v1"
		importImage(t, d, up)
		dg = pushed(t, c.ok("push", up))
		if got := manifestDigest(t, "http://"+reg.addr, repo+"/myapp", "v1"); got != dg {
			t.Errorf("push printed %s; docker-registry has %s", dg, got)
		}
	})
}

// TestDistributionSkopeo checks interop with skopeo both ways: skopeo
// copies an image berthd pushed to berth-registry out to an OCI layout,
// and back into berth-registry under another name, which berthd pulls and
// runs.
func TestDistributionSkopeo(t *testing.T) {
	d := sharedDaemon(t)
	reg := berthRegistry(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		src := reg.addr + "/skopeo/" + c.name + ":v1"
		back := reg.addr + "/skopeo/" + c.name + "-back:v1"
		importImage(t, d, src)
		rmiAtEnd(t, d, back)
		c.ok("push", src)

		dir := filepath.Join(t.TempDir(), "layout")
		skopeo(t, "copy", "--quiet", "--src-tls-verify=false", "docker://"+src, "oci:"+dir+":v1")
		var layout struct {
			Manifests []struct{ Digest digest.Digest }
		}
		readJSONFile(t, filepath.Join(dir, "index.json"), &layout)
		if len(layout.Manifests) != 1 {
			t.Fatalf("skopeo wrote %d manifests; want 1", len(layout.Manifests))
		}
		var m struct {
			Config struct{ Digest digest.Digest }
		}
		readJSONFile(t, filepath.Join(dir, "blobs", "sha256", layout.Manifests[0].Digest.Encoded()), &m)
		var cfg struct {
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
		readJSONFile(t, filepath.Join(dir, "blobs", "sha256", m.Config.Digest.Encoded()), &cfg)
		if got, want := `["`+strings.Join(cfg.RootFS.DiffIDs, `","`)+`"]`, c.inspectImage("{{json .RootFS.Layers}}", src); got != want {
			t.Errorf("the layers skopeo read are %s; %s has %s", got, src, want)
		}

		skopeo(t, "copy", "--quiet", "--dest-tls-verify=false", "oci:"+dir+":v1", "docker://"+back)
		c.ok("pull", back)
		if got := c.okTrim("run", "--rm", back, "echo", "copied back"); got != "copied back" {
			t.Errorf("run %s: %q", back, got)
		}
	})
}

// TestDistributionMultiPlatform pushes an index of two platforms with
// skopeo; a pull takes the host's platform by default and the other one
// with --platform.
func TestDistributionMultiPlatform(t *testing.T) {
	d := sharedDaemon(t)
	reg := berthRegistry(t)
	other := "arm64"
	if hostArch() == "arm64" {
		other = "amd64"
	}
	byArch := map[string]ociImage{}
	var imgs []ociImage
	for _, arch := range []string{"amd64", "arm64"} {
		img := layerOf(t, arch, map[string][]byte{"platform": []byte("linux/" + arch + "\n"), "data": randomBytes(1024)})
		byArch[arch] = img
		imgs = append(imgs, img)
	}
	index := pushLayout(t, reg.addr, "multi/app", "v1", imgs...)
	ref := reg.addr + "/multi/app:v1"

	eachClient(t, d, func(t *testing.T, c *client) {
		rmiAtEnd(t, d, ref)
		for _, tc := range []struct {
			args []string
			arch string
		}{
			{[]string{"pull", ref}, hostArch()},
			{[]string{"pull", "--platform", "linux/" + other, ref}, other},
		} {
			out := c.ok(tc.args...)
			if got := pulled(t, out); got != index {
				t.Errorf("%v printed digest %s; the index is %s", tc.args, got, index)
			}
			if got := c.inspectImage("{{.Os}}/{{.Architecture}}", ref); got != "linux/"+tc.arch {
				t.Errorf("after %v the image is %s; want linux/%s", tc.args, got, tc.arch)
			}
			if got, want := c.inspectImage("{{json .RootFS.Layers}}", ref), `["`+byArch[tc.arch].diffID.String()+`"]`; got != want {
				t.Errorf("after %v the layers are %s; want %s (linux/%s)", tc.args, got, want, tc.arch)
			}
			// dockerd 20.10 (the suite's reference) records no RepoDigests
			// for a pull of another platform; Docker's containerd image
			// store, like berthd, names the index.
			if got := c.inspectImage("{{json .RepoDigests}}", ref); !strings.Contains(got, "@"+index.String()) && (!referenceDaemon() || tc.arch == hostArch()) {
				t.Errorf("after %v RepoDigests %s lack the index %s", tc.args, got, index)
			}
		}
		c.ok("rmi", ref)
	})
}

// TestDistributionRegistryMirror gives a daemon a registry mirror on
// 127.0.0.1 holding library/busybox: `pull busybox` is served by it (there
// is no Docker Hub to reach here), as its access log shows.
func TestDistributionRegistryMirror(t *testing.T) {
	reg := berthRegistry(t)
	d := startDaemonConfig(t, fmt.Sprintf(`{"registry-mirrors": ["http://%s"]}`+"\n", reg.addr))
	if err := d.importBusybox(); err != nil {
		t.Fatal(err)
	}
	seed := d.client(t, "docker")
	mirrored := reg.addr + "/library/busybox:latest"
	seed.ok("tag", "busybox", mirrored)
	dg := pushed(t, seed.ok("push", mirrored))
	seed.ok("rmi", "busybox", mirrored)

	eachClient(t, d, func(t *testing.T, c *client) {
		from := len(reg.out.String())
		out := c.ok("pull", "busybox")
		if got := pulled(t, out); got != dg {
			t.Errorf("pull busybox printed %s; the mirror has %s", got, dg)
		}
		if !strings.Contains(out, "Status: Downloaded newer image for busybox:latest") {
			t.Errorf("pull busybox:\n%s", out)
		}
		log := reg.out.String()[from:]
		// The tag is resolved (HEAD or GET), then the manifest by digest and
		// the blobs are fetched.
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`"(HEAD|GET) /v2/library/busybox/manifests/latest[ ?].* 200 `),
			regexp.MustCompile(`"GET /v2/library/busybox/blobs/` + dg.Algorithm().String() + `:[0-9a-f]{64}[ ?].* 200 `),
		} {
			if !want.MatchString(log) {
				t.Errorf("the mirror's access log has no line matching %s:\n%s", want, log)
			}
		}
		if got := c.inspectImage("{{json .RepoDigests}}", "busybox"); got != `["busybox@`+dg.String()+`"]` {
			t.Errorf("RepoDigests %s; want [busybox@%s]", got, dg)
		}
		c.ok("rmi", "busybox")
	})
}

// TestDistributionKillDuringPull kills berthd (SIGKILL) while it pulls a
// 100 MB layer through a slow link: after a restart no half image is
// listed, and the next pull completes with the right digest.
func TestDistributionKillDuringPull(t *testing.T) {
	reg := berthRegistry(t)
	const size = 100 << 20
	dg := pushLayout(t, reg.addr, "big/app", "v1", randomImage(t, size))
	proxy := startProxy(t, reg.addr)
	proxy.rate.Store(20 << 20) // 20 MB/s: five seconds for the layer

	d := startDaemon(t)
	docker, berth := d.client(t, "docker"), d.client(t, "berth")
	ref := proxy.addr + "/big/app:v1"
	bg := docker.start("pull", ref)
	waitFor(t, 30*time.Second, "a quarter of the layer to arrive", func() bool { return proxy.down.Load() > size/4 })
	d.signal(t, syscall.SIGKILL)
	if code := bg.wait(t, 30*time.Second); code == 0 {
		t.Fatalf("pull succeeded although berthd was killed during it:\n%s", bg.stdout)
	}
	if err := d.start(); err != nil {
		t.Fatalf("restarting berthd: %v", err)
	}

	for _, c := range []*client{docker, berth} {
		if got := c.okTrim("images", "-a", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"); got != "" {
			t.Errorf("%s images -a after the kill: %q; want none", c.name, got)
		}
		if r := c.run("image", "inspect", ref); r.code == 0 {
			t.Errorf("%s image inspect %s: the half-pulled image exists", c.name, ref)
		}
	}

	proxy.rate.Store(0)
	sent := proxy.down.Load()
	if got := pulled(t, berth.ok("pull", ref)); got != dg {
		t.Errorf("pull printed %s; the registry has %s", got, dg)
	}
	if got := docker.inspectImage("{{json .RepoDigests}}", ref); got != `["`+proxy.addr+"/big/app@"+dg.String()+`"]` {
		t.Errorf("RepoDigests %s; want %s/big/app@%s", got, proxy.addr, dg)
	}
	t.Logf("the killed pull got %d MB through; the next pull took %d MB more", sent>>20, (proxy.down.Load()-sent)>>20)
	if got, err := strconv.ParseInt(docker.inspectImage("{{.Size}}", ref), 10, 64); err != nil || got < size {
		t.Errorf("image size %d (%v); want at least %d", got, err, size)
	}
}

// TestDistributionCorruptBlob corrupts a layer on the registry's disk: the
// pull is refused with Docker's digest error and leaves no image.
func TestDistributionCorruptBlob(t *testing.T) {
	d := sharedDaemon(t)
	reg := berthRegistry(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		img := randomImage(t, 256<<10)
		repo := "corrupt/" + c.name
		pushLayout(t, reg.addr, repo, "v1", img)
		layer := digest.FromBytes(img.layer)
		path := reg.blobPath(layer)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("the layer on the registry's disk: %v", err)
		}
		for i := len(data) / 2; i < len(data)/2+64; i++ {
			data[i] ^= 0xff
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}

		ref := reg.addr + "/" + repo + ":v1"
		rmiAtEnd(t, d, ref)
		r := c.run("pull", ref)
		want := "filesystem layer verification failed for digest " + layer.String()
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("pull of a corrupted layer: want exit 1 and %q, got %s", want, r)
		}
		if r := c.run("image", "inspect", ref); r.code == 0 {
			t.Errorf("image inspect %s: the image exists after a failed pull", ref)
		}
	})
}

// TestDistributionDroppedConnection pulls through a proxy that breaks the
// connection twice in the middle of the layer: the transfer is retried and
// the pull completes.
func TestDistributionDroppedConnection(t *testing.T) {
	d := sharedDaemon(t)
	reg := berthRegistry(t)
	proxy := startProxy(t, reg.addr)
	eachClient(t, d, func(t *testing.T, c *client) {
		const size = 4 << 20
		img := randomImage(t, size)
		repo := "dropped/" + c.name
		dg := pushLayout(t, reg.addr, repo, "v1", img)
		proxy.cutAfter.Store(size / 4)
		proxy.toCut.Store(2)
		before := proxy.cut.Load()

		ref := proxy.addr + "/" + repo + ":v1"
		rmiAtEnd(t, d, ref)
		out := c.ok("pull", ref)
		if got := pulled(t, out); got != dg {
			t.Errorf("pull printed %s; the registry has %s", got, dg)
		}
		if cut := proxy.cut.Load() - before; cut != 2 {
			t.Errorf("the proxy cut %d connections; want 2 (the test did not break the transfer)", cut)
		}
		if got := c.inspectImage("{{json .RootFS.Layers}}", ref); got != `["`+img.diffID.String()+`"]` {
			t.Errorf("layers %s; want [%s]", got, img.diffID)
		}
	})
}

// inspectImage applies a Go template to an image.
func (c *client) inspectImage(format, ref string) string {
	c.t.Helper()
	return c.okTrim("image", "inspect", "--format", format, ref)
}

// readJSONFile decodes the JSON file at path into v.
func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
