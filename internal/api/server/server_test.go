package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"berth/internal/errdefs"
)

type fakeRouter struct{}

func (fakeRouter) Routes() []Route {
	return []Route{
		{Method: "GET", Path: "/containers/{id}/json", Handler: func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
			switch r.PathValue("id") {
			case "missing":
				return errdefs.NotFound(errors.New("No such container: missing"))
			case "busy":
				return errdefs.Conflict(errors.New("busy"))
			case "bad":
				return errdefs.Invalid(errors.New("bad"))
			case "boom":
				return errors.New("boom")
			}
			return WriteJSON(w, http.StatusOK, map[string]string{"version": VersionFromContext(ctx)})
		}},
	}
}

func TestServeHTTP(t *testing.T) {
	srv := New(Config{}, fakeRouter{})
	cases := []struct {
		doc     string
		method  string
		path    string
		status  int
		message string
		version string
	}{
		{doc: "bare path gets the newest version", method: "GET", path: "/containers/a/json", status: 200, version: MaxAPIVersion},
		{doc: "versioned path", method: "GET", path: "/v1.41/containers/a/json", status: 200, version: "1.41"},
		{doc: "too new", method: "GET", path: "/v1.99/containers/a/json", status: 400, message: "client version 1.99 is too new. Maximum supported API version is " + MaxAPIVersion},
		{doc: "too old", method: "GET", path: "/v1.12/containers/a/json", status: 400},
		{doc: "not found class", method: "GET", path: "/containers/missing/json", status: 404, message: "No such container: missing"},
		{doc: "conflict class", method: "GET", path: "/containers/busy/json", status: 409, message: "busy"},
		{doc: "invalid class", method: "GET", path: "/containers/bad/json", status: 400, message: "bad"},
		{doc: "unclassified is 500", method: "GET", path: "/containers/boom/json", status: 500, message: "boom"},
		{doc: "known route not built yet", method: "POST", path: "/containers/x/pause", status: 501},
		{doc: "unknown route", method: "GET", path: "/nothing/here", status: 404, message: "page not found"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d (body %s)", rec.Code, tc.status, rec.Body)
			}
			if rec.Header().Get("Api-Version") != MaxAPIVersion {
				t.Errorf("Api-Version header %q", rec.Header().Get("Api-Version"))
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %q", rec.Body)
			}
			if tc.message != "" && body["message"] != tc.message {
				t.Errorf("message %q, want %q", body["message"], tc.message)
			}
			if tc.version != "" && body["version"] != tc.version {
				t.Errorf("version %q, want %q", body["version"], tc.version)
			}
		})
	}
}

func TestFillWildcards(t *testing.T) {
	for in, want := range map[string]string{
		"/containers/json":            "/containers/json",
		"/containers/{id}/archive":    "/containers/x/archive",
		"/exec/{id}/start":            "/exec/x/start",
		"/plugins/{name}/set/{other}": "/plugins/x/set/x",
		"/images/{name...}":           "/images/x",
		"/odd{":                       "/odd{",
	} {
		if got := fillWildcards(in); got != want {
			t.Errorf("fillWildcards(%q) = %q, want %q", in, got, want)
		}
	}
}
