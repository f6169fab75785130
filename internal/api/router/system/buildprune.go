package system

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/build"

	"berth/internal/api/server"
)

// buildPrune answers POST /build/prune. berth has no builder yet, so
// there is never any build cache to remove.
func (rt *Router) buildPrune(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return server.WriteJSON(w, http.StatusOK, build.CachePruneReport{CachesDeleted: []string{}})
}
