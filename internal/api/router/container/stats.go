package container

import "berth/internal/api/server"

// statsRoutes serve GET /containers/{id}/stats.
func (rt *Router) statsRoutes() []server.Route { return nil }
