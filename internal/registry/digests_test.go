package registry

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestSHA512Digests pushes a blob and a manifest named by sha512 digests,
// reads them back by those digests, refuses a manifest whose body does not
// match its digest, and deletes by sha512 digest: the stored object goes,
// under its sha256 name too.
func TestSHA512Digests(t *testing.T) {
	reg := startRegistry(t, plainConfig)
	const repo = "alt/sha512"
	data := []byte("blob named by sha512")
	d := digest.SHA512.FromBytes(data)

	code, h, body := reg.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil, "", "")
	if code != http.StatusAccepted {
		t.Fatalf("start upload: %d %s", code, body)
	}
	loc := strings.TrimPrefix(h.Get("Location"), reg.URL) + "&digest=" + d.String()
	code, h, body = reg.do(t, http.MethodPut, loc, data, http.Header{"Content-Type": {"application/octet-stream"}}, "", "")
	if code != http.StatusCreated || h.Get("Docker-Content-Digest") != d.String() || !strings.HasSuffix(h.Get("Location"), d.String()) {
		t.Fatalf("finish upload: %d digest %q location %q %s", code, h.Get("Docker-Content-Digest"), h.Get("Location"), body)
	}
	code, h, body = reg.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil, nil, "", "")
	if code != http.StatusOK || string(body) != string(data) || h.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("get blob by sha512: %d digest %q body %q", code, h.Get("Docker-Content-Digest"), body)
	}

	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + d.String() + `","size":` + strconv.Itoa(len(data)) + `},"layers":[]}`)
	md := digest.SHA512.FromBytes(manifest)
	ct := http.Header{"Content-Type": {"application/vnd.oci.image.manifest.v1+json"}}
	wrong := digest.SHA512.FromBytes([]byte("something else"))
	if code, _, body = reg.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+wrong.String(), manifest, ct, "", ""); code != http.StatusBadRequest || !strings.Contains(string(body), "DIGEST_INVALID") {
		t.Fatalf("manifest under a wrong digest: %d %s", code, body)
	}
	code, h, body = reg.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+md.String(), manifest, ct, "", "")
	if code != http.StatusCreated || h.Get("Docker-Content-Digest") != md.String() {
		t.Fatalf("put manifest by sha512: %d digest %q %s", code, h.Get("Docker-Content-Digest"), body)
	}
	code, h, body = reg.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+md.String(), nil, http.Header{"Accept": ct["Content-Type"]}, "", "")
	if code != http.StatusOK || string(body) != string(manifest) || h.Get("Docker-Content-Digest") != md.String() {
		t.Fatalf("get manifest by sha512: %d digest %q", code, h.Get("Docker-Content-Digest"))
	}

	canonical := digest.FromBytes(manifest)
	if code, _, body = reg.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+md.String(), nil, nil, "", ""); code != http.StatusAccepted {
		t.Fatalf("delete manifest by sha512: %d %s", code, body)
	}
	for _, ref := range []digest.Digest{md, canonical} {
		if code, _, _ = reg.do(t, http.MethodHead, "/v2/"+repo+"/manifests/"+ref.String(), nil, http.Header{"Accept": ct["Content-Type"]}, "", ""); code != http.StatusNotFound {
			t.Errorf("manifest %s after delete: %d, want 404", ref, code)
		}
	}
	if code, _, body = reg.do(t, http.MethodDelete, "/v2/"+repo+"/blobs/"+d.String(), nil, nil, "", ""); code != http.StatusAccepted {
		t.Fatalf("delete blob by sha512: %d %s", code, body)
	}
	for _, ref := range []digest.Digest{d, digest.FromBytes(data)} {
		if code, _, _ = reg.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+ref.String(), nil, nil, "", ""); code != http.StatusNotFound {
			t.Errorf("blob %s after delete: %d, want 404", ref, code)
		}
	}
}
