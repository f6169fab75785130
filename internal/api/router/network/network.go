// Package network serves the Engine API's network routes: decode, call the
// network service (or the container service for connect and disconnect),
// encode.
package network

import (
	"context"
	"errors"
	"net/http"

	"github.com/moby/moby/api/types/network"

	"berth/internal/api/filters"
	"berth/internal/api/server"
	"berth/internal/errdefs"
)

// Backend is the network service as the routes need it.
type Backend interface {
	Create(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error)
	List(ctx context.Context, f filters.Args) ([]network.Summary, error)
	Inspect(ctx context.Context, ref string) (network.Inspect, error)
	Remove(ctx context.Context, ref string) error
	Prune(ctx context.Context, f filters.Args) (network.PruneReport, error)
}

// Containers joins containers to networks and takes them off again.
type Containers interface {
	ConnectNetwork(ctx context.Context, ref, netRef string, es *network.EndpointSettings) error
	DisconnectNetwork(ctx context.Context, ref, netRef string, force bool) error
}

// Router holds the network routes.
type Router struct {
	nets       Backend
	containers Containers
}

// NewRouter serves the network routes.
func NewRouter(nets Backend, containers Containers) *Router {
	return &Router{nets: nets, containers: containers}
}

// Routes implements server.Router.
func (rt *Router) Routes() []server.Route {
	return []server.Route{
		{Method: "GET", Path: "/networks", Handler: rt.list},
		{Method: "GET", Path: "/networks/{id}", Handler: rt.inspect},
		{Method: "POST", Path: "/networks/create", Handler: rt.create},
		{Method: "POST", Path: "/networks/prune", Handler: rt.prune},
		{Method: "POST", Path: "/networks/{id}/connect", Handler: rt.connect},
		{Method: "POST", Path: "/networks/{id}/disconnect", Handler: rt.disconnect},
		{Method: "DELETE", Path: "/networks/{id}", Handler: rt.remove},
	}
}

func (rt *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	out, err := rt.nets.List(ctx, f)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, out)
}

func (rt *Router) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	out, err := rt.nets.Inspect(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, out)
}

func (rt *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := server.ReadJSON(r, &req); err != nil {
		return err
	}
	out, err := rt.nets.Create(ctx, req)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusCreated, out)
}

func (rt *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.nets.Remove(ctx, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) prune(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	out, err := rt.nets.Prune(ctx, f)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, out)
}

func (rt *Router) connect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req network.ConnectRequest
	if err := server.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Container == "" {
		return errdefs.Invalid(errors.New("container ID is required"))
	}
	if err := rt.containers.ConnectNetwork(ctx, req.Container, r.PathValue("id"), req.EndpointConfig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) disconnect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req network.DisconnectRequest
	if err := server.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := rt.containers.DisconnectNetwork(ctx, req.Container, r.PathValue("id"), req.Force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
