// Package system serves the Engine API's system routes: /_ping, /version,
// /info and /events.
package system

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/system"

	"berth/internal/api/filters"
	"berth/internal/api/server"
	"berth/internal/events"
)

// Backend is what the system routes need from the daemon.
type Backend interface {
	Info(ctx context.Context) (*system.Info, error)
	Version(ctx context.Context) system.VersionResponse
}

// Router holds the system routes.
type Router struct {
	b      Backend
	events *events.Bus
}

// NewRouter serves system information from b and events from bus.
func NewRouter(b Backend, bus *events.Bus) *Router { return &Router{b: b, events: bus} }

// Routes implements server.Router.
func (rt *Router) Routes() []server.Route {
	return []server.Route{
		{Method: "GET", Path: "/_ping", Handler: rt.ping},
		{Method: "HEAD", Path: "/_ping", Handler: rt.ping},
		{Method: "GET", Path: "/version", Handler: rt.version},
		{Method: "GET", Path: "/info", Handler: rt.info},
		{Method: "GET", Path: "/events", Handler: rt.eventsStream},
		{Method: "GET", Path: "/system/df", Handler: rt.diskUsage},
		{Method: "POST", Path: "/build/prune", Handler: rt.buildPrune},
	}
}

func (rt *Router) ping(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Builder-Version", "1")
	h.Set("Swarm", "inactive")
	if r.Method == http.MethodHead {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", "0")
		return nil
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	_, err := w.Write([]byte("OK"))
	return err
}

func (rt *Router) version(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return server.WriteJSON(w, http.StatusOK, rt.b.Version(ctx))
}

func (rt *Router) info(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	info, err := rt.b.Info(ctx)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, info)
}

// eventsStream replays events since `since`, then streams new ones until
// `until` passes or the client leaves.
func (rt *Router) eventsStream(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := filters.Parse(q.Get("filters"))
	if err != nil {
		return err
	}
	if err := f.Validate("type", "event", "container", "image", "label", "network", "volume", "daemon", "plugin", "service", "node", "secret", "config", "scope"); err != nil {
		return err
	}
	var since, until time.Time
	if v := q.Get("since"); v != "" {
		if since, err = filters.ParseTime(v); err != nil {
			return err
		}
	}
	if v := q.Get("until"); v != "" {
		if until, err = filters.ParseTime(v); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	past, live := rt.events.Subscribe(ctx, since)

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := server.FlushWriter{W: w}
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	enc := json.NewEncoder(out)
	for _, m := range past {
		if !until.IsZero() && m.TimeNano > until.UnixNano() {
			continue
		}
		if events.Match(f, m) {
			if err := enc.Encode(m); err != nil {
				return nil
			}
		}
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case m, ok := <-live:
			if !ok {
				return nil
			}
			if events.Match(f, m) {
				if err := enc.Encode(m); err != nil {
					return nil
				}
			}
		case <-deadline:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
