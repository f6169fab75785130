// Package volume serves the Engine API's volume routes: list, create,
// inspect, remove and prune, decoded here and answered by the volume
// service (berth/internal/volume), which owns every rule.
package volume

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/volume"

	"berth/internal/api/filters"
	"berth/internal/api/server"
	volsvc "berth/internal/volume"
)

// Router holds the volume routes.
type Router struct {
	svc *volsvc.Service
}

// NewRouter returns the volume routes over svc.
func NewRouter(svc *volsvc.Service) *Router { return &Router{svc: svc} }

// Routes implements server.Router.
func (rt *Router) Routes() []server.Route {
	return []server.Route{
		{Method: "GET", Path: "/volumes", Handler: rt.list},
		{Method: "POST", Path: "/volumes/create", Handler: rt.create},
		{Method: "POST", Path: "/volumes/prune", Handler: rt.prune},
		{Method: "GET", Path: "/volumes/{name}", Handler: rt.inspect},
		{Method: "DELETE", Path: "/volumes/{name}", Handler: rt.remove},
	}
}

func (rt *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.FormValue("filters"))
	if err != nil {
		return err
	}
	vols, warnings, err := rt.svc.ListWarnings(ctx, f)
	if err != nil {
		return err
	}
	if warnings == nil {
		warnings = []string{}
	}
	out := volume.ListResponse{Volumes: make([]volume.Volume, 0, len(vols)), Warnings: warnings}
	for _, v := range vols {
		out.Volumes = append(out.Volumes, *v)
	}
	return server.WriteJSON(w, http.StatusOK, out)
}

func (rt *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req volume.CreateRequest
	if err := server.ReadJSON(r, &req); err != nil {
		return err
	}
	v, err := rt.svc.Create(ctx, req.Name, req.Driver, req.DriverOpts, req.Labels)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusCreated, v)
}

func (rt *Router) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	v, err := rt.svc.Inspect(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, v)
}

func (rt *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.svc.Remove(ctx, r.PathValue("name"), server.BoolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) prune(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.FormValue("filters"))
	if err != nil {
		return err
	}
	// Before API 1.42 a prune removed every unused volume, named or not.
	if server.VersionLess(server.VersionFromContext(ctx), "1.42") && !f.Has("all") {
		f["all"] = []string{"true"}
	}
	rep, err := rt.svc.Prune(ctx, f)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, rep)
}
