// Package volume serves the Engine API's volume routes. Until the volume
// service lands (its own issue) there are no volumes: lists are empty and
// lookups answer 404, so that clients probing for a name (`docker inspect
// NAME`) move on as they would on a host without that volume.
package volume

import (
	"context"
	"fmt"
	"net/http"

	"github.com/moby/moby/api/types/volume"

	"berth/internal/api/server"
	"berth/internal/errdefs"
)

// Router holds the volume routes.
type Router struct{}

// NewRouter returns the volume routes.
func NewRouter() *Router { return &Router{} }

// Routes implements server.Router.
func (rt *Router) Routes() []server.Route {
	return []server.Route{
		{Method: "GET", Path: "/volumes", Handler: rt.list},
		{Method: "GET", Path: "/volumes/{name}", Handler: rt.inspect},
	}
}

func (rt *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return server.WriteJSON(w, http.StatusOK, volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}})
}

func (rt *Router) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return errdefs.NotFound(fmt.Errorf("get %s: no such volume", r.PathValue("name")))
}
