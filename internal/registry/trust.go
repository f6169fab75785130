package registry

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/auth"

	"berth/internal/notary"
)

// trustDir is where a filesystem-backed registry keeps the Notary trust
// data, beside distribution's tree under the storage root.
const trustDir = "berth/notary"

// newTrustServer makes the Notary v1 service the Docker CLI's
// DOCKER_CONTENT_TRUST talks to at the registry's own address (its default
// trust server for a private registry is https://HOST:PORT). It shares the
// registry's access control; its data lives under the filesystem storage
// root, or in memory for the other drivers.
func newTrustServer(cfg *configuration.Configuration) (*notary.Server, error) {
	var access auth.AccessController
	if t := cfg.Auth.Type(); t != "" && !strings.EqualFold(t, "none") {
		ac, err := auth.GetAccessController(t, cfg.Auth.Parameters())
		if err != nil {
			return nil, fmt.Errorf("configuring trust service authorization (%s): %w", t, err)
		}
		access = ac
	}
	if cfg.Storage.Type() == "filesystem" {
		root, _ := cfg.Storage.Parameters()["rootdirectory"].(string)
		if root == "" {
			root = "/var/lib/registry" // the filesystem driver's own default
		}
		return notary.New(filepath.Join(root, trustDir), access)
	}
	return notary.NewInMemory(access), nil
}

// trustRoutes sends the trust API's paths to trust and everything else to
// next.
func trustRoutes(base string, trust *notary.Server, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := strings.CutPrefix(r.URL.Path, base)
		if !ok || !notary.Handles(p) {
			next.ServeHTTP(w, r)
			return
		}
		if base != "" {
			r = r.Clone(r.Context())
			r.URL.Path = p
			r.URL.RawPath = ""
		}
		trust.ServeHTTP(w, r)
	})
}
