// Package container serves the Engine API's container and exec routes:
// decode the request, call the container service, encode the answer.
package container

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"berth/internal/api/filters"
	"berth/internal/api/server"
	"berth/internal/container"
	"berth/internal/errdefs"
)

// Router holds the container routes.
type Router struct {
	svc *container.Service
}

// NewRouter serves containers from svc.
func NewRouter(svc *container.Service) *Router { return &Router{svc: svc} }

// Routes implements server.Router.
func (rt *Router) Routes() []server.Route {
	routes := append(rt.coreRoutes(), rt.fileRoutes()...)
	routes = append(routes, rt.statsRoutes()...)
	return append(routes, rt.updateRoutes()...)
}

// coreRoutes are the lifecycle, logs, attach and exec routes.
func (rt *Router) coreRoutes() []server.Route {
	return []server.Route{
		{Method: "POST", Path: "/containers/create", Handler: rt.create},
		{Method: "GET", Path: "/containers/json", Handler: rt.list},
		{Method: "GET", Path: "/containers/{id}/json", Handler: rt.inspect},
		{Method: "POST", Path: "/containers/{id}/start", Handler: rt.start},
		{Method: "POST", Path: "/containers/{id}/stop", Handler: rt.stop},
		{Method: "POST", Path: "/containers/{id}/restart", Handler: rt.restart},
		{Method: "POST", Path: "/containers/{id}/kill", Handler: rt.kill},
		{Method: "DELETE", Path: "/containers/{id}", Handler: rt.remove},
		{Method: "POST", Path: "/containers/{id}/wait", Handler: rt.wait},
		{Method: "POST", Path: "/containers/{id}/attach", Handler: rt.attach},
		{Method: "GET", Path: "/containers/{id}/logs", Handler: rt.logs},
		{Method: "POST", Path: "/containers/{id}/resize", Handler: rt.resize},
		{Method: "POST", Path: "/containers/{id}/rename", Handler: rt.rename},
		{Method: "POST", Path: "/containers/prune", Handler: rt.prune},
		{Method: "POST", Path: "/containers/{id}/exec", Handler: rt.execCreate},
		{Method: "POST", Path: "/exec/{id}/start", Handler: rt.execStart},
		{Method: "GET", Path: "/exec/{id}/json", Handler: rt.execInspect},
		{Method: "POST", Path: "/exec/{id}/resize", Handler: rt.execResize},
	}
}

func (rt *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req ctypes.CreateRequest
	if err := server.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Config == nil {
		return errdefs.Invalid(errors.New("config cannot be empty in order to create a container"))
	}
	c, warnings, err := rt.svc.Create(ctx, container.CreateRequest{
		Name:       r.URL.Query().Get("name"),
		Config:     req.Config,
		HostConfig: req.HostConfig,
		Networking: req.NetworkingConfig,
	})
	if err != nil {
		return err
	}
	if warnings == nil {
		warnings = []string{}
	}
	return server.WriteJSON(w, http.StatusCreated, ctypes.CreateResponse{ID: c.ID, Warnings: warnings})
}

func (rt *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	limit, err := server.Int64Value(r, "limit", -1)
	if err != nil {
		return err
	}
	list, err := rt.svc.List(ctx, container.ListOptions{
		All: server.BoolValue(r, "all"), Limit: int(limit), Size: server.BoolValue(r, "size"), Filters: f,
	})
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, list)
}

func (rt *Router) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	resp, err := rt.svc.Inspect(ctx, r.PathValue("id"), server.BoolValue(r, "size"))
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, resp)
}

func (rt *Router) start(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.svc.Start(ctx, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stopParams reads t (seconds) and signal.
func stopParams(r *http.Request) (string, *int, error) {
	var timeout *int
	if v := r.URL.Query().Get("t"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return "", nil, errdefs.Invalid(fmt.Errorf("invalid value for t: %q", v))
		}
		timeout = &n
	}
	return r.URL.Query().Get("signal"), timeout, nil
}

func (rt *Router) stop(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	sig, timeout, err := stopParams(r)
	if err != nil {
		return err
	}
	if err := rt.svc.Stop(ctx, r.PathValue("id"), sig, timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) restart(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	sig, timeout, err := stopParams(r)
	if err != nil {
		return err
	}
	if err := rt.svc.Restart(ctx, r.PathValue("id"), sig, timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) kill(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.svc.Kill(ctx, r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	err := rt.svc.Remove(ctx, r.PathValue("id"), container.RemoveOptions{
		Force: server.BoolValue(r, "force"), Volumes: server.BoolValue(r, "v"), Link: server.BoolValue(r, "link"),
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// wait answers the headers at once, so the client knows the wait is in
// place before it starts the container, then the result when it comes.
func (rt *Router) wait(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	h, err := rt.svc.RegisterWait(r.PathValue("id"), container.WaitCondition(r.URL.Query().Get("condition")))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	code, msg, err := h.Wait(ctx)
	if err != nil {
		return nil // the client left; nobody to answer
	}
	resp := ctypes.WaitResponse{StatusCode: int64(code)}
	// A removed container's start error was already the answer to start.
	if msg != "" && r.URL.Query().Get("condition") != string(container.WaitRemoved) {
		resp.Error = &ctypes.WaitExitError{Message: msg}
	}
	return server.WriteJSONBody(w, resp)
}

func (rt *Router) attach(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	c, err := rt.svc.Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	opts := container.AttachOptions{
		Stdin: server.BoolValue(r, "stdin"), Stdout: server.BoolValue(r, "stdout"), Stderr: server.BoolValue(r, "stderr"),
		Stream: server.BoolValue(r, "stream"), Logs: server.BoolValue(r, "logs"), DetachKeys: r.URL.Query().Get("detachKeys"),
	}
	media := server.MediaMultiplexedStream
	if c.Tty() {
		media = server.MediaRawStream
	}
	conn, rw, err := server.Hijack(w, r, media)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = rt.svc.Attach(ctx, c, opts, server.HijackedStream(conn, rw))
	if err != nil && !errors.Is(err, container.ErrDetached) {
		server.WriteStreamError(conn, err, media == server.MediaMultiplexedStream)
	}
	return nil
}

func (rt *Router) logs(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	opts := container.LogOptions{
		Stdout: server.BoolValue(r, "stdout"), Stderr: server.BoolValue(r, "stderr"),
		Follow: server.BoolValue(r, "follow"), Timestamps: server.BoolValue(r, "timestamps"),
		Details: server.BoolValue(r, "details"), Tail: -1,
	}
	// dockerd reads a tail that is not a number as "all".
	if n, err := strconv.Atoi(q.Get("tail")); err == nil {
		opts.Tail = n
	}
	var err error
	if opts.Since, err = parseTimestamp(q.Get("since")); err != nil {
		return err
	}
	if opts.Until, err = parseTimestamp(q.Get("until")); err != nil {
		return err
	}
	if !opts.Stdout && !opts.Stderr {
		return errdefs.Invalid(errors.New("Bad parameters: you must choose at least one stream"))
	}
	c, err := rt.svc.Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := rt.svc.CheckLogs(c); err != nil {
		return err
	}
	media := server.MediaMultiplexedStream
	if c.Tty() {
		media = server.MediaRawStream
	}
	w.Header().Set("Content-Type", media)
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	// The service buffers and flushes w (an http.Flusher) when it has
	// caught up with the log.
	if err := rt.svc.Logs(ctx, c.ID, opts, w); err != nil && ctx.Err() == nil {
		// Headers are gone: the error can only travel in-band.
		fmt.Fprintf(w, "Error grabbing logs: %v\n", err)
	}
	return nil
}

// parseTimestamp reads Docker's "seconds[.nanoseconds]" form; "" and "0"
// mean unset.
func parseTimestamp(v string) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	secStr, nsStr, _ := strings.Cut(v, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil {
		return time.Time{}, errdefs.Invalid(fmt.Errorf("invalid timestamp %q", v))
	}
	var ns int64
	if nsStr != "" {
		nsStr = (nsStr + "000000000")[:9]
		if ns, err = strconv.ParseInt(nsStr, 10, 64); err != nil {
			return time.Time{}, errdefs.Invalid(fmt.Errorf("invalid timestamp %q", v))
		}
	}
	return time.Unix(sec, ns), nil
}

func sizeParams(r *http.Request) (uint16, uint16, error) {
	h, err1 := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	wd, err2 := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, errdefs.Invalid(errors.New("invalid resize parameters: h and w must be integers"))
	}
	return uint16(h), uint16(wd), nil
}

func (rt *Router) resize(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	h, wd, err := sizeParams(r)
	if err != nil {
		return err
	}
	if err := rt.svc.Resize(ctx, r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) rename(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.svc.Rename(ctx, r.PathValue("id"), r.URL.Query().Get("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
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
