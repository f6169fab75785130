package container

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"

	ctypes "github.com/moby/moby/api/types/container"

	"berth/internal/api/server"
	"berth/internal/container"
	"berth/internal/errdefs"
)

// archiveRoutes serve `docker cp` (the archive API) and `docker export`.
func (rt *Router) archiveRoutes() []server.Route {
	return []server.Route{
		{Method: "HEAD", Path: "/containers/{id}/archive", Handler: rt.statPath},
		{Method: "GET", Path: "/containers/{id}/archive", Handler: rt.archivePath},
		{Method: "PUT", Path: "/containers/{id}/archive", Handler: rt.extractToDir},
		{Method: "GET", Path: "/containers/{id}/export", Handler: rt.export},
	}
}

// archivePathParam is the path query parameter, required as dockerd does.
func archivePathParam(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", errdefs.Invalid(errors.New("path is required"))
	}
	return p, nil
}

// setPathStat puts the stat where clients look for it: base64 of its JSON
// in X-Docker-Container-Path-Stat.
func setPathStat(h http.Header, st ctypes.PathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	h.Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
	return nil
}

func (rt *Router) statPath(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	p, err := archivePathParam(r)
	if err != nil {
		return err
	}
	st, err := rt.svc.StatPath(ctx, r.PathValue("id"), p)
	if err != nil {
		return err
	}
	if err := setPathStat(w.Header(), st); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) archivePath(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	p, err := archivePathParam(r)
	if err != nil {
		return err
	}
	a, err := rt.svc.ArchivePath(ctx, r.PathValue("id"), p)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := setPathStat(w.Header(), a.Stat); err != nil {
		return err
	}
	return streamTar(ctx, w, a)
}

func (rt *Router) extractToDir(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	p, err := archivePathParam(r)
	if err != nil {
		return err
	}
	err = rt.svc.ExtractToDir(ctx, r.PathValue("id"), p, container.ExtractOptions{
		NoOverwriteDirNonDir: server.BoolValue(r, "noOverwriteDirNonDir"),
		CopyUIDGID:           server.BoolValue(r, "copyUIDGID"),
	}, r.Body)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) export(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	a, err := rt.svc.Export(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	defer a.Close()
	return streamTar(ctx, w, a)
}

// streamTar answers 200 and writes the archive. Once the body has started
// an error can no longer change the status: the stream is cut short, which
// the client sees as a truncated tar.
func streamTar(ctx context.Context, w http.ResponseWriter, a *container.Archive) error {
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := a.Stream(w); err != nil && ctx.Err() == nil {
		// net/http closes the connection without ending the chunked
		// body, so the client cannot take the stream for complete.
		panic(http.ErrAbortHandler)
	}
	return nil
}
