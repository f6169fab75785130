package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"
)

// The distribution tests run registries of three kinds: registry:2
// containers (berth-registry in the image scripts/registry-image.sh
// makes), berth-registry and Debian's docker-registry as host processes
// listening on 127.0.0.1, and small TCP proxies in front of them that slow
// traffic down or break connections. Every one listens on 127.0.0.1 only
// and is stopped, by its PID, when its test ends.

// registryProc is a registry server run on the host for one test.
type registryProc struct {
	addr string  // 127.0.0.1:PORT
	root string  // its storage root directory
	out  *stream // what it printed: access log (stdout) and log (stderr)
	cmd  *exec.Cmd
	done chan struct{}
}

// registryOptions change what startRegistryProcWith configures.
type registryOptions struct {
	certDir  string        // serve TLS with certDir/server.crt and server.key (makeCerts)
	htpasswd string        // require basic auth from this htpasswd file
	after    *registryProc // a stopped registry whose address and storage to take over
}

// startRegistryProc runs bin (berth-registry or /usr/bin/docker-registry)
// as `bin serve CONFIG` with filesystem storage in a temporary directory,
// deletes enabled, on a free port of 127.0.0.1, and waits until /v2/
// answers.
func startRegistryProc(t *testing.T, bin string) *registryProc {
	t.Helper()
	return startRegistryProcWith(t, bin, registryOptions{})
}

// startRegistryProcWith is startRegistryProc with TLS or basic auth.
func startRegistryProcWith(t *testing.T, bin string, opts registryOptions) *registryProc {
	t.Helper()
	dir := t.TempDir()
	r := &registryProc{
		addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		root: filepath.Join(dir, "storage"),
		out:  &stream{},
		done: make(chan struct{}),
	}
	if opts.after != nil {
		r.addr, r.root = opts.after.addr, opts.after.root
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, r.root, r.addr)
	scheme, ready := "http", http.StatusOK
	client := http.DefaultClient
	if opts.certDir != "" {
		config += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n",
			filepath.Join(opts.certDir, "server.crt"), filepath.Join(opts.certDir, "server.key"))
		scheme = "https"
		// Readiness only: the tests check the certificate themselves.
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	}
	if opts.htpasswd != "" {
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", opts.htpasswd)
		ready = http.StatusUnauthorized
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "serve", cfgPath)
	for _, kv := range cleanEnv() {
		if !strings.HasPrefix(kv, "REGISTRY_") {
			r.cmd.Env = append(r.cmd.Env, kv)
		}
	}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("%s printed:\n%s", filepath.Base(bin), lastLines(r.out.String(), 60))
		}
	})
	waitFor(t, 20*time.Second, filepath.Base(bin)+" to answer on "+r.addr, func() bool {
		select {
		case <-r.done:
			t.Fatalf("%s exited before answering:\n%s", bin, r.out)
		default:
		}
		code, _, err := httpDo(client, http.MethodGet, scheme+"://"+r.addr+"/v2/", nil)
		return err == nil && code == ready
	})
	return r
}

// stop kills the registry and waits for it to exit.
func (r *registryProc) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// berthRegistry runs the suite's berth-registry on the host.
func berthRegistry(t *testing.T) *registryProc {
	t.Helper()
	return startRegistryProc(t, binary(t, "berth-registry"))
}

// blobPath is where a filesystem-backed registry keeps a blob's bytes.
func (r *registryProc) blobPath(d digest.Digest) string {
	return filepath.Join(r.root, "docker", "registry", "v2", "blobs", d.Algorithm().String(), d.Encoded()[:2], d.Encoded(), "data")
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// httpDo makes one request and returns the status and body.
func httpDo(c *http.Client, method, url string, hdr http.Header) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.Header.Get("Docker-Content-Digest") != "" && method == http.MethodHead {
		body = []byte(resp.Header.Get("Docker-Content-Digest"))
	}
	return resp.StatusCode, body, err
}

// manifestDigest asks the registry at base (scheme://host:port) what
// digest repo:tag has, accepting every manifest and index type.
func manifestDigest(t *testing.T, base, repo, tag string) digest.Digest {
	t.Helper()
	hdr := http.Header{"Accept": {
		ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest,
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.docker.distribution.manifest.v2+json",
	}}
	code, body, err := httpDo(http.DefaultClient, http.MethodHead, base+"/v2/"+repo+"/manifests/"+tag, hdr)
	if err != nil || code != http.StatusOK {
		t.Fatalf("HEAD %s/v2/%s/manifests/%s: %d %v", base, repo, tag, code, err)
	}
	d, err := digest.Parse(string(body))
	if err != nil {
		t.Fatalf("HEAD %s/v2/%s/manifests/%s: Docker-Content-Digest %q: %v", base, repo, tag, body, err)
	}
	return d
}

// getJSON GETs url and decodes its JSON answer into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body, err := httpDo(http.DefaultClient, http.MethodGet, url, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", url, code, err, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// What the CLIs print about pushed and pulled digests.
var (
	pushedRE = regexp.MustCompile(`(?m)^\S+: digest: (sha256:[0-9a-f]{64}) size: \d+$`)
	pulledRE = regexp.MustCompile(`(?m)^Digest: (sha256:[0-9a-f]{64})$`)
)

// pushed is the digest a push printed ("latest: digest: sha256:… size: N").
func pushed(t *testing.T, out string) digest.Digest {
	t.Helper()
	m := pushedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("push printed no digest:\n%s", out)
	}
	return digest.Digest(m[1])
}

// pulled is the digest a pull printed ("Digest: sha256:…").
func pulled(t *testing.T, out string) digest.Digest {
	t.Helper()
	m := pulledRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("pull printed no digest:\n%s", out)
	}
	return digest.Digest(m[1])
}

// rmiAtEnd removes refs from d when the test ends (whatever it did).
func rmiAtEnd(t *testing.T, d *daemon, refs ...string) {
	t.Cleanup(func() {
		if d.running() {
			for _, ref := range refs {
				_, _, _, _ = d.api(http.MethodDelete, "/images/"+ref+"?force=1", "", nil)
			}
		}
	})
}

// importImage imports the suite's busybox rootfs as a new image named
// ref (repository:tag), removed when the test ends. The commit message
// makes its config, and so its ID, its own: what the test does to it
// (RepoDigests from a push or pull) stays off the shared busybox image.
func importImage(t *testing.T, d *daemon, ref string) {
	t.Helper()
	repo, tag := ref, "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	rmiAtEnd(t, d, ref)
	f, err := os.Open(the.busybox)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	q := url.Values{}
	q.Set("fromSrc", "-")
	q.Set("repo", repo)
	q.Set("tag", tag)
	q.Set("message", fmt.Sprintf("%s for %s (%x)", ref, t.Name(), randomBytes(8)))
	q.Add("changes", `CMD ["sh"]`)
	status, _, body, err := d.api(http.MethodPost, "/images/create?"+q.Encode(), "application/x-tar", f)
	if err != nil || status != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
		t.Fatalf("importing %s: %d %v %s", ref, status, err, body)
	}
}

// rmAtEnd force-removes the container name from d when the test ends.
func rmAtEnd(t *testing.T, d *daemon, name string) {
	t.Cleanup(func() {
		if d.running() {
			_, _, _, _ = d.api(http.MethodDelete, "/containers/"+name+"?force=1&v=1", "", nil)
		}
	})
}

// skopeo runs skopeo and fails the test unless it succeeds.
func skopeo(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo is not installed (scripts/test.sh installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "skopeo", args...)
	// No credentials of the host's user: an empty auth file.
	auth := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(auth, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(cleanEnv(), "PATH="+os.Getenv("PATH"), "REGISTRY_AUTH_FILE="+auth)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ociImage is one single-layer image of an OCI layout the test writes.
type ociImage struct {
	arch   string
	layer  []byte        // the gzip-compressed tar
	diffID digest.Digest // the digest of the uncompressed tar
}

// layerOf makes a layer holding the files (path → content) and returns
// an image of it for linux/arch. gzip's stored blocks (no compression)
// keep big random layers cheap to make.
func layerOf(t *testing.T, arch string, files map[string][]byte) ociImage {
	t.Helper()
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for name, data := range files {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return ociImage{arch: arch, layer: gz.Bytes(), diffID: digest.FromBytes(tarBuf.Bytes())}
}

// randomBytes is n bytes nobody else has (so no daemon holds a layer of
// them already).
func randomBytes(n int) []byte {
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	b := make([]byte, n)
	_, _ = mrand.NewChaCha8(seed).Read(b)
	return b
}

// randomImage is a single-layer linux image for the host's architecture
// with n random bytes in /data.
func randomImage(t *testing.T, n int) ociImage {
	t.Helper()
	return layerOf(t, hostArch(), map[string][]byte{"data": randomBytes(n)})
}

// writeLayout writes an OCI image layout in dir with imgs under tag: the
// manifest of the one image, or an index of all of them (one per
// platform). It returns the digest of what tag names and each image's
// manifest digest.
func writeLayout(t *testing.T, dir, tag string, imgs ...ociImage) (digest.Digest, []digest.Digest) {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(mediaType string, data []byte) ocispec.Descriptor {
		d := digest.FromBytes(data)
		if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
	}
	putJSON := func(mediaType string, v any) ocispec.Descriptor {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return put(mediaType, data)
	}
	var manifests []ocispec.Descriptor
	var digests []digest.Digest
	for _, img := range imgs {
		created := time.Unix(1700000000, 0).UTC()
		cfg := ocispec.Image{
			Created:  &created,
			Platform: ocispec.Platform{OS: "linux", Architecture: img.arch},
			Config:   ocispec.ImageConfig{Cmd: []string{"/data"}},
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{img.diffID}},
			History:  []ocispec.History{{Created: &created, CreatedBy: "berth integration test"}},
		}
		m := ocispec.Manifest{
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    putJSON(ocispec.MediaTypeImageConfig, cfg),
			Layers:    []ocispec.Descriptor{put(ocispec.MediaTypeImageLayerGzip, img.layer)},
		}
		m.SchemaVersion = 2
		desc := putJSON(ocispec.MediaTypeImageManifest, m)
		desc.Platform = &ocispec.Platform{OS: "linux", Architecture: img.arch}
		manifests = append(manifests, desc)
		digests = append(digests, desc.Digest)
	}
	top := manifests[0]
	top.Platform = nil
	if len(imgs) > 1 {
		idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
		idx.SchemaVersion = 2
		top = putJSON(ocispec.MediaTypeImageIndex, idx)
	}
	top.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
	outer := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{top}}
	outer.SchemaVersion = 2
	data, err := json.Marshal(outer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return top.Digest, digests
}

// pushLayout writes imgs as an OCI layout and copies it with skopeo to
// the plain-HTTP registry at addr as repo:tag (every platform), returning
// the digest the registry holds it under.
func pushLayout(t *testing.T, addr, repo, tag string, imgs ...ociImage) digest.Digest {
	t.Helper()
	dir := t.TempDir()
	writeLayout(t, dir, tag, imgs...)
	skopeo(t, "copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false",
		"oci:"+dir+":"+tag, "docker://"+addr+"/"+repo+":"+tag)
	return manifestDigest(t, "http://"+addr, repo, tag)
}

// hostArch is the host's architecture as images name it (amd64, arm64).
func hostArch() string { return runtime.GOARCH }

// tcpProxy forwards connections from a port of 127.0.0.1 to a target,
// optionally slowing down what flows back (the registry's answers) and
// cutting connections partway through.
type tcpProxy struct {
	addr   string
	target string
	ln     net.Listener

	rate     atomic.Int64 // bytes per second, all connections together; 0: no limit
	cutAfter atomic.Int64 // a cut connection breaks after this many bytes back
	toCut    atomic.Int64 // how many more connections to cut
	cut      atomic.Int64 // connections cut so far
	down     atomic.Int64 // bytes forwarded back so far

	mu    sync.Mutex
	next  time.Time // when the rate allows the next chunk
	conns map[net.Conn]bool
	wg    sync.WaitGroup
	quit  chan struct{}
}

// startProxy listens on a free port of 127.0.0.1 and forwards to target;
// it stops, closing every connection, when the test ends.
func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}, quit: make(chan struct{})}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, up) {
			return
		}
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			_, _ = io.Copy(up, c)
			_ = up.(*net.TCPConn).CloseWrite()
		}()
		go func() {
			defer p.wg.Done()
			p.back(c, up)
			c.Close()
			up.Close()
		}()
	}
}

// track records an open pair, unless the proxy is closing.
func (p *tcpProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.quit:
		for _, c := range conns {
			c.Close()
		}
		return false
	default:
	}
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

// back copies the registry's answers to the client in chunks, at the
// proxy's rate, cutting the connection if it is one to cut.
func (p *tcpProxy) back(c, up net.Conn) {
	buf := make([]byte, 16<<10)
	var sent int64
	cutting := false
	for {
		n, err := up.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if limit := p.cutAfter.Load(); !cutting && limit > 0 && sent+int64(n) > limit && p.toCut.Load() > 0 {
				cutting = p.toCut.Add(-1) >= 0
			}
			if cutting {
				chunk = chunk[:max(0, p.cutAfter.Load()-sent)]
			}
			if !p.wait(len(chunk)) {
				return
			}
			if _, werr := c.Write(chunk); werr != nil {
				return
			}
			sent += int64(len(chunk))
			p.down.Add(int64(len(chunk)))
			if cutting {
				p.cut.Add(1)
				// A reset, not a clean close: the transfer breaks off.
				_ = c.(*net.TCPConn).SetLinger(0)
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// wait holds a chunk of n bytes back until the rate allows it; false when
// the proxy is closing.
func (p *tcpProxy) wait(n int) bool {
	rate := p.rate.Load()
	if rate <= 0 {
		return true
	}
	p.mu.Lock()
	now := time.Now()
	start := p.next
	if start.Before(now) {
		start = now
	}
	p.next = start.Add(time.Duration(int64(n) * int64(time.Second) / rate))
	p.mu.Unlock()
	timer := time.NewTimer(time.Until(start))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-p.quit:
		return false
	}
}

func (p *tcpProxy) close() {
	p.mu.Lock()
	select {
	case <-p.quit:
		p.mu.Unlock()
		return
	default:
	}
	close(p.quit)
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// tlsFiles are the certificates a TLS registry test makes.
type tlsFiles struct {
	caPEM []byte
	ca    *x509.CertPool
}

// makeCerts writes a fresh CA's certificate (ca.crt) and a server
// certificate it signed (server.crt, server.key) for names (DNS names or
// IP addresses) into dir.
func makeCerts(t *testing.T, dir string, names ...string) tlsFiles {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "berth integration test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := map[string][]byte{
		"ca.crt":     caPEM,
		"server.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return tlsFiles{caPEM: caPEM, ca: pool}
}

// writeHtpasswd writes an htpasswd file with one bcrypt entry. The lowest
// bcrypt cost keeps the registry's check of every request cheap.
func writeHtpasswd(t *testing.T, path, user, password string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(user+":"+string(hash)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// certsDir is where berthd looks for a registry's CA (Docker's layout).
const certsDir = "/etc/berth/certs.d"

// installCA puts caPEM in /etc/berth/certs.d/HOSTPORT/ca.crt and removes
// it, and the directories it made, when the test ends.
func installCA(t *testing.T, hostport string, caPEM []byte) {
	t.Helper()
	var made []string // directories this call created, innermost last
	for _, dir := range []string{filepath.Dir(certsDir), certsDir, filepath.Join(certsDir, hostport)} {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			made = append(made, dir)
		}
	}
	dir := filepath.Join(certsDir, hostport)
	if len(made) == 0 || made[len(made)-1] != dir {
		t.Fatalf("%s exists already: another registry on this port?", dir)
	}
	t.Cleanup(func() {
		for i := len(made) - 1; i >= 0; i-- {
			if err := os.RemoveAll(made[i]); err != nil {
				t.Errorf("removing %s: %v", made[i], err)
			}
		}
	})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dockerConfig is the CLI configuration file a login wrote.
type dockerConfig struct {
	Auths map[string]struct {
		Auth string `json:"auth"`
	} `json:"auths"`
}

// readDockerConfig reads DIR/config.json ({} when there is none).
func readDockerConfig(t *testing.T, dir string) dockerConfig {
	t.Helper()
	var cfg dockerConfig
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return cfg
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("config.json: %v\n%s", err, data)
	}
	return cfg
}

// tlsClient is an HTTP client trusting only the test's CA.
func tlsClient(ca *x509.CertPool) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12}}}
}
