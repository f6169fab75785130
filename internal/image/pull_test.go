package image

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/images"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"berth/internal/errdefs"
)

// TestPushPullRoundTrip pushes an imported image, removes it and pulls it
// back: same image, same digest, and the second transfer of each kind
// finds everything in place.
func TestPushPullRoundTrip(t *testing.T) {
	reg := startRegistry(t, registryOpts{})
	f := newFixture(t)
	ref := reg.host + "/app:v1"
	id := f.importMarked(t, ref, "round-trip")

	lines, err := pushTo(t, f, ref, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasStatus(lines, "", "The push refers to repository ["+reg.host+"/app]") {
		t.Errorf("no push header in %+v", lines)
	}
	for _, want := range []string{"Preparing", "Pushing", "Pushed"} {
		if !hasStatus(lines, "", want) {
			t.Errorf("push stream lacks %q: %+v", want, lines)
		}
	}
	last := lines[len(lines)-2].Status // the aux result follows
	fields := strings.Fields(last)
	if len(fields) != 5 || fields[0] != "v1:" || fields[1] != "digest:" || fields[3] != "size:" {
		t.Fatalf("final push line %q", last)
	}
	pushed := digest.Digest(fields[2])
	if pushed.Validate() != nil {
		t.Fatalf("final push line %q", last)
	}
	if repo, _ := f.svc.RepoDigests(context.Background(), ref); len(repo) != 1 || repo[0] != reg.host+"/app@"+pushed.String() {
		t.Errorf("RepoDigests after push = %v", repo)
	}

	// Pushed again: the registry has it all.
	lines, err = pushTo(t, f, ref, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasStatus(lines, "", "Layer already exists") || hasStatus(lines, "", "Pushed") {
		t.Errorf("second push re-uploaded: %+v", lines)
	}

	if _, err := f.svc.Delete(context.Background(), ref, false, true); err != nil {
		t.Fatal(err)
	}
	f.svc.CollectGarbage(context.Background())

	lines, err = pullTo(t, f, ref, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Pulling from app", "Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete", "Extracting", "Pull complete", "Digest: " + pushed.String(), "Status: Downloaded newer image for " + ref} {
		if !hasStatus(lines, "", want) {
			t.Errorf("pull stream lacks %q: %+v", want, lines)
		}
	}
	img, err := f.svc.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != id {
		t.Errorf("pulled image %s, pushed %s", img.ID, id)
	}
	if repo, _ := f.svc.RepoDigests(context.Background(), ref); len(repo) != 1 || repo[0] != reg.host+"/app@"+pushed.String() {
		t.Errorf("RepoDigests after pull = %v", repo)
	}

	lines, err = pullTo(t, f, ref, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasStatus(lines, "", "Already exists") || !hasStatus(lines, "", "Status: Image is up to date for "+ref) {
		t.Errorf("second pull: %+v", lines)
	}

	// Another repository of the same registry mounts the layer.
	if err := f.svc.Tag(context.Background(), ref, reg.host+"/other", "v1"); err != nil {
		t.Fatal(err)
	}
	lines, err = pushTo(t, f, reg.host+"/other:v1", PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasStatus(lines, "", "Mounted from app") {
		t.Errorf("push to another repository did not mount: %+v", lines)
	}

	// By digest.
	byDigest := reg.host + "/other@" + pushed.String()
	if _, err := pullTo(t, f, byDigest, PullOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestPullUnknown: nothing is written and the error is dockerd's 404.
func TestPullUnknown(t *testing.T) {
	reg := startRegistry(t, registryOpts{})
	f := newFixture(t)
	var buf bytes.Buffer
	err := f.svc.Pull(context.Background(), reg.host+"/nope", PullOptions{}, &buf)
	want := "manifest for " + reg.host + "/nope:latest not found: manifest unknown: manifest unknown"
	if err == nil || err.Error() != want || !errdefs.IsNotFound(err) {
		t.Fatalf("err = %v, want NotFound %q", err, want)
	}
	if buf.Len() != 0 {
		t.Errorf("stream written before the error: %s", buf.String())
	}
}

// TestPullSharedLayersAndAllTags: a second repository with the same layer
// fetches nothing; --all-tags pulls every tag.
func TestPullSharedLayersAndAllTags(t *testing.T) {
	reg := startRegistry(t, registryOpts{})
	f := newFixture(t)
	id := f.importMarked(t, reg.host+"/shared:a", "shared")
	if err := f.svc.Tag(context.Background(), id, reg.host+"/shared", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := pushTo(t, f, reg.host+"/shared", PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Delete(context.Background(), reg.host+"/shared:b", false, true); err != nil {
		t.Fatal(err)
	}
	lines, err := pullTo(t, f, reg.host+"/shared", PullOptions{AllTags: true})
	if err != nil {
		t.Fatal(err)
	}
	if hasStatus(lines, "", "Downloading") || !hasStatus(lines, "", "Already exists") {
		t.Errorf("shared layer fetched again: %+v", lines)
	}
	if !hasStatus(lines, "a", "Pulling from shared") || !hasStatus(lines, "b", "Pulling from shared") {
		t.Errorf("not every tag pulled: %+v", lines)
	}
	if !hasStatus(lines, "", "Status: Downloaded newer image for "+reg.host+"/shared") {
		t.Errorf("final status: %+v", lines)
	}
	img, err := f.svc.Resolve(context.Background(), reg.host+"/shared:b")
	if err != nil || img.ID != id {
		t.Fatalf("shared:b = %v, %v", img, err)
	}
}

// TestPullPlatform: an index of two platforms gives the host's by
// default and the asked one with --platform; /distribution lists both.
func TestPullPlatform(t *testing.T) {
	reg := startRegistry(t, registryOpts{})
	f := newFixture(t)
	ctx := context.Background()
	amd := importPlatform(t, f, reg.host+"/multi:amd64", "linux/amd64", "amd64")
	arm := importPlatform(t, f, reg.host+"/multi:arm64", "linux/arm64", "arm64")
	var descs []ocispec.Descriptor
	for _, c := range []struct{ tag, arch string }{{"amd64", "amd64"}, {"arm64", "arm64"}} {
		if _, err := pushTo(t, f, reg.host+"/multi:"+c.tag, PushOptions{}); err != nil {
			t.Fatal(err)
		}
		img, _ := f.svc.Resolve(ctx, reg.host+"/multi:"+c.tag)
		e, _, _ := f.svc.lookup(f.svc.ns(ctx), img.ID)
		_, d, ok := dockerManifest2(e.info, e.info.manifest.Layers)
		if !ok {
			t.Fatal("imported image not pushed as Docker schema 2")
		}
		d.Platform = &ocispec.Platform{OS: "linux", Architecture: c.arch}
		if c.arch == "arm64" {
			d.Platform.Variant = "v8"
		}
		descs = append(descs, d)
	}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: images.MediaTypeDockerSchema2ManifestList, Manifests: descs}
	ib, _ := json.Marshal(idx)
	idesc := ocispec.Descriptor{MediaType: idx.MediaType, Digest: digest.FromBytes(ib), Size: int64(len(ib))}
	pusher, err := f.svc.resolver(nil, nil).Pusher(f.svc.ns(ctx), reg.host+"/multi:both")
	if err != nil {
		t.Fatal(err)
	}
	if err := pushBytes(f.svc.ns(ctx), pusher, idesc, ib); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{amd, arm} {
		if _, err := f.svc.Delete(ctx, id, true, true); err != nil {
			t.Fatal(err)
		}
	}

	di, err := f.svc.DistributionInspect(ctx, reg.host+"/multi:both", nil)
	if err != nil {
		t.Fatal(err)
	}
	if di.Descriptor.Digest != idesc.Digest || len(di.Platforms) != 2 {
		t.Errorf("distribution inspect = %+v", di)
	}

	tests := []struct {
		doc, platform, want string
	}{
		{doc: "host default", want: amd},
		{doc: "asked arm64", platform: "linux/arm64", want: arm},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			if _, err := pullTo(t, f, reg.host+"/multi:both", PullOptions{Platform: tc.platform}); err != nil {
				t.Fatal(err)
			}
			img, err := f.svc.Resolve(ctx, reg.host+"/multi:both")
			if err != nil || img.ID != tc.want {
				t.Fatalf("pulled %v (%v), want %s", img, err, tc.want)
			}
		})
	}
	var buf bytes.Buffer
	err = f.svc.Pull(ctx, reg.host+"/multi:both", PullOptions{Platform: "linux/s390x"}, &buf)
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "no matching manifest for linux/s390x") || buf.Len() != 0 {
		t.Errorf("absent platform: %v, stream %q", err, buf.String())
	}
}

func importPlatform(t *testing.T, f *fixture, ref, platform, marker string) string {
	t.Helper()
	id, err := f.svc.Import(context.Background(), bytes.NewReader(gzipped(t, markedBusyboxTar(t, marker))), ImportOptions{Repo: ref, Platform: platform})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestPullCorruptBlob: a layer changed on the registry's disk is refused
// with a digest error and no image is recorded.
func TestPullCorruptBlob(t *testing.T) {
	reg := startRegistry(t, registryOpts{})
	f := newFixture(t)
	ctx := context.Background()
	ref := reg.host + "/bad:v1"
	f.importMarked(t, ref, "corrupt")
	if _, err := pushTo(t, f, ref, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	e, _, err := f.svc.lookup(f.svc.ns(ctx), ref)
	if err != nil {
		t.Fatal(err)
	}
	layer := e.info.manifest.Layers[0].Digest
	data := filepath.Join(reg.storage, "docker/registry/v2/blobs/sha256", layer.Encoded()[:2], layer.Encoded(), "data")
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Delete(ctx, ref, false, true); err != nil {
		t.Fatal(err)
	}
	f.svc.CollectGarbage(ctx)

	_, err = pullTo(t, f, ref, PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "filesystem layer verification failed for digest "+layer.String()) {
		t.Fatalf("pull of a corrupt layer: %v", err)
	}
	if _, err := f.svc.Resolve(ctx, ref); !errdefs.IsNotFound(err) {
		t.Errorf("image recorded after a failed pull: %v", err)
	}
	if blobs, snaps := f.leftovers(t); blobs != 0 || snaps != 0 {
		t.Errorf("failed pull left %d blobs and %d snapshots", blobs, snaps)
	}
}

// TestPullConnectionCut: a connection broken mid-layer is resumed and
// the image arrives whole.
func TestPullConnectionCut(t *testing.T) {
	reg := startRegistry(t, registryOpts{})
	f := newFixture(t)
	ctx := context.Background()
	id := f.importMarked(t, reg.host+"/cut:v1", "cut")
	if _, err := pushTo(t, f, reg.host+"/cut:v1", PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Delete(ctx, reg.host+"/cut:v1", false, true); err != nil {
		t.Fatal(err)
	}
	f.svc.CollectGarbage(ctx)
	proxy := startCutProxy(t, reg.host, 256<<10)
	ref := proxy.host + "/cut:v1"
	if _, err := pullTo(t, f, ref, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if proxy.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d connections", proxy.cuts.Load())
	}
	img, err := f.svc.Resolve(ctx, ref)
	if err != nil || img.ID != id {
		t.Fatalf("pulled %v, %v; want %s", img, err, id)
	}
}

// TestPullMirror: a docker.io image is served by a registry mirror on
// 127.0.0.1 (nothing leaves the machine: the mirror has the image).
func TestPullMirror(t *testing.T) {
	reg := startRegistry(t, registryOpts{})
	src := newFixture(t)
	id := src.importMarked(t, reg.host+"/library/mirrored:latest", "mirror")
	if _, err := pushTo(t, src, reg.host+"/library/mirrored:latest", PushOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := New(context.Background(), Config{Root: t.TempDir(), Driver: "overlay2", RegistryMirrors: []string{"http://" + reg.host + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	var buf bytes.Buffer
	if err := svc.Pull(context.Background(), "mirrored", PullOptions{}, &buf); err != nil {
		t.Fatal(err)
	}
	lines := streamLines(t, buf.Bytes())
	if !hasStatus(lines, "latest", "Pulling from library/mirrored") || !hasStatus(lines, "", "Status: Downloaded newer image for mirrored:latest") {
		t.Errorf("pull through the mirror: %+v", lines)
	}
	img, err := svc.Resolve(context.Background(), "mirrored")
	if err != nil || img.ID != id {
		t.Fatalf("pulled %v, %v; want %s", img, err, id)
	}
}
