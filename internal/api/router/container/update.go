package container

import (
	"context"
	"net/http"

	ctypes "github.com/moby/moby/api/types/container"

	"berth/internal/api/server"
)

// updateRoutes serve POST /containers/{id}/update.
func (rt *Router) updateRoutes() []server.Route {
	return []server.Route{
		{Method: "POST", Path: "/containers/{id}/update", Handler: rt.update},
	}
}

// update changes a container's resources and restart policy; the answer
// carries dockerd's warnings (null when there are none, as dockerd sends).
func (rt *Router) update(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req ctypes.UpdateConfig
	if err := server.ReadJSON(r, &req); err != nil {
		return err
	}
	warnings, err := rt.svc.Update(ctx, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, ctypes.UpdateResponse{Warnings: warnings})
}
