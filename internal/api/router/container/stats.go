package container

import (
	"context"
	"encoding/json"
	"net/http"

	ctypes "github.com/moby/moby/api/types/container"

	"berth/internal/api/server"
	"berth/internal/container"
)

// statsRoutes serve GET /containers/{id}/stats.
func (rt *Router) statsRoutes() []server.Route {
	return []server.Route{
		{Method: "GET", Path: "/containers/{id}/stats", Handler: rt.stats},
	}
}

// stats answers one JSON StatsResponse, or with stream (the default) one
// a second, flushed as it is written. As dockerd does, the status goes out
// with the first response, so a missing container is still a 404; one-shot
// is read from API 1.41 on.
func (rt *Router) stats(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	opts := container.StatsOptions{Stream: server.BoolValueOrDefault(r, "stream", true)}
	if !server.VersionLess(server.VersionFromContext(ctx), "1.41") {
		opts.OneShot = server.BoolValueOrDefault(r, "one-shot", false)
	}
	var enc *json.Encoder
	flusher, _ := w.(http.Flusher)
	err := rt.svc.Stats(ctx, r.PathValue("id"), opts, func(s *ctypes.StatsResponse) error {
		if enc == nil {
			if !opts.Stream {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(http.StatusOK)
			enc = json.NewEncoder(w)
			enc.SetEscapeHTML(false)
		}
		if err := enc.Encode(s); err != nil {
			return err
		}
		if opts.Stream && flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	if err != nil && enc != nil {
		// The status is gone: the client left mid-stream, or a sample
		// failed after the first; there is nobody to tell.
		return nil
	}
	return err
}
