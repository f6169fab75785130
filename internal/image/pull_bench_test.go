package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pull of an image of benchLayers layers, each one file of benchLayerBytes
// random bytes, gzip-compressed (level 1), from Debian's docker-registry on
// 127.0.0.1, into a fresh store each time. For profiling the pull path:
//
//	go test ./internal/image -run '^$' -bench BenchmarkPull -benchtime 3x -cpuprofile /tmp/pull.prof
const (
	benchLayers     = 4
	benchLayerBytes = 16 << 20
)

func BenchmarkPull(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for overlayfs")
	}
	if _, err := os.Stat(dockerRegistry); err != nil {
		b.Skip("needs Debian's docker-registry (apt-get install docker-registry)")
	}
	host := benchRegistry(b)
	ref := host + "/bench/big:latest"
	size := benchUpload(b, host, "bench/big")
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		svc, err := New(context.Background(), Config{Root: b.TempDir(), Driver: "overlay2"})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		err = svc.Pull(context.Background(), ref, PullOptions{}, io.Discard)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if err := svc.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// benchRegistry starts Debian's docker-registry on a free loopback port
// and returns its host:port once it answers /v2/.
func benchRegistry(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	var logBuf bytes.Buffer
	cmd := exec.Command(dockerRegistry, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return host
			}
		}
		select {
		case err := <-exited:
			b.Fatalf("registry exited: %v\n%s", err, logBuf.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// benchUpload puts the benchmark image into repo on host through the
// registry API and returns the bytes of its layers.
func benchUpload(b *testing.B, host, repo string) int64 {
	b.Helper()
	var diffIDs []digest.Digest
	var layers []ocispec.Descriptor
	var total int64
	for i := 0; i < benchLayers; i++ {
		data := make([]byte, benchLayerBytes)
		if _, err := rand.Read(data); err != nil {
			b.Fatal(err)
		}
		var tb bytes.Buffer
		tw := tar.NewWriter(&tb)
		hdrs := []*tar.Header{
			{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: fmt.Sprintf("data/blob%d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))},
		}
		for _, h := range hdrs {
			if err := tw.WriteHeader(h); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := tw.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := tw.Close(); err != nil {
			b.Fatal(err)
		}
		diffIDs = append(diffIDs, digest.FromBytes(tb.Bytes()))
		var gz bytes.Buffer
		zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := zw.Write(tb.Bytes()); err != nil {
			b.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
		layers = append(layers, putBlob(b, host, repo, images.MediaTypeDockerSchema2LayerGzip, gz.Bytes()))
		total += int64(gz.Len())
	}
	cfg, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	if err != nil {
		b.Fatal(err)
	}
	m, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: images.MediaTypeDockerSchema2Manifest,
		Config:    putBlob(b, host, repo, images.MediaTypeDockerSchema2Config, cfg),
		Layers:    layers,
	})
	if err != nil {
		b.Fatal(err)
	}
	putManifest(b, host, repo, m)
	return total
}

// putManifest stores a Docker schema 2 manifest as repo:latest.
func putManifest(b testing.TB, host, repo string, m []byte) {
	b.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+host+"/v2/"+repo+"/manifests/latest", bytes.NewReader(m))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", images.MediaTypeDockerSchema2Manifest)
	doRequest(b, req, http.StatusCreated)
}

// putBlob uploads blob in one monolithic PUT.
func putBlob(b testing.TB, host, repo, mediaType string, blob []byte) ocispec.Descriptor {
	b.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+host+"/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil {
		b.Fatal(err)
	}
	resp := doRequest(b, req, http.StatusAccepted)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = "http://" + host + loc
	}
	dgst := digest.FromBytes(blob)
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, err = http.NewRequest(http.MethodPut, loc+sep+"digest="+dgst.String(), bytes.NewReader(blob))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	doRequest(b, req, http.StatusCreated)
	return ocispec.Descriptor{MediaType: mediaType, Digest: dgst, Size: int64(len(blob))}
}

func doRequest(b testing.TB, req *http.Request, want int) *http.Response {
	b.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %s: %s", req.Method, req.URL, resp.Status, body)
	}
	return resp
}
