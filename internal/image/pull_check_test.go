package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/images"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"berth/internal/errdefs"
)

// TestPullChecksLayerEntries: a pulled layer whose entries would escape
// the root is refused with checkLayer's words, as Invalid, and leaves
// nothing behind; a sound one is unpacked.
func TestPullChecksLayerEntries(t *testing.T) {
	reg := startRegistry(t, registryOpts{})
	cases := []struct {
		name    string
		layer   []byte // an uncompressed tar
		wantErr string // "" for a pull that succeeds
	}{
		{"sound", tarOf(t, &tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755}, &tar.Header{Typeflag: tar.TypeReg, Name: "etc/ok", Mode: 0o644}), ""},
		{"dotdot entry", tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "../../evil", Mode: 0o644}), "outside of the archive root"},
		{"escaping hardlink", tarOf(t, &tar.Header{Typeflag: tar.TypeLink, Name: "passwd", Linkname: "../../etc/passwd"}), "invalid hardlink"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			repo := "scan" + string(rune('a'+i))
			gz := gzipped(t, tc.layer)
			cfg, err := json.Marshal(ocispec.Image{
				Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
				RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(tc.layer)}},
			})
			if err != nil {
				t.Fatal(err)
			}
			m, err := json.Marshal(ocispec.Manifest{
				Versioned: specs.Versioned{SchemaVersion: 2},
				MediaType: images.MediaTypeDockerSchema2Manifest,
				Config:    putBlob(t, reg.host, repo, images.MediaTypeDockerSchema2Config, cfg),
				Layers:    []ocispec.Descriptor{putBlob(t, reg.host, repo, images.MediaTypeDockerSchema2LayerGzip, gz)},
			})
			if err != nil {
				t.Fatal(err)
			}
			putManifest(t, reg.host, repo, m)
			ref := reg.host + "/" + repo + ":latest"

			_, err = pullTo(t, f, ref, PullOptions{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("pull: %v", err)
				}
				if _, err := f.svc.Resolve(ctx, ref); err != nil {
					t.Fatalf("pulled image not found: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("pull: %v; want an error with %q", err, tc.wantErr)
			}
			if !errdefs.IsInvalid(err) {
				t.Errorf("pull error %v is not Invalid", err)
			}
			if _, err := f.svc.Resolve(ctx, ref); !errdefs.IsNotFound(err) {
				t.Errorf("image recorded after a refused pull: %v", err)
			}
			if blobs, snaps := f.leftovers(t); blobs != 0 || snaps != 0 {
				t.Errorf("refused pull left %d blobs and %d snapshots", blobs, snaps)
			}
		})
	}
}
