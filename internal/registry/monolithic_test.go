package registry

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestSinglePostUpload pushes a blob with one POST: 201 and the blob is
// there; a wrong digest is refused and stores nothing; without credentials
// the POST gets the registry's challenge.
func TestSinglePostUpload(t *testing.T) {
	htpasswd := writeHtpasswd(t, "alice", "s3cret")
	reg := startRegistry(t, plainConfig+`auth:
  htpasswd:
    realm: Registry Realm
    path: `+htpasswd+"\n")
	data := []byte("one request, one blob")
	d := digest.FromBytes(data)
	ct := http.Header{"Content-Type": {"application/octet-stream"}}
	post := "/v2/single/post/blobs/uploads/?digest="

	if code, h, _ := reg.do(t, http.MethodPost, post+d.String(), data, ct, "", ""); code != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("anonymous single POST: %d, challenge %q", code, h.Get("WWW-Authenticate"))
	}
	wrong := digest.FromBytes([]byte("other bytes"))
	if code, _, body := reg.do(t, http.MethodPost, post+wrong.String(), data, ct, "alice", "s3cret"); code != http.StatusBadRequest || !strings.Contains(string(body), "DIGEST_INVALID") {
		t.Fatalf("single POST under a wrong digest: %d %s", code, body)
	}
	if code, _, _ := reg.do(t, http.MethodHead, "/v2/single/post/blobs/"+wrong.String(), nil, nil, "alice", "s3cret"); code != http.StatusNotFound {
		t.Fatalf("blob of a refused POST: %d, want 404", code)
	}
	code, h, body := reg.do(t, http.MethodPost, post+d.String(), data, ct, "alice", "s3cret")
	if code != http.StatusCreated || h.Get("Docker-Content-Digest") != d.String() || !strings.HasSuffix(h.Get("Location"), "/v2/single/post/blobs/"+d.String()) {
		t.Fatalf("single POST: %d digest %q location %q %s", code, h.Get("Docker-Content-Digest"), h.Get("Location"), body)
	}
	if code, _, got := reg.do(t, http.MethodGet, "/v2/single/post/blobs/"+d.String(), nil, nil, "alice", "s3cret"); code != http.StatusOK || string(got) != string(data) {
		t.Fatalf("GET the blob: %d %q", code, got)
	}
}
