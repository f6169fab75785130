package container

import (
	"context"
	"errors"
	"net/http"

	ctypes "github.com/moby/moby/api/types/container"

	"berth/internal/api/server"
	"berth/internal/container"
)

func (rt *Router) execCreate(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req ctypes.ExecCreateRequest
	if err := server.ReadJSON(r, &req); err != nil {
		return err
	}
	id, err := rt.svc.ExecCreate(ctx, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusCreated, ctypes.ExecCreateResponse{ID: id})
}

func (rt *Router) execStart(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req ctypes.ExecStartRequest
	if err := server.ReadJSON(r, &req); err != nil {
		return err
	}
	e, err := rt.svc.ExecGet(r.PathValue("id"))
	if err != nil {
		return err
	}
	if req.Detach {
		if err := rt.svc.ExecStart(ctx, e, true, nil); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	media := server.MediaMultiplexedStream
	if e.Config.Tty || req.Tty {
		media = server.MediaRawStream
	}
	conn, rw, err := server.Hijack(w, r, media)
	if err != nil {
		return err
	}
	defer conn.Close()
	if req.ConsoleSize != nil && e.Config.ConsoleSize == nil {
		e.Config.ConsoleSize = req.ConsoleSize
	}
	err = rt.svc.ExecStart(ctx, e, false, server.HijackedStream(conn, rw))
	if err != nil && !errors.Is(err, container.ErrDetached) {
		server.WriteStreamError(conn, err, media == server.MediaMultiplexedStream)
	}
	return nil
}

func (rt *Router) execInspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	e, err := rt.svc.ExecGet(r.PathValue("id"))
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, rt.svc.ExecInspect(e))
}

func (rt *Router) execResize(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	h, wd, err := sizeParams(r)
	if err != nil {
		return err
	}
	e, err := rt.svc.ExecGet(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := rt.svc.ExecResize(ctx, e, h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
