package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestSearch(t *testing.T) {
	htpasswd := writeHtpasswd(t, "alice", "s3cret")
	reg := startRegistry(t, plainConfig+`auth:
  htpasswd:
    realm: basic-realm
    path: `+htpasswd+"\n")
	for _, repo := range []string{"myapp", "team/myapp-api", "team/web"} {
		reg.pushImage(t, repo, "latest", "alice", "s3cret")
	}

	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"substring", "q=myapp", []string{"myapp", "team/myapp-api"}},
		{"case-insensitive", "q=MYAPP", []string{"myapp", "team/myapp-api"}},
		{"namespace", "q=team/", []string{"team/myapp-api", "team/web"}},
		{"limit", "q=a&n=2", []string{"myapp", "team/myapp-api"}},
		{"empty term lists all", "q=", []string{"myapp", "team/myapp-api", "team/web"}},
		{"no match", "q=nothing", []string{}},
		{"bad limit is the default", "q=web&n=x", []string{"team/web"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := reg.do(t, http.MethodGet, "/v1/search?"+tc.query, nil, nil, "alice", "s3cret")
			if code != http.StatusOK {
				t.Fatalf("search: %d %s", code, body)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var res SearchResults
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			var names []string
			for _, r := range res.Results {
				names = append(names, r.Name)
				if r.IsOfficial || r.IsAutomated || r.StarCount != 0 {
					t.Errorf("result %+v claims Docker Hub fields", r)
				}
			}
			if !slices.Equal(names, tc.want) && !(len(names) == 0 && len(tc.want) == 0) {
				t.Errorf("results %v, want %v", names, tc.want)
			}
			if res.NumResults != len(tc.want) {
				t.Errorf("num_results %d, want %d", res.NumResults, len(tc.want))
			}
			q, _ := url.ParseQuery(tc.query)
			if res.Query != q.Get("q") {
				t.Errorf("query %q, want %q", res.Query, q.Get("q"))
			}
			// The wire shape the Docker daemon decodes.
			for _, key := range []string{`"num_results"`, `"query"`, `"results"`} {
				if !strings.Contains(string(body), key) {
					t.Errorf("answer %s lacks %s", body, key)
				}
			}
		})
	}

	// Without credentials the registry's own challenge comes back.
	code, h, _ := reg.do(t, http.MethodGet, "/v1/search?q=myapp", nil, nil, "", "")
	if code != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "basic-realm") {
		t.Errorf("anonymous search: %d %q, want 401 with the basic challenge", code, h.Get("WWW-Authenticate"))
	}
	if code, _, _ := reg.do(t, http.MethodPost, "/v1/search?q=myapp", nil, nil, "alice", "s3cret"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/search: %d, want 405", code)
	}
	if code, h, _ := reg.do(t, http.MethodGet, "/v1/_ping", nil, nil, "", ""); code != http.StatusOK || h.Get("X-Docker-Registry-Standalone") != "true" {
		t.Errorf("/v1/_ping: %d", code)
	}
}

// A catalogue longer than one page is read page by page through the Link
// header.
func TestSearchPagesThroughCatalog(t *testing.T) {
	const total = catalogPageSize + 5
	var requests int
	catalog := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		if r.URL.Path != "/v2/_catalog" {
			t.Errorf("unexpected request %s", r.URL)
		}
		start := 0
		if last := r.URL.Query().Get("last"); last != "" {
			fmt.Sscanf(last, "repo%05d", &start)
			start++
		}
		end := min(start+catalogPageSize, total)
		var names []string
		for i := start; i < end; i++ {
			names = append(names, fmt.Sprintf("repo%05d", i))
		}
		if end < total {
			w.Header().Set("Link", fmt.Sprintf(`</v2/_catalog?last=%s&n=%d>; rel="next"`, names[len(names)-1], catalogPageSize))
		}
		_ = json.NewEncoder(w).Encode(map[string][]string{"repositories": names})
	})
	h := SearchHandler("", nil, catalog)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/search?q=repo0100&n=100", nil))
	var res SearchResults
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatalf("decode: %v", err)
	}
	// repo01000 … repo01004 are on the second page.
	want := []string{"repo01000", "repo01001", "repo01002", "repo01003", "repo01004"}
	var got []string
	for _, r := range res.Results {
		got = append(got, r.Name)
	}
	if !slices.Equal(got, want) || requests != 2 {
		t.Errorf("results %v after %d catalogue requests, want %v after 2", got, requests, want)
	}
}
