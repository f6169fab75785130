package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/images"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"berth/internal/errdefs"
)

// plainArchive is a docker-archive, as `docker save` writes it, of one
// image whose one layer is a plain (uncompressed) tar.
func plainArchive(t *testing.T, ref string, layer []byte) []byte {
	t.Helper()
	cfg := fmt.Sprintf(`{"architecture":%q,"os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%q]}}`,
		goruntime.GOARCH, digest.FromBytes(layer))
	manifest := fmt.Sprintf(`[{"Config":"config.json","RepoTags":[%q],"Layers":["layer.tar"]}]`, ref)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name string
		body []byte
	}{{"config.json", []byte(cfg)}, {"layer.tar", layer}, {"manifest.json", []byte(manifest)}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	tw.Close()
	return buf.Bytes()
}

// pushedDigest is the digest of the final "TAG: digest: D size: N" line.
func pushedDigest(t *testing.T, lines []progressMessage) digest.Digest {
	t.Helper()
	for _, l := range lines {
		if f := strings.Fields(l.Status); len(f) == 5 && f[1] == "digest:" {
			return digest.Digest(f[2])
		}
	}
	t.Fatalf("no digest line in %+v", lines)
	return ""
}

// TestPushCompressesPlainLayers loads an image whose layer is a plain tar
// (as `docker save` archives are) and pushes it: the registry gets the
// layer gzip-compressed under Docker's gzip media type, as from dockerd; a
// second push sends the same compressed blob (same manifest digest); and
// the image pulled back elsewhere is the same image.
func TestPushCompressesPlainLayers(t *testing.T) {
	reg := startRegistry(t, registryOpts{})
	f := newFixture(t)
	ctx := context.Background()
	ref := reg.host + "/plain/app:v1"
	layer := busyboxTar(t)
	if _, err := f.svc.Load(ctx, bytes.NewReader(plainArchive(t, ref, layer))); err != nil {
		t.Fatal(err)
	}
	img, err := f.svc.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pushTo(t, f, ref, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := pushedDigest(t, lines)

	req, _ := http.NewRequest(http.MethodGet, "http://"+reg.host+"/v2/plain/app/manifests/v1", nil)
	req.Header.Set("Accept", images.MediaTypeDockerSchema2Manifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil || len(m.Layers) != 1 {
		t.Fatalf("registry manifest: %v %+v", err, m)
	}
	l := m.Layers[0]
	if l.MediaType != images.MediaTypeDockerSchema2LayerGzip || l.Digest == digest.FromBytes(layer) || l.Size >= int64(len(layer)) {
		t.Fatalf("pushed layer %+v; want gzip, not the plain tar %s (%d bytes)", l, digest.FromBytes(layer), len(layer))
	}
	resp, err = http.Get("http://" + reg.host + "/v2/plain/app/blobs/" + l.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 2)
	_, _ = resp.Body.Read(head)
	resp.Body.Close()
	if head[0] != 0x1f || head[1] != 0x8b {
		t.Fatalf("pushed layer blob starts % x, not gzip's magic", head)
	}

	lines, err = pushTo(t, f, ref, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again := pushedDigest(t, lines); again != first {
		t.Errorf("second push gave %s, first %s: the layer was compressed anew", again, first)
	}

	other := newFixture(t)
	if _, err := pullTo(t, other, ref, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := other.svc.Resolve(ctx, ref); err != nil || got.ID != img.ID {
		t.Fatalf("pulled back %v (%v), pushed image %s", got.ID, err, img.ID)
	}
}

// TestPushConnectionCut: an upload whose connection breaks mid-layer is
// retried, and the registry ends up with the whole image.
func TestPushConnectionCut(t *testing.T) {
	reg := startRegistry(t, registryOpts{})
	proxy := startCutProxyDir(t, reg.host, 256<<10, true)
	f := newFixture(t)
	ctx := context.Background()
	ref := proxy.host + "/cutpush:v1"
	id := f.importMarked(t, ref, "cut push")
	if _, err := pushTo(t, f, ref, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if proxy.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d connections; the test needs one", proxy.cuts.Load())
	}
	other := newFixture(t)
	if _, err := pullTo(t, other, reg.host+"/cutpush:v1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if img, err := other.svc.Resolve(ctx, reg.host+"/cutpush:v1"); err != nil || img.ID != id {
		t.Fatalf("pulled %v (%v), pushed %s", img, err, id)
	}
}

func TestRetryablePush(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"reset connection", context.Background(), errors.New("read: connection reset by peer"), true},
		{"registry 503", context.Background(), remoteerrors.ErrUnexpectedStatus{StatusCode: 503}, true},
		{"registry 429", context.Background(), remoteerrors.ErrUnexpectedStatus{StatusCode: 429}, true},
		{"registry 400", context.Background(), remoteerrors.ErrUnexpectedStatus{StatusCode: 400}, false},
		{"no credentials", context.Background(), errdefs.Unauthorized(errors.New("no basic auth credentials")), false},
		{"denied", context.Background(), errdefs.Forbidden(errors.New("denied")), false},
		{"canceled push", canceled, errors.New("read: connection reset by peer"), false},
	}
	for _, tc := range tests {
		if got := retryablePush(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: retryable %v, want %v", tc.name, got, tc.want)
		}
	}
}
