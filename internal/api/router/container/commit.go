package container

import (
	"context"
	"net/http"

	ctypes "github.com/moby/moby/api/types/container"

	"berth/internal/api/server"
	"berth/internal/container"
)

// processRoutes serve commit, diff (changes), top, pause and unpause.
func (rt *Router) processRoutes() []server.Route {
	return []server.Route{
		{Method: "POST", Path: "/commit", Handler: rt.commit},
		{Method: "GET", Path: "/containers/{id}/changes", Handler: rt.changes},
		{Method: "GET", Path: "/containers/{id}/top", Handler: rt.top},
		{Method: "POST", Path: "/containers/{id}/pause", Handler: rt.pause},
		{Method: "POST", Path: "/containers/{id}/unpause", Handler: rt.unpause},
	}
}

// commit answers POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=
// with an optional container config in the body.
func (rt *Router) commit(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	var cfg *ctypes.Config
	if err := server.ReadJSON(r, &cfg); err != nil {
		return err
	}
	q := r.URL.Query()
	id, err := rt.svc.Commit(ctx, q.Get("container"), container.CommitOptions{
		Repo:    q.Get("repo"),
		Tag:     q.Get("tag"),
		Comment: q.Get("comment"),
		Author:  q.Get("author"),
		Changes: q["changes"],
		Pause:   server.BoolValueOrDefault(r, "pause", true),
		Config:  cfg,
	})
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusCreated, ctypes.CommitResponse{ID: id})
}

func (rt *Router) changes(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	changes, err := rt.svc.Changes(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, changes)
}

func (rt *Router) top(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	top, err := rt.svc.Top(ctx, r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, top)
}

func (rt *Router) pause(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.svc.Pause(ctx, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) unpause(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.svc.Unpause(ctx, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
