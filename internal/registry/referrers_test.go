package registry

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestReferrers(t *testing.T) {
	htpasswd := writeHtpasswd(t, "alice", "s3cret")
	reg := startRegistry(t, plainConfig+`auth:
  htpasswd:
    realm: basic-realm
    path: `+htpasswd+"\n")
	const user, pass = "alice", "s3cret"
	subject, _ := reg.pushImage(t, "signed/app", "v1", user, pass)

	empty := reg.pushBlob(t, "signed/app", []byte("{}"), user, pass)
	pushArtifact := func(artifactType string) digest.Digest {
		m := ocispec.Manifest{
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: artifactType,
			Config:       ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: empty, Size: 2},
			Layers:       []ocispec.Descriptor{{MediaType: ocispec.MediaTypeEmptyJSON, Digest: empty, Size: 2}},
			Subject:      &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: subject, Size: 1},
			Annotations:  map[string]string{"kind": artifactType},
		}
		m.SchemaVersion = 2
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		dgst := digest.FromBytes(data)
		code, h, body := reg.do(t, http.MethodPut, "/v2/signed/app/manifests/"+dgst.String(), data,
			http.Header{"Content-Type": {ocispec.MediaTypeImageManifest}}, user, pass)
		if code != http.StatusCreated {
			t.Fatalf("push referrer: %d %s", code, body)
		}
		if got := h.Get("OCI-Subject"); got != subject.String() {
			t.Fatalf("OCI-Subject %q, want %q", got, subject)
		}
		return dgst
	}
	sig := pushArtifact("application/vnd.dev.cosign.artifact.sig.v1+json")
	sbom := pushArtifact("application/spdx+json")

	list := func(query string) (int, http.Header, []digest.Digest) {
		code, h, body := reg.do(t, http.MethodGet, "/v2/signed/app/referrers/"+subject.String()+query, nil, nil, user, pass)
		if code != http.StatusOK {
			return code, h, nil
		}
		var idx ocispec.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		if idx.MediaType != ocispec.MediaTypeImageIndex || idx.SchemaVersion != 2 {
			t.Errorf("index %s", body)
		}
		var ds []digest.Digest
		for _, d := range idx.Manifests {
			ds = append(ds, d.Digest)
			if d.ArtifactType == "" || d.Annotations["kind"] != d.ArtifactType || d.Size == 0 {
				t.Errorf("descriptor %+v lacks the manifest's fields", d)
			}
		}
		return code, h, ds
	}

	code, h, got := list("")
	if code != http.StatusOK || len(got) != 2 || h.Get("Content-Type") != ocispec.MediaTypeImageIndex {
		t.Fatalf("referrers: %d %q %v, want both", code, h.Get("Content-Type"), got)
	}
	_, h, got = list("?artifactType=application/spdx%2Bjson")
	if len(got) != 1 || got[0] != sbom || h.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("filtered referrers: %v (filters %q), want [%s]", got, h.Get("OCI-Filters-Applied"), sbom)
	}

	// A deleted referrer is no longer listed.
	if code, _, body := reg.do(t, http.MethodDelete, "/v2/signed/app/manifests/"+sig.String(), nil, nil, user, pass); code != http.StatusAccepted {
		t.Fatalf("delete referrer: %d %s", code, body)
	}
	if _, _, got = list(""); len(got) != 1 || got[0] != sbom {
		t.Fatalf("referrers after delete: %v, want [%s]", got, sbom)
	}

	// A subject with no referrers has an empty index, not a 404.
	other := digest.FromString("nothing refers to this")
	code, _, body := reg.do(t, http.MethodGet, "/v2/signed/app/referrers/"+other.String(), nil, nil, user, pass)
	if code != http.StatusOK || string(body) != `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}` {
		t.Errorf("empty referrers: %d %s", code, body)
	}
	// The registry's access control applies.
	if code, _, _ := reg.do(t, http.MethodGet, "/v2/signed/app/referrers/"+subject.String(), nil, nil, "", ""); code != http.StatusUnauthorized {
		t.Errorf("anonymous referrers: %d, want 401", code)
	}
	if code, _, _ := reg.do(t, http.MethodGet, "/v2/signed/app/referrers/sha256:bad", nil, nil, user, pass); code != http.StatusBadRequest {
		t.Errorf("bad digest: %d, want 400", code)
	}
}
