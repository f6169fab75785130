package registry

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"berth/internal/notary"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/health"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/listener"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/docker/go-metrics"
	gorhandlers "github.com/gorilla/handlers"
)

// Options are what a Server takes besides the configuration.
type Options struct {
	// AccessLog receives one Combined Log Format line per request, as
	// `registry serve` writes to stdout; nil (or log.accesslog.disabled in
	// the configuration) writes none.
	AccessLog io.Writer
	// Logger receives berth-registry's own messages; distribution's
	// packages log through logrus (see ConfigureLogging).
	Logger *slog.Logger
}

// Server is one registry: distribution's application behind the handlers
// `registry serve` puts around it, plus the v1 search API.
type Server struct {
	cfg     *configuration.Configuration
	app     *handlers.App
	health  *health.Registry
	tls     *tls.Config
	handler http.Handler
	log     *slog.Logger
	trust   *notary.Server
}

// New builds the registry application for cfg: it opens the storage
// driver, sets up the access controller and starts the upload purger and
// health checks (stopped by ctx or by Serve returning). TLS files named in
// cfg are read now, so a bad certificate fails here.
func New(ctx context.Context, cfg *configuration.Configuration, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tlsConf, err := tlsConfig(cfg.HTTP)
	if err != nil {
		return nil, err
	}
	app, err := newApp(ctx, cfg)
	if err != nil {
		return nil, err
	}
	hr := health.NewRegistry()
	app.RegisterHealthChecks(hr)

	// The referrers index gets its own driver over the same storage.
	driver, err := factory.Create(ctx, cfg.Storage.Type(), cfg.Storage.Parameters())
	if err != nil {
		app.Shutdown() //nolint:errcheck // already failing
		return nil, fmt.Errorf("opening %s storage: %w", cfg.Storage.Type(), err)
	}

	trust, err := newTrustServer(cfg)
	if err != nil {
		app.Shutdown() //nolint:errcheck // already failing
		return nil, err
	}
	s := &Server{cfg: cfg, app: app, health: hr, tls: tlsConf, log: log, trust: trust}
	base := strings.TrimSuffix(cfg.HTTP.Prefix, "/")
	var h http.Handler = &altDigests{base: base, driver: driver, next: app, log: log}
	h = &singlePost{base: base, next: h}
	h = &referrers{base: base, driver: driver, next: h, log: log}
	h = trustRoutes(base, trust, h)
	h = SearchHandler(cfg.HTTP.Prefix, cfg.HTTP.Headers, h)
	h = alive("/", h)
	h = s.healthGate(h)
	h = recoverPanics(log, h)
	if opts.AccessLog != nil && !cfg.Log.AccessLog.Disabled {
		h = gorhandlers.CombinedLoggingHandler(opts.AccessLog, h)
	}
	s.handler = h
	return s, nil
}

// newApp is handlers.NewApp, which panics on a bad configuration (an
// unknown storage driver, a missing htpasswd realm…); the panic becomes an
// error here.
func newApp(ctx context.Context, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if r := recover(); r != nil {
			app, err = nil, fmt.Errorf("configuring registry: %v", r)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

// Handler is the registry's whole HTTP handler, for tests and for callers
// that run their own server.
func (s *Server) Handler() http.Handler { return s.handler }

// TLS reports whether the server speaks TLS (http.tls is configured).
func (s *Server) TLS() bool { return s.tls != nil }

// ListenAndServe listens on http.addr (tcp, or unix when http.net says so,
// or a systemd socket) and serves until ctx is done; with http.debug.addr it
// also serves /debug/health (and Prometheus metrics when enabled) there.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := listener.NewListener(s.cfg.HTTP.Net, s.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.HTTP.Addr, err)
	}
	if addr := s.cfg.HTTP.Debug.Addr; addr != "" {
		dln, err := net.Listen("tcp", addr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening on debug address %s: %w", addr, err)
		}
		dsrv := &http.Server{Handler: s.debugHandler(), ReadHeaderTimeout: time.Minute}
		go func() {
			if err := dsrv.Serve(dln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("debug server stopped", "error", err)
			}
		}()
		defer dsrv.Close()
		s.log.Info("debug server listening", "addr", dln.Addr().String())
	}
	return s.Serve(ctx, ln)
}

// Serve serves the registry on ln (wrapping it in TLS when configured)
// until ctx is done, then stops: gracefully within http.draintimeout when
// that is set, at once otherwise. It closes ln and shuts the application
// down before returning.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.app.Shutdown() //nolint:errcheck // only a proxy's scheduler can fail, and it is stopping anyway
	defer s.trust.Close()
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if s.cfg.HTTP.H2C.Enabled {
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetHTTP2(!s.cfg.HTTP.HTTP2.Disabled)
		p.SetUnencryptedHTTP2(true)
		srv.Protocols = p
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "tls", s.tls != nil)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving registry: %w", err)
	case <-ctx.Done():
	}
	if d := s.cfg.HTTP.DrainTimeout; d > 0 {
		s.log.Info("stopping server gracefully", "drain", d.String())
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	} else {
		srv.Close()
	}
	<-errc
	return nil
}

// healthGate answers 503 while a health check fails, as distribution's
// health.Handler does for its process-wide checks; each Server has its own.
func (s *Server) healthGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if checks := s.health.CheckStatus(r.Context()); len(checks) != 0 {
			_ = errcode.ServeJSON(w, errcode.ErrorCodeUnavailable.WithDetail("health check failed: please see /debug/health"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/health", func(w http.ResponseWriter, r *http.Request) {
		checks := s.health.CheckStatus(r.Context())
		status := http.StatusOK
		if len(checks) != 0 {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(checks)
	})
	if p := s.cfg.HTTP.Debug.Prometheus; p.Enabled {
		path := p.Path
		if path == "" {
			path = "/metrics"
		}
		mux.Handle(path, metrics.Handler())
	}
	return mux
}

// alive answers path with 200, the liveness probe registry:2 users point
// their health checks at.
func alive(path string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics logs a handler's panic and answers 500 instead of dropping
// the connection without a word.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				http.Error(w, "internal server error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
