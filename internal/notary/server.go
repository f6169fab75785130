package notary

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	v3errcode "github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/docker/distribution/registry/api/errcode"
	"github.com/gorilla/mux"
	notarylib "github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/cryptoservice"
	notaryerrors "github.com/theupdateframework/notary/server/errors"
	"github.com/theupdateframework/notary/server/handlers"
	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// Server answers the trust API. Its zero value is not usable: see New and
// NewInMemory.
type Server struct {
	store  storage.MetaStore
	crypto signed.CryptoService
	access auth.AccessController // nil: no access control
	router *mux.Router
	close  func() error
}

// New keeps trust data under dir: the TUF metadata in dir/trust.db and the
// keys the server signs timestamps and snapshots with in dir/private (as
// unencrypted PKCS#8 files, mode 0600, readable only by the registry's
// user like the rest of its storage). access, when not nil, decides who
// may read (pull) and publish (push) a repository's trust data, as it
// decides for its images.
func New(dir string, access auth.AccessController) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("trust store: %w", err)
	}
	store, err := OpenStore(filepath.Join(dir, "trust.db"))
	if err != nil {
		return nil, err
	}
	keys, err := trustmanager.NewKeyFileStore(dir, noPassphrase)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("trust store keys: %w", err)
	}
	return newServer(store, keys, access, store.Close), nil
}

// NewInMemory keeps trust data in memory only, for registries whose
// storage is in memory too.
func NewInMemory(access auth.AccessController) *Server {
	return newServer(storage.NewMemStorage(), trustmanager.NewKeyMemoryStore(noPassphrase), access, func() error { return nil })
}

var setExpiries sync.Once

// noPassphrase leaves the server's own keys unencrypted: the server must
// sign without anyone at hand to type a passphrase.
func noPassphrase(string, string, bool, int) (string, bool, error) { return "", false, nil }

func newServer(store storage.MetaStore, keys trustmanager.KeyStore, access auth.AccessController, closeFn func() error) *Server {
	// The lifetimes notary-server gives the metadata it signs (snapshot 3
	// years, timestamp 14 days), not the library's short defaults, which
	// make every client warn that the snapshot is nearing expiry. The
	// setting is notary's process-wide one; notary's own server and client
	// packages set the same values.
	setExpiries.Do(func() { data.SetDefaultExpiryTimes(data.NotaryDefaultExpiries) })
	s := &Server{store: store, crypto: cryptoservice.NewCryptoService(keys), access: access, close: closeFn}
	s.router = s.routes()
	return s
}

// Close releases the metadata store.
func (s *Server) Close() error { return s.close() }

// Handles reports whether the request path p (without the registry's
// http.prefix) belongs to the trust API.
func Handles(p string) bool {
	return strings.HasPrefix(p, "/v2/") && strings.Contains(p, "/_trust/")
}

// ServeHTTP routes a trust API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// The TUF roles a repository's metadata files are named after; targets may
// have delegations under it (targets/releases…).
const (
	rolePattern   = `{tufRole:root|targets(?:/[^/\s]+)*|snapshot|timestamp}`
	gunPattern    = `{gun:[^*]+}`
	serverManaged = `{tufRole:snapshot|timestamp}`
)

// routes lays out the API the notary client calls: publish (POST of a
// multipart set of roles), fetch a role (current, by version or by
// checksum), fetch or rotate a server-managed key, delete a repository's
// trust data, and the change feed.
func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	tuf := "/v2/" + gunPattern + "/_trust/tuf/"
	r.Methods(http.MethodPost).Path(tuf).Handler(s.endpoint(s.publish, "push", "pull"))
	r.Methods(http.MethodGet).Path(tuf + rolePattern + `.{checksum:[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128}}.json`).Handler(s.endpoint(handlers.GetHandler, "pull"))
	r.Methods(http.MethodGet).Path(tuf + `{version:[1-9]*[0-9]+}.` + rolePattern + `.json`).Handler(s.endpoint(handlers.GetHandler, "pull"))
	r.Methods(http.MethodGet).Path(tuf + rolePattern + `.json`).Handler(s.noCache(s.endpoint(handlers.GetHandler, "pull")))
	r.Methods(http.MethodGet).Path(tuf + serverManaged + `.key`).Handler(s.endpoint(handlers.GetKeyHandler, "push", "pull"))
	r.Methods(http.MethodPost).Path(tuf + serverManaged + `.key`).Handler(s.endpoint(handlers.RotateKeyHandler, "*"))
	r.Methods(http.MethodDelete).Path(tuf).Handler(s.endpoint(handlers.DeleteHandler, "*"))
	r.Methods(http.MethodGet).Path("/v2/" + gunPattern + "/_trust/changefeed").Handler(s.endpoint(handlers.Changefeed, "pull"))
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = errcode.ServeJSON(w, notaryerrors.ErrMetadataNotFound.WithDetail(nil))
	})
	return r
}

// noCache marks the current version of a role as not to be cached: it
// changes with every publish.
func (s *Server) noCache(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=0, no-cache, no-store")
		next.ServeHTTP(w, r)
	})
}

// endpoint wraps one of notary's handlers: access is checked for the
// repository in the path, then the handler runs with the store, the
// signing service and the key algorithm in its context, and an error it
// returns is written as notary's JSON error.
func (s *Server) endpoint(h func(context.Context, http.ResponseWriter, *http.Request) error, actions ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gun := mux.Vars(r)["gun"]
		if !s.authorized(w, r, gun, actions) {
			return
		}
		ctx := context.WithValue(r.Context(), notarylib.CtxKeyMetaStore, s.store)
		ctx = context.WithValue(ctx, notarylib.CtxKeyCryptoSvc, s.crypto)
		ctx = context.WithValue(ctx, notarylib.CtxKeyKeyAlgo, data.ECDSAKey)
		ctx = context.WithValue(ctx, notarylib.CtxKeyRepo, gun)
		if err := h(ctx, w, r.WithContext(ctx)); err != nil {
			_ = errcode.ServeJSON(w, err)
		}
	})
}

// authorized asks the registry's access controller for actions on the
// repository gun; when refused, it writes the challenge (so the client
// logs in or fetches a token, as for a push) and reports false.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, gun string, actions []string) bool {
	if s.access == nil {
		return true
	}
	access := make([]auth.Access, 0, len(actions))
	for _, a := range actions {
		access = append(access, auth.Access{Resource: auth.Resource{Type: "repository", Name: gun}, Action: a})
	}
	_, err := s.access.Authorized(r, access...)
	if err == nil {
		return true
	}
	var challenge auth.Challenge
	if errors.As(err, &challenge) {
		challenge.SetHeaders(r, w)
		_ = v3errcode.ServeJSON(w, v3errcode.ErrorCodeUnauthorized.WithDetail(access))
		return false
	}
	_ = v3errcode.ServeJSON(w, v3errcode.ErrorCodeDenied.WithDetail(err.Error()))
	return false
}
