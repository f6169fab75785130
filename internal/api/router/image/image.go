// Package image serves the Engine API's image routes: the local ones
// (/images/…: import, list, inspect, history, tag, remove, prune, save,
// load) and the registry ones (pull, push, POST /auth, GET
// /distribution/{name}/json). It decodes requests, calls the image
// service and encodes its answers.
package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"

	"berth/internal/api/filters"
	"berth/internal/api/server"
	"berth/internal/errdefs"
	"berth/internal/image"
)

// Router holds the image routes.
type Router struct {
	svc *image.Service
}

// NewRouter serves images from svc.
func NewRouter(svc *image.Service) *Router { return &Router{svc: svc} }

// Routes implements server.Router. Image names may contain slashes
// (myrepo/app:1.0), so the per-image routes take the rest of the path and
// split the action off its end.
func (rt *Router) Routes() []server.Route {
	return []server.Route{
		{Method: "POST", Path: "/images/create", Handler: rt.create},
		{Method: "GET", Path: "/images/json", Handler: rt.list},
		{Method: "POST", Path: "/images/load", Handler: rt.load},
		{Method: "GET", Path: "/images/get", Handler: rt.saveMany},
		{Method: "POST", Path: "/images/prune", Handler: rt.prune},
		{Method: "GET", Path: "/images/search", Handler: rt.search},
		{Method: "GET", Path: "/images/{rest...}", Handler: rt.getImage},
		{Method: "POST", Path: "/images/{rest...}", Handler: rt.postImage},
		{Method: "DELETE", Path: "/images/{rest...}", Handler: rt.remove},
		{Method: "POST", Path: "/auth", Handler: rt.login},
		{Method: "GET", Path: "/distribution/{rest...}", Handler: rt.distribution},
	}
}

// queryBool reads a boolean parameter from the URL only, as Docker does,
// never touching a request body that is an archive.
func queryBool(q url.Values, key string) bool {
	s := strings.ToLower(strings.TrimSpace(q.Get(key)))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

// splitAction cuts "name/action" into its two parts when the last path
// element is one of actions.
func splitAction(rest string, actions ...string) (name, action string) {
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return rest, ""
	}
	for _, a := range actions {
		if rest[i+1:] == a {
			return rest[:i], a
		}
	}
	return rest, ""
}

func pageNotFound(r *http.Request) error {
	return errdefs.NotFound(fmt.Errorf("page not found"))
}

func (rt *Router) getImage(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	name, action := splitAction(r.PathValue("rest"), "json", "history", "get")
	if name == "" {
		return pageNotFound(r)
	}
	switch action {
	case "json":
		resp, err := rt.svc.Inspect(ctx, name)
		if err != nil {
			return err
		}
		if server.VersionLess(server.VersionFromContext(ctx), "1.44") {
			return server.WriteJSON(w, http.StatusOK, legacyInspect{InspectResponse: resp, VirtualSize: resp.Size})
		}
		return server.WriteJSON(w, http.StatusOK, resp)
	case "history":
		resp, err := rt.svc.History(ctx, name)
		if err != nil {
			return err
		}
		return server.WriteJSON(w, http.StatusOK, resp)
	case "get":
		return rt.save(ctx, w, []string{name})
	}
	return pageNotFound(r)
}

func (rt *Router) postImage(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	name, action := splitAction(r.PathValue("rest"), "tag", "push")
	if name == "" {
		return pageNotFound(r)
	}
	q := r.URL.Query()
	switch action {
	case "tag":
		if err := rt.svc.Tag(ctx, name, q.Get("repo"), q.Get("tag")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	case "push":
		return rt.push(ctx, w, r, name)
	}
	return pageNotFound(r)
}

func (rt *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("rest")
	if name == "" {
		return pageNotFound(r)
	}
	q := r.URL.Query()
	resp, err := rt.svc.Delete(ctx, name, queryBool(q, "force"), !queryBool(q, "noprune"))
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, resp)
}

func (rt *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := filters.Parse(q.Get("filters"))
	if err != nil {
		return err
	}
	if v := q.Get("filter"); v != "" { // API < 1.41: a reference pattern
		f["reference"] = append(f["reference"], v)
	}
	list, err := rt.svc.List(ctx, image.ListOptions{
		All:        queryBool(q, "all"),
		Filters:    f,
		SharedSize: queryBool(q, "shared-size"),
	})
	if err != nil {
		return err
	}
	if server.VersionLess(server.VersionFromContext(ctx), "1.44") {
		legacy := make([]legacySummary, len(list))
		for i := range list {
			legacy[i] = legacySummary{Summary: &list[i], VirtualSize: list[i].Size}
		}
		return server.WriteJSON(w, http.StatusOK, legacy)
	}
	return server.WriteJSON(w, http.StatusOK, list)
}

func (rt *Router) prune(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	rep, err := rt.svc.Prune(ctx, f)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, rep)
}

// create answers POST /images/create: a pull (fromImage) or an import
// from the request body (fromSrc=-). Importing from a URL is not built
// yet.
func (rt *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("fromImage") != "" {
		return rt.pull(ctx, w, r)
	}
	src := q.Get("fromSrc")
	if src == "" {
		return errdefs.Invalid(errNoSource)
	}
	if src != "-" {
		return errdefs.NotImplemented(fmt.Errorf("importing from a URL (%s) is not supported by berth yet; send the archive in the request body", src))
	}
	id, err := rt.svc.Import(ctx, r.Body, image.ImportOptions{
		Repo:     q.Get("repo"),
		Tag:      q.Get("tag"),
		Message:  q.Get("message"),
		Changes:  q["changes"],
		Platform: q.Get("platform"),
		Source:   src,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(server.FlushWriter{W: w}).Encode(jsonstream.Message{Status: id})
}

// load answers POST /images/load. The archive is read and checked in full
// before anything is sent, so a refused archive gets a proper status.
func (rt *Router) load(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	lines, err := rt.svc.Load(ctx, r.Body)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(server.FlushWriter{W: w})
	for _, l := range lines {
		if err := enc.Encode(jsonstream.Message{Stream: l + "\n"}); err != nil {
			return err
		}
	}
	return nil
}

func (rt *Router) saveMany(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	names := r.URL.Query()["names"]
	if len(names) == 0 {
		return errdefs.Invalid(errors.New("no images given to save"))
	}
	return rt.save(ctx, w, names)
}

func (rt *Router) save(ctx context.Context, w http.ResponseWriter, names []string) error {
	w.Header().Set("Content-Type", "application/x-tar")
	lw := &lazyHeader{w: w}
	err := rt.svc.Save(ctx, names, lw)
	if err != nil && lw.started {
		// Half an archive has gone out; cut the connection so the client
		// sees a broken transfer rather than a short tar.
		panic(http.ErrAbortHandler)
	}
	return err
}

// lazyHeader sends the 200 status with the first byte of the archive, so
// that an error found before (an unknown name) still gets its own status.
type lazyHeader struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyHeader) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

// legacySummary and legacyInspect add the VirtualSize that clients of API
// versions before 1.44 read.
type legacySummary struct {
	*imagetypes.Summary
	VirtualSize int64 `json:"VirtualSize"`
}

type legacyInspect struct {
	*imagetypes.InspectResponse
	VirtualSize int64 `json:"VirtualSize"`
}
