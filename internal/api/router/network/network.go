// Package network serves the Engine API's network routes. Until the
// network service lands (its own issue) it answers with the three
// predefined networks every Docker host has: bridge, host and none.
package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/moby/moby/api/types/network"

	"berth/internal/api/server"
	"berth/internal/errdefs"
)

// Router holds the network routes.
type Router struct {
	created time.Time
	nets    []network.Inspect
}

// NewRouter serves the predefined networks; seed makes their IDs stable
// per daemon.
func NewRouter(seed string, created time.Time) *Router {
	rt := &Router{created: created}
	for _, n := range []struct{ name, driver string }{{"bridge", "bridge"}, {"host", "host"}, {"none", "null"}} {
		sum := sha256.Sum256([]byte(seed + "/" + n.name))
		var ni network.Inspect
		ni.Name = n.name
		ni.ID = hex.EncodeToString(sum[:])
		ni.Driver = n.driver
		ni.Scope = "local"
		ni.Created = created
		ni.Options = map[string]string{}
		ni.Labels = map[string]string{}
		ni.IPAM = network.IPAM{Driver: "default", Config: []network.IPAMConfig{}}
		ni.Containers = map[string]network.EndpointResource{}
		rt.nets = append(rt.nets, ni)
	}
	return rt
}

// Routes implements server.Router.
func (rt *Router) Routes() []server.Route {
	return []server.Route{
		{Method: "GET", Path: "/networks", Handler: rt.list},
		{Method: "GET", Path: "/networks/{id}", Handler: rt.inspect},
		{Method: "POST", Path: "/networks/prune", Handler: rt.prune},
	}
}

func (rt *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	out := make([]network.Summary, 0, len(rt.nets))
	for _, n := range rt.nets {
		out = append(out, network.Summary{Network: n.Network})
	}
	return server.WriteJSON(w, http.StatusOK, out)
}

func (rt *Router) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("id")
	for _, n := range rt.nets {
		if n.Name == ref || n.ID == ref || (len(ref) >= 3 && strings.HasPrefix(n.ID, ref)) {
			return server.WriteJSON(w, http.StatusOK, n)
		}
	}
	return errdefs.NotFound(fmt.Errorf("network %s not found", ref))
}

// prune answers POST /networks/prune: the predefined networks are never
// removed, and there are no others yet.
func (rt *Router) prune(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return server.WriteJSON(w, http.StatusOK, network.PruneReport{NetworksDeleted: []string{}})
}
