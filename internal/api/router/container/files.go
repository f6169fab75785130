package container

import "berth/internal/api/server"

// fileRoutes are the routes on a container's files and processes: archive
// (cp), export, changes (diff), commit, top, pause and unpause.
func (rt *Router) fileRoutes() []server.Route {
	return append(append([]server.Route(nil), rt.archiveRoutes()...), rt.processRoutes()...)
}
