package registry

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
)

// SearchResult is one entry of a v1 search answer, in the shape Docker's
// registry client decodes (github.com/moby/moby/api/types/registry).
type SearchResult struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	StarCount   int    `json:"star_count"`
	IsOfficial  bool   `json:"is_official"`
	IsAutomated bool   `json:"is_automated"`
}

// SearchResults is the v1 search answer.
type SearchResults struct {
	NumResults int            `json:"num_results"`
	Query      string         `json:"query"`
	Results    []SearchResult `json:"results"`
}

const (
	searchDefaultLimit = 25
	searchMaxLimit     = 100
	catalogPageSize    = 1000
)

// SearchHandler answers the part of Docker's v1 search API that `docker
// search HOST/TERM` uses — GET /v1/search?q=TERM&n=LIMIT, and the
// /v1/_ping Docker sends before it — and passes every other request to
// next. It reads the catalogue through next (GET /v2/_catalog, page by
// page, with the caller's own headers), so the registry's access control
// decides what a caller may list: an unauthenticated search of a registry
// with auth gets the registry's own 401 and challenge. A repository matches
// when TERM is a case-insensitive substring of its name; an empty TERM
// matches all. headers (http.headers of the configuration) are added to
// the answers as distribution adds them to its own.
func SearchHandler(prefix string, headers http.Header, next http.Handler) http.Handler {
	base := strings.TrimSuffix(prefix, "/")
	searchPath, pingPath := base+"/v1/search", base+"/v1/_ping"
	catalogPath := base + "/v2/_catalog"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case searchPath, pingPath:
		default:
			next.ServeHTTP(w, r)
			return
		}
		for k, vs := range headers {
			w.Header()[http.CanonicalHeaderKey(k)] = vs
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path == pingPath {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Docker-Registry-Standalone", "true")
			_, _ = w.Write([]byte("{\"standalone\":true}\n"))
			return
		}
		query := r.URL.Query().Get("q")
		limit := searchDefaultLimit
		if n, err := strconv.Atoi(r.URL.Query().Get("n")); err == nil && n > 0 {
			limit = min(n, searchMaxLimit)
		}
		term := strings.ToLower(query)
		res := SearchResults{Query: query, Results: []SearchResult{}}
		last := ""
		for len(res.Results) < limit {
			page, nextLast, failed := catalogPage(next, r, catalogPath, last)
			if failed != nil {
				copyResponse(w, failed)
				return
			}
			for _, name := range page {
				if len(res.Results) < limit && strings.Contains(strings.ToLower(name), term) {
					res.Results = append(res.Results, SearchResult{Name: name})
				}
			}
			if nextLast == "" || len(page) == 0 {
				break
			}
			last = nextLast
		}
		res.NumResults = len(res.Results)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
}

// catalogPage asks app for one page of the catalogue after last, as the
// caller r. It returns the names and the `last` of the next page ("" at
// the end), or the registry's answer when that is not a 200.
func catalogPage(app http.Handler, r *http.Request, path, last string) (names []string, nextLast string, failed *httptest.ResponseRecorder) {
	q := url.Values{"n": {strconv.Itoa(catalogPageSize)}}
	if last != "" {
		q.Set("last", last)
	}
	sub := subrequest(r, http.MethodGet, &url.URL{Path: path, RawQuery: q.Encode()})
	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, sub)
	if rec.Code != http.StatusOK {
		return nil, "", rec
	}
	var body struct {
		Repositories []string `json:"repositories"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		rec = httptest.NewRecorder()
		http.Error(rec, "reading the catalogue: "+err.Error(), http.StatusBadGateway)
		return nil, "", rec
	}
	return body.Repositories, nextCatalogLast(rec.Header().Get("Link")), nil
}

// nextCatalogLast reads `last` from a catalogue page's
// `Link: </v2/_catalog?last=NAME&n=N>; rel="next"` header.
func nextCatalogLast(link string) string {
	start, end := strings.IndexByte(link, '<'), strings.IndexByte(link, '>')
	if start < 0 || end <= start {
		return ""
	}
	u, err := url.Parse(link[start+1 : end])
	if err != nil {
		return ""
	}
	return u.Query().Get("last")
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// subrequest is r turned into another request to the same registry,
// keeping the caller's headers and so its credentials.
func subrequest(r *http.Request, method string, u *url.URL) *http.Request {
	sub := r.Clone(r.Context())
	sub.Method = method
	sub.URL = u
	sub.RequestURI = u.RequestURI()
	sub.Body = http.NoBody
	sub.ContentLength = 0
	sub.Header.Del("Accept-Encoding")
	sub.Header.Del("Content-Type")
	sub.Header.Del("Content-Length")
	return sub
}
