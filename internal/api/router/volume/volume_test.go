package volume

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/volume"
	bolt "go.etcd.io/bbolt"

	"berth/internal/api/server"
	volsvc "berth/internal/volume"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "berth.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := volsvc.New(t.Context(), volsvc.Config{DB: db, Root: filepath.Join(dir, "volumes")})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(server.New(server.Config{Logger: slog.New(slog.DiscardHandler)}, NewRouter(svc)))
	t.Cleanup(ts.Close)
	return ts
}

func call(t *testing.T, ts *httptest.Server, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

func TestRoutes(t *testing.T) {
	ts := newServer(t)
	var v volume.Volume
	if code := call(t, ts, "POST", "/v1.47/volumes/create", `{"Name":"web","Labels":{"app":"web"}}`, &v); code != 201 || v.Name != "web" || v.Scope != "local" {
		t.Fatalf("create: %d %+v", code, v)
	}
	var anon volume.Volume
	if code := call(t, ts, "POST", "/volumes/create", `{}`, &anon); code != 201 || len(anon.Name) != 64 {
		t.Fatalf("nameless create: %d %+v", code, anon)
	}
	var msg struct{ Message string }
	cases := []struct {
		doc, method, path, body string
		code                    int
		msg                     string
	}{
		{"bad name", "POST", "/volumes/create", `{"Name":"a/b"}`, 400, `create a/b: "a/b" includes invalid characters`},
		{"bad option", "POST", "/volumes/create", `{"Name":"oo","DriverOpts":{"x":"y"}}`, 400, `create oo: invalid option key: "x"`},
		{"unknown driver", "POST", "/volumes/create", `{"Name":"oo","Driver":"nope"}`, 404, `error looking up volume plugin nope: plugin "nope" not found`},
		{"inspect unknown", "GET", "/volumes/nope", "", 404, "get nope: no such volume"},
		{"remove unknown", "DELETE", "/volumes/nope", "", 404, "get nope: no such volume"},
		{"bad list filter", "GET", "/volumes?filters=" + url.QueryEscape(`{"colour":{"x":true}}`), "", 400, "invalid filter 'colour'"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			msg.Message = ""
			if code := call(t, ts, tc.method, tc.path, tc.body, &msg); code != tc.code || !strings.HasPrefix(msg.Message, tc.msg) {
				t.Fatalf("got %d %q, want %d %q", code, msg.Message, tc.code, tc.msg)
			}
		})
	}

	var list volume.ListResponse
	if code := call(t, ts, "GET", "/volumes?filters="+url.QueryEscape(`{"label":{"app=web":true}}`), "", &list); code != 200 || len(list.Volumes) != 1 || list.Volumes[0].Name != "web" || list.Warnings == nil {
		t.Fatalf("list: %d %+v", code, list)
	}
	var got volume.Volume
	if code := call(t, ts, "GET", "/volumes/web", "", &got); code != 200 || got.Mountpoint != v.Mountpoint {
		t.Fatalf("inspect: %d %+v", code, got)
	}
	// A nameless create through the API is a named volume for prune's sake:
	// API ≥ 1.42 keeps it, an older client's prune takes it.
	var rep volume.PruneReport
	if code := call(t, ts, "POST", "/v1.47/volumes/prune", "", &rep); code != 200 || len(rep.VolumesDeleted) != 0 {
		t.Fatalf("prune 1.47: %d %+v", code, rep)
	}
	if code := call(t, ts, "POST", "/v1.41/volumes/prune?filters="+url.QueryEscape(`{"label":{"app":true}}`), "", &rep); code != 200 || len(rep.VolumesDeleted) != 1 || rep.VolumesDeleted[0] != "web" {
		t.Fatalf("prune 1.41: %d %+v", code, rep)
	}
	if code := call(t, ts, "DELETE", "/volumes/"+anon.Name, "", nil); code != 204 {
		t.Fatalf("remove: %d", code)
	}
	if code := call(t, ts, "DELETE", "/volumes/"+anon.Name+"?force=1", "", nil); code != 204 {
		t.Fatalf("remove -f of a missing volume: %d", code)
	}
	if code := call(t, ts, "GET", "/volumes", "", &list); code != 200 || len(list.Volumes) != 0 {
		t.Fatalf("list at the end: %d %+v", code, list)
	}
}
