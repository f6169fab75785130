package registry

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrustService checks the Notary service's place in the registry:
// its paths are guarded by the registry's access control, a repository
// without trust data answers notary's 404, a server-managed key is made
// on first request and kept under the storage root, a restarted registry
// opens the same store, and other paths still reach distribution. (That
// the keys and metadata carry a repository across a restart, the Docker
// CLI checks in the integration suite.)
func TestTrustService(t *testing.T) {
	htpasswd := writeHtpasswd(t, "alice", "s3cret")
	cfg := plainConfig + `auth:
  htpasswd:
    realm: Registry Realm
    path: ` + htpasswd + "\n"
	reg := startRegistry(t, cfg)

	const root = "/v2/signed/app/_trust/tuf/root.json"
	code, h, body := reg.do(t, http.MethodGet, root, nil, nil, "", "")
	if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") != `Basic realm="Registry Realm"` {
		t.Fatalf("anonymous GET %s: %d %q %s", root, code, h.Get("WWW-Authenticate"), body)
	}
	code, _, body = reg.do(t, http.MethodGet, root, nil, nil, "alice", "s3cret")
	if code != http.StatusNotFound || !strings.Contains(string(body), "METADATA_NOT_FOUND") {
		t.Fatalf("GET %s without trust data: %d %s, want notary's 404", root, code, body)
	}

	const key = "/v2/signed/app/_trust/tuf/timestamp.key"
	code, _, first := reg.do(t, http.MethodGet, key, nil, nil, "alice", "s3cret")
	if code != http.StatusOK || !strings.Contains(string(first), `"keytype":"ecdsa"`) {
		t.Fatalf("GET %s: %d %s", key, code, first)
	}
	if _, err := os.Stat(filepath.Join(reg.Root, trustDir, "trust.db")); err != nil {
		t.Errorf("trust metadata store not under the storage root: %v", err)
	}
	// The server signs without a passphrase, so its private keys are
	// files only the registry's user may read.
	keys, err := filepath.Glob(filepath.Join(reg.Root, trustDir, "private", "*.key"))
	if err != nil || len(keys) != 1 {
		t.Fatalf("server keys under the storage root: %v %v, want one", keys, err)
	}
	if fi, err := os.Stat(keys[0]); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("server key %s has mode %v, want 0600", keys[0], fi.Mode().Perm())
	}

	// A registry restarted on the same root opens the same store (the
	// first one released it).
	again := startRegistryAfter(t, reg)
	if code, _, body = again.do(t, http.MethodGet, root, nil, nil, "alice", "s3cret"); code != http.StatusNotFound {
		t.Fatalf("GET %s after a restart: %d %s", root, code, body)
	}

	// Distribution still answers the rest.
	if code, _, body = again.do(t, http.MethodGet, "/v2/signed/app/tags/list", nil, nil, "alice", "s3cret"); code != http.StatusNotFound || !strings.Contains(string(body), "NAME_UNKNOWN") {
		t.Fatalf("tags/list: %d %s", code, body)
	}
}
