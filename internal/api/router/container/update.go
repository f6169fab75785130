package container

import "berth/internal/api/server"

// updateRoutes serve POST /containers/{id}/update.
func (rt *Router) updateRoutes() []server.Route { return nil }
