package registry

import (
	"bytes"
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
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"
)

// testRegistry is a berth-registry serving on 127.0.0.1 in this process.
type testRegistry struct {
	URL    string // http://127.0.0.1:PORT or https://…
	Root   string // the filesystem storage's root directory
	Client *http.Client
	Config string // the configuration it was started from
	stop   func() // stops it (once) and waits for Serve to return
}

// startRegistry serves the configuration yaml (with ROOT replaced by a new
// temporary directory) on a random loopback port until the test ends.
func startRegistry(t *testing.T, yaml string) *testRegistry {
	t.Helper()
	root := t.TempDir()
	return startRegistryAt(t, strings.ReplaceAll(yaml, "ROOT", root), root)
}

// startRegistryAfter stops prev and serves its configuration and storage
// again, as a restarted registry.
func startRegistryAfter(t *testing.T, prev *testRegistry) *testRegistry {
	t.Helper()
	prev.stop()
	return startRegistryAt(t, prev.Config, prev.Root)
}

func startRegistryAt(t *testing.T, yaml, root string) *testRegistry {
	t.Helper()
	cfg, err := ParseConfig(strings.NewReader(yaml))
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg, Options{})
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Cleanup(stop)
	scheme := "http"
	if srv.TLS() {
		scheme = "https"
	}
	return &testRegistry{
		URL:    scheme + "://" + ln.Addr().String(),
		Root:   root,
		Client: &http.Client{Timeout: 30 * time.Second},
		Config: yaml,
		stop:   stop,
	}
}

const plainConfig = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ROOT
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  headers:
    X-Content-Type-Options: [nosniff]
`

// do sends a request and returns the status and body; user/pass, when
// set, go as basic auth.
func (r *testRegistry) do(t *testing.T, method, path string, body []byte, header http.Header, user, pass string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, r.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

// pushBlob uploads data to repo monolithically (POST then PUT ?digest=).
func (r *testRegistry) pushBlob(t *testing.T, repo string, data []byte, user, pass string) digest.Digest {
	t.Helper()
	dgst := digest.FromBytes(data)
	code, h, body := r.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil, user, pass)
	if code != http.StatusAccepted {
		t.Fatalf("start upload to %s: %d %s", repo, code, body)
	}
	loc := h.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	loc = strings.TrimPrefix(loc, r.URL) + sep + "digest=" + dgst.String()
	code, _, body = r.do(t, http.MethodPut, loc, data, http.Header{"Content-Type": {"application/octet-stream"}}, user, pass)
	if code != http.StatusCreated {
		t.Fatalf("finish upload to %s: %d %s", repo, code, body)
	}
	return dgst
}

// pushImage pushes a one-layer OCI image to repo:tag and returns its
// manifest's digest and the layer's.
func (r *testRegistry) pushImage(t *testing.T, repo, tag, user, pass string) (manifest, layer digest.Digest) {
	t.Helper()
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"repo":%q}`, repo))
	layerData := []byte("layer of " + repo + ":" + tag)
	cfgDigest := r.pushBlob(t, repo, config, user, pass)
	layer = r.pushBlob(t, repo, layerData, user, pass)
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: layer, Size: int64(len(layerData))}},
	}
	m.SchemaVersion = 2
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	code, h, body := r.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, data,
		http.Header{"Content-Type": {ocispec.MediaTypeImageManifest}}, user, pass)
	if code != http.StatusCreated {
		t.Fatalf("push manifest %s:%s: %d %s", repo, tag, code, body)
	}
	if got, want := h.Get("Docker-Content-Digest"), digest.FromBytes(data).String(); got != want {
		t.Fatalf("manifest digest %q, want %q", got, want)
	}
	return digest.FromBytes(data), layer
}

func TestPushPullRoundTrip(t *testing.T) {
	reg := startRegistry(t, plainConfig)
	mdgst, layer := reg.pushImage(t, "library/myapp", "latest", "", "")

	code, h, body := reg.do(t, http.MethodGet, "/v2/library/myapp/manifests/latest",
		nil, http.Header{"Accept": {ocispec.MediaTypeImageManifest}}, "", "")
	if code != http.StatusOK || digest.FromBytes(body) != mdgst || h.Get("Docker-Content-Digest") != mdgst.String() {
		t.Fatalf("pull manifest: %d %s digest %s, want %s", code, h.Get("Docker-Content-Digest"), digest.FromBytes(body), mdgst)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("http.headers not applied: X-Content-Type-Options %q", got)
	}
	code, _, body = reg.do(t, http.MethodGet, "/v2/library/myapp/blobs/"+layer.String(), nil, nil, "", "")
	if code != http.StatusOK || digest.FromBytes(body) != layer {
		t.Fatalf("pull layer: %d, digest %s want %s", code, digest.FromBytes(body), layer)
	}
	code, _, body = reg.do(t, http.MethodGet, "/v2/_catalog", nil, nil, "", "")
	if code != http.StatusOK || !strings.Contains(string(body), `"library/myapp"`) {
		t.Fatalf("catalog: %d %s", code, body)
	}
	code, _, body = reg.do(t, http.MethodGet, "/v2/library/myapp/tags/list", nil, nil, "", "")
	if code != http.StatusOK || !strings.Contains(string(body), `"latest"`) {
		t.Fatalf("tags/list: %d %s", code, body)
	}
	// The files are where registry:2 keeps them.
	if _, err := os.Stat(filepath.Join(reg.Root, "docker/registry/v2/repositories/library/myapp/_manifests/tags/latest")); err != nil {
		t.Errorf("tag not stored in the filesystem layout: %v", err)
	}
	// `registry serve` answers / for liveness probes.
	if code, _, _ := reg.do(t, http.MethodGet, "/", nil, nil, "", ""); code != http.StatusOK {
		t.Errorf("GET /: %d", code)
	}
}

func writeHtpasswd(t *testing.T, user, pass string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHtpasswd(t *testing.T) {
	htpasswd := writeHtpasswd(t, "alice", "s3cret")
	reg := startRegistry(t, plainConfig+`auth:
  htpasswd:
    realm: Registry Realm
    path: `+htpasswd+"\n")

	tests := []struct {
		name, user, pass string
		want             int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong password", "alice", "wrong", http.StatusUnauthorized},
		{"unknown user", "bob", "s3cret", http.StatusUnauthorized},
		{"right password", "alice", "s3cret", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := reg.do(t, http.MethodGet, "/v2/", nil, nil, tc.user, tc.pass)
			if code != tc.want {
				t.Fatalf("GET /v2/: %d, want %d (%s)", code, tc.want, body)
			}
			if code == http.StatusUnauthorized {
				if got, want := h.Get("WWW-Authenticate"), `Basic realm="Registry Realm"`; got != want {
					t.Errorf("WWW-Authenticate %q, want %q", got, want)
				}
			}
		})
	}
	// Pushing needs the credentials too.
	code, _, _ := reg.do(t, http.MethodPost, "/v2/private/blobs/uploads/", nil, nil, "", "")
	if code != http.StatusUnauthorized {
		t.Fatalf("anonymous upload: %d, want 401", code)
	}
	reg.pushImage(t, "private", "v1", "alice", "s3cret")
}

// makeCA writes a CA and a server certificate for 127.0.0.1 signed by it;
// it returns the CA certificate's PEM and the paths of the server's
// certificate and key.
func makeCA(t *testing.T) (caPEM []byte, certPath, keyPath string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "berth test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
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
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "domain.crt"), filepath.Join(dir, "domain.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), certPath, keyPath
}

func TestTLSWithHtpasswd(t *testing.T) {
	caPEM, cert, key := makeCA(t)
	htpasswd := writeHtpasswd(t, "alice", "s3cret")
	reg := startRegistry(t, plainConfig+`  tls:
    certificate: `+cert+`
    key: `+key+`
auth:
  htpasswd:
    realm: basic-realm
    path: `+htpasswd+"\n")
	if !strings.HasPrefix(reg.URL, "https://") {
		t.Fatalf("registry not on TLS: %s", reg.URL)
	}

	// Without the CA the certificate is refused.
	_, err := reg.Client.Get(reg.URL + "/v2/")
	var unknownCA x509.UnknownAuthorityError
	if !errors.As(err, &unknownCA) {
		t.Fatalf("GET without the CA: %v, want an unknown authority error", err)
	}

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("bad CA PEM")
	}
	reg.Client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	if code, _, _ := reg.do(t, http.MethodGet, "/v2/", nil, nil, "", ""); code != http.StatusUnauthorized {
		t.Fatalf("GET /v2/ without credentials over TLS: %d, want 401", code)
	}
	if code, _, _ := reg.do(t, http.MethodGet, "/v2/", nil, nil, "alice", "s3cret"); code != http.StatusOK {
		t.Fatalf("GET /v2/ with credentials over TLS: %d, want 200", code)
	}
	mdgst, _ := reg.pushImage(t, "tls/app", "1.0", "alice", "s3cret")
	code, _, body := reg.do(t, http.MethodGet, "/v2/tls/app/manifests/1.0", nil,
		http.Header{"Accept": {ocispec.MediaTypeImageManifest}}, "alice", "s3cret")
	if code != http.StatusOK || digest.FromBytes(body) != mdgst {
		t.Fatalf("pull over TLS: %d digest %s, want %s", code, digest.FromBytes(body), mdgst)
	}

	// TLS below 1.2 is refused, as distribution's default minimum says.
	old := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}
	if _, err := (&http.Client{Transport: old, Timeout: 10 * time.Second}).Get(reg.URL + "/v2/"); err == nil {
		t.Error("TLS 1.1 handshake succeeded, want it refused")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name, extra, want string
	}{
		{"missing certificate", "  tls:\n    certificate: /nonexistent/cert.pem\n    key: /nonexistent/key.pem\n", "loading http.tls certificate"},
		{"htpasswd without realm", "auth:\n  htpasswd:\n    path: /nonexistent\n", "configuring registry"},
		{"unknown minimum TLS", "  tls:\n    certificate: /x\n    key: /y\n    minimumtls: tls1.0\n", "unknown minimum TLS level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.ReplaceAll(plainConfig, "ROOT", t.TempDir()) + tc.extra
			cfg, err := ParseConfig(strings.NewReader(yaml))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			_, err = New(context.Background(), cfg, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestGarbageCollect(t *testing.T) {
	reg := startRegistry(t, plainConfig)
	_, layer := reg.pushImage(t, "gc/app", "v1", "", "")
	orphan := reg.pushBlob(t, "gc/app", []byte("a blob no manifest references"), "", "")

	cfg, err := ParseConfig(strings.NewReader(reg.Config))
	if err != nil {
		t.Fatal(err)
	}
	blobStatus := func(d digest.Digest) int {
		code, _, _ := reg.do(t, http.MethodHead, "/v2/gc/app/blobs/"+d.String(), nil, nil, "", "")
		return code
	}

	if err := GarbageCollect(context.Background(), cfg, GCOptions{DryRun: true, Quiet: true}); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if got := blobStatus(orphan); got != http.StatusOK {
		t.Fatalf("after a dry run the orphan blob answers %d, want 200", got)
	}
	if err := GarbageCollect(context.Background(), cfg, GCOptions{Quiet: true}); err != nil {
		t.Fatalf("garbage-collect: %v", err)
	}
	if got := blobStatus(orphan); got != http.StatusNotFound {
		t.Errorf("after garbage-collect the orphan blob answers %d, want 404", got)
	}
	if got := blobStatus(layer); got != http.StatusOK {
		t.Errorf("after garbage-collect a referenced layer answers %d, want 200", got)
	}
}
