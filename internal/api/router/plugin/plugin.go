// Package plugin serves the Engine API's plugin routes. berth has no
// managed plugins: the list is empty and a lookup is 404, which is what
// clients probing for a name (`docker inspect NAME`) expect.
package plugin

import (
	"context"
	"fmt"
	"net/http"

	"berth/internal/api/server"
	"berth/internal/errdefs"
)

// Router holds the plugin routes.
type Router struct{}

// NewRouter returns the plugin routes.
func NewRouter() *Router { return &Router{} }

// Routes implements server.Router.
func (rt *Router) Routes() []server.Route {
	return []server.Route{
		{Method: "GET", Path: "/plugins", Handler: rt.list},
		{Method: "GET", Path: "/plugins/{name}/json", Handler: rt.inspect},
	}
}

func (rt *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return server.WriteJSON(w, http.StatusOK, []struct{}{})
}

func (rt *Router) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return errdefs.NotFound(fmt.Errorf("plugin %q not found", r.PathValue("name")))
}
