package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	registrytypes "github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
	"berth/internal/registry"
)

// startBerthRegistry serves berth-registry (internal/registry) in this
// process on a random loopback port, with filesystem storage in a
// temporary directory and extra appended to its configuration (an auth
// section). It returns HOST:PORT.
func startBerthRegistry(t *testing.T, extra string) string {
	t.Helper()
	cfgText := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n%s", t.TempDir(), extra)
	cfg, err := registry.ParseConfig(strings.NewReader(cfgText))
	if err != nil {
		t.Fatalf("registry config: %v\n%s", err, cfgText)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := registry.New(ctx, cfg, registry.Options{})
	if err != nil {
		cancel()
		t.Fatalf("registry: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registry: %v", err)
		}
	})
	return ln.Addr().String()
}

// seedRepo puts a one-layer image into repo of an open registry over
// plain HTTP, so that the catalogue lists it.
func seedRepo(t *testing.T, host, repo string) {
	t.Helper()
	put := func(method, u string, body []byte, ctype string) *http.Response {
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %s %s", method, u, resp.Status, b)
		}
		return resp
	}
	base := "http://" + host + "/v2/" + repo
	blob := func(data []byte) ocispec.Descriptor {
		resp := put(http.MethodPost, base+"/blobs/uploads/", nil, "")
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		loc = (&url.URL{Scheme: "http", Host: host}).ResolveReference(loc)
		q := loc.Query()
		q.Set("digest", digest.FromBytes(data).String())
		loc.RawQuery = q.Encode()
		put(http.MethodPut, loc.String(), data, "application/octet-stream")
		return ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	}
	cfg := blob([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	layer := blob(gzipped(t, tarOf(t)))
	layer.MediaType = ocispec.MediaTypeImageLayerGzip
	m, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	put(http.MethodPut, base+"/manifests/latest", m, ocispec.MediaTypeImageManifest)
}

func names(rs []registrytypes.SearchResult) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// TestSearchBerthRegistry searches berth-registry's catalogue through the
// v1 search API, with limits and filters, and checks Docker's errors.
func TestSearchBerthRegistry(t *testing.T) {
	host := startBerthRegistry(t, "")
	for _, repo := range []string{"myapp", "team/myapp-api", "team/web"} {
		seedRepo(t, host, repo)
	}
	s := &Service{}
	tests := []struct {
		name    string
		o       SearchOptions
		want    []string
		wantErr string
		invalid bool
	}{
		{name: "substring", o: SearchOptions{Term: host + "/myapp"}, want: []string{"myapp", "team/myapp-api"}},
		{name: "namespace", o: SearchOptions{Term: host + "/team/"}, want: []string{"team/myapp-api", "team/web"}},
		{name: "limit", o: SearchOptions{Term: host + "/a", Limit: 1}, want: []string{"myapp"}},
		{name: "no match", o: SearchOptions{Term: host + "/nothing"}, want: []string{}},
		{name: "is-official=false", o: SearchOptions{Term: host + "/web", Filters: filters.Args{"is-official": {"false"}}}, want: []string{"team/web"}},
		{name: "is-official=true", o: SearchOptions{Term: host + "/web", Filters: filters.Args{"is-official": {"true"}}}, want: []string{}},
		{name: "is-automated=0", o: SearchOptions{Term: host + "/web", Filters: filters.Args{"is-automated": {"0"}}}, want: []string{"team/web"}},
		{name: "stars=1", o: SearchOptions{Term: host + "/web", Filters: filters.Args{"stars": {"1"}}}, want: []string{}},
		{name: "unknown filter", o: SearchOptions{Term: host + "/web", Filters: filters.Args{"label": {"a"}}}, wantErr: "invalid filter 'label'", invalid: true},
		{name: "bad bool", o: SearchOptions{Term: host + "/web", Filters: filters.Args{"is-official": {"maybe"}}}, wantErr: "invalid filter 'is-official=maybe'", invalid: true},
		{name: "conflicting bool", o: SearchOptions{Term: host + "/web", Filters: filters.Args{"is-official": {"false", "true"}}}, wantErr: "invalid filter 'is-official=false,true'", invalid: true},
		{name: "bad stars", o: SearchOptions{Term: host + "/web", Filters: filters.Args{"stars": {"x"}}}, wantErr: `invalid filter 'stars=x': strconv.Atoi: parsing "x": invalid syntax`, invalid: true},
		{name: "limit too big", o: SearchOptions{Term: host + "/web", Limit: 101}, wantErr: "limit 101 is outside the range of [1, 100]", invalid: true},
		{name: "scheme", o: SearchOptions{Term: "http://" + host + "/web"}, wantErr: "invalid repository name: repository name (http://" + host + "/web) should not have a scheme", invalid: true},
		{name: "hyphen", o: SearchOptions{Term: "-bad.example/web"}, wantErr: "invalid index name (-bad.example). Cannot begin or end with a hyphen", invalid: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Search(context.Background(), tc.o)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || errdefs.IsInvalid(err) != tc.invalid {
					t.Fatalf("err = %v, want %q (invalid %v)", err, tc.wantErr, tc.invalid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res == nil || !slices.Equal(names(res), tc.want) {
				t.Fatalf("results %v (%#v), want %v", names(res), res, tc.want)
			}
			for _, r := range res {
				if r.IsOfficial || r.IsAutomated || r.StarCount != 0 {
					t.Errorf("result %+v has Docker Hub fields", r)
				}
			}
		})
	}
}

// TestSearchFilters runs the filters over what a Hub-like v1 search
// answers (stars, official, automated), and checks the request it gets.
func TestSearchFilters(t *testing.T) {
	var gotQuery url.Values
	var gotHeader http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/_ping":
			w.Header().Set("X-Docker-Registry-Standalone", "true")
		case "/v1/search":
			gotQuery, gotHeader = r.URL.Query(), r.Header.Clone()
			_ = json.NewEncoder(w).Encode(registrytypes.SearchResults{Query: r.URL.Query().Get("q"), NumResults: 3, Results: []registrytypes.SearchResult{
				{Name: "lib/app", StarCount: 50, IsOfficial: true, Description: "The app"},
				{Name: "someone/app", StarCount: 7, IsAutomated: true},
				{Name: "other/app", StarCount: 0},
			}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	s := &Service{}
	tests := []struct {
		f    filters.Args
		want []string
	}{
		{nil, []string{"lib/app", "someone/app", "other/app"}},
		{filters.Args{"stars": {"5"}}, []string{"lib/app", "someone/app"}},
		{filters.Args{"stars": {"5", "10"}}, []string{"lib/app"}},
		{filters.Args{"is-official": {"true"}}, []string{"lib/app"}},
		{filters.Args{"is-official": {"0"}}, []string{"someone/app", "other/app"}},
		{filters.Args{"is-automated": {"true"}}, []string{"someone/app"}},
		{filters.Args{"is-automated": {"false"}, "stars": {"1"}}, []string{"lib/app"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.f), func(t *testing.T) {
			res, err := s.Search(context.Background(), SearchOptions{Term: host + "/app", Limit: 7, Filters: tc.f, Headers: http.Header{"X-Meta-Test": {"yes"}}})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(res), tc.want) {
				t.Fatalf("results %v, want %v", names(res), tc.want)
			}
			for _, r := range res {
				if r.IsAutomated {
					t.Errorf("%s: is_automated not cleared", r.Name)
				}
			}
		})
	}
	if gotQuery.Get("q") != "app" || gotQuery.Get("n") != "7" {
		t.Errorf("registry got query %v", gotQuery)
	}
	if gotHeader.Get("X-Meta-Test") != "yes" || gotHeader.Get("X-Docker-Token") != "true" {
		t.Errorf("registry got headers %v", gotHeader)
	}
}

// TestSearchRegistryErrors: a registry without v1 search, and one that is
// not there at all.
func TestSearchRegistryErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	s := &Service{}
	_, err := s.Search(context.Background(), SearchOptions{Term: strings.TrimPrefix(srv.URL, "http://") + "/app"})
	if err == nil || err.Error() != "Unexpected status code 404" {
		t.Errorf("registry without search: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err = s.Search(context.Background(), SearchOptions{Term: gone + "/app"})
	if err == nil || !errdefs.IsInvalid(err) || !strings.HasPrefix(err.Error(), `invalid registry endpoint "https://`+gone+`/v1/". HTTPS attempt: failed to ping registry endpoint https://`+gone+`/v1/: `) ||
		!strings.Contains(err.Error(), "HTTP attempt: failed to ping registry endpoint http://"+gone+"/v1/: ") {
		t.Errorf("registry not there: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("failing took %v", d)
	}
}

func TestSplitSearchTerm(t *testing.T) {
	tests := []struct{ term, host, rest string }{
		{"busybox", "", "busybox"},
		{"library/busybox", "", "library/busybox"},
		{"user/repo", "", "user/repo"},
		{"localhost/foo", "localhost", "foo"},
		{"localhost:5000/foo/bar", "localhost:5000", "foo/bar"},
		{"127.0.0.1:5000/foo", "127.0.0.1:5000", "foo"},
		{"registry.example/foo", "registry.example", "foo"},
		{"docker.io/library/busybox", "docker.io", "library/busybox"},
	}
	for _, tc := range tests {
		if h, r := splitSearchTerm(tc.term); h != tc.host || r != tc.rest {
			t.Errorf("splitSearchTerm(%q) = %q, %q; want %q, %q", tc.term, h, r, tc.host, tc.rest)
		}
	}
}
