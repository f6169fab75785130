// Package server is berth's HTTP front door for the Docker Engine API: it
// negotiates the API version from the path, dispatches to the routers of each
// API area, and is the one place where an error becomes an HTTP status and a
// {"message": …} body. Routers hold no logic beyond decode → call → encode.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"berth/internal/errdefs"
)

// API versions this server speaks. MaxAPIVersion follows the
// github.com/moby/moby/api module that berth builds against.
const (
	MinAPIVersion = "1.24"
	MaxAPIVersion = "1.56"
)

// HandlerFunc serves one route. It returns an error instead of writing one;
// the server maps it to Docker's status and body.
type HandlerFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request) error

// Route is one method and path of the Engine API, written without the
// /v1.NN prefix, with {name} wildcards as net/http.ServeMux understands them.
type Route struct {
	Method  string
	Path    string
	Handler HandlerFunc
}

// Router is an API area: containers, images, system, …
type Router interface {
	Routes() []Route
}

// Config is what the server needs from the daemon.
type Config struct {
	Logger *slog.Logger
	// ServerHeader is sent as the Server header, e.g. "Docker/28.2.2 (linux)".
	ServerHeader string
}

// Server serves the Engine API on any number of listeners.
type Server struct {
	cfg Config
	mux *http.ServeMux

	// base is the parent of every request's context; Shutdown cancels it
	// so that long streams (wait, events, logs -f, attach) end.
	base   context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	servers   []*http.Server // guarded by mu
	listeners []net.Listener // guarded by mu
}

// New builds a server answering the routes of every router.
func New(cfg Config, routers ...Router) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.base, s.cancel = context.WithCancel(context.Background())
	for _, rt := range routers {
		for _, r := range rt.Routes() {
			s.handle(r)
		}
	}
	s.registerNotImplemented()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, notFoundRoute(r))
	})
	return s
}

func (s *Server) handle(rt Route) {
	h := rt.Handler
	s.mux.HandleFunc(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		start := time.Now()
		defer func() {
			s.cfg.Logger.DebugContext(ctx, "request", "method", r.Method, "path", r.URL.Path, "duration", time.Since(start))
		}()
		if err := h(ctx, w, r); err != nil {
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return // the client went away; nobody to tell
			}
			if statusOf(err) >= 500 {
				s.cfg.Logger.ErrorContext(ctx, "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
			}
			WriteError(w, r, err)
		}
	})
}

var versionPrefix = regexp.MustCompile(`^/v(\d+\.\d+)(/.*)$`)

// ServeHTTP strips a /v1.NN prefix, checks the version and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	version := MaxAPIVersion
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		version = m[1]
		r.URL.Path = m[2]
		r.URL.RawPath = ""
	}
	h := w.Header()
	h.Set("Api-Version", MaxAPIVersion)
	h.Set("Ostype", "linux")
	h.Set("Docker-Experimental", "false")
	if s.cfg.ServerHeader != "" {
		h.Set("Server", s.cfg.ServerHeader)
	}
	if VersionLess(MaxAPIVersion, version) {
		WriteError(w, r, clientVersionError("client version %s is too new. Maximum supported API version is %s", version, MaxAPIVersion))
		return
	}
	if VersionLess(version, MinAPIVersion) {
		WriteError(w, r, clientVersionError("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, MinAPIVersion))
		return
	}
	r = r.WithContext(withVersion(r.Context(), version))
	s.mux.ServeHTTP(w, r)
}

// Serve accepts connections on every listener until Shutdown. It returns the
// first error that is not a normal close.
func (s *Server) Serve(listeners ...net.Listener) error {
	errc := make(chan error, len(listeners))
	s.mu.Lock()
	for _, l := range listeners {
		srv := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second,
			BaseContext: func(net.Listener) context.Context { return s.base }}
		s.servers = append(s.servers, srv)
		s.listeners = append(s.listeners, l)
		go func(l net.Listener) { errc <- srv.Serve(l) }(l)
	}
	s.mu.Unlock()
	var first error
	for range listeners {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
		}
	}
	return first
}

// Shutdown stops accepting connections and waits for requests in flight
// until ctx ends; hijacked streams are left to their owners.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	var first error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// registerNotImplemented answers 501 on the Engine API routes that no
// router serves yet, so clients learn the feature is missing rather than
// that the path is wrong.
func (s *Server) registerNotImplemented() {
	for _, kr := range knownRoutes {
		method, path := kr[0], kr[1]
		// A request to the route, each wildcard filled in: does a router
		// serve it already (some serve whole subtrees)?
		req := &http.Request{Method: method, Host: "localhost", URL: &url.URL{Path: fillWildcards(path)}}
		if _, pattern := s.mux.Handler(req); pattern != "" {
			continue
		}
		s.mux.HandleFunc(method+" "+path, func(w http.ResponseWriter, r *http.Request) {
			WriteError(w, r, errdefs.NotImplemented(fmt.Errorf("%s %s is not implemented in berth yet", method, path)))
		})
	}
}

// fillWildcards puts "x" for each {wildcard} of a route's path.
func fillWildcards(path string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(path, '{')
		j := strings.IndexByte(path[max(i, 0):], '}')
		if i < 0 || j < 0 {
			return b.String() + path
		}
		b.WriteString(path[:i])
		b.WriteByte('x')
		path = path[i+j+1:]
	}
}

func notFoundRoute(r *http.Request) error {
	return routeNotFound{path: strings.TrimSpace(r.URL.Path)}
}

type routeNotFound struct{ path string }

func (e routeNotFound) Error() string { return "page not found" }
