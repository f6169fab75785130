package registry

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

// singlePost lets a client push a blob in one request, as the
// distribution-spec allows: POST /v2/NAME/blobs/uploads/?digest=D with the
// blob as the body is answered 201, like a finished upload. distribution
// itself answers such a POST with an empty upload session (202), which the
// client then has to fill. Here the POST becomes the two requests
// distribution knows, both with the caller's credentials: a POST that opens
// the session and a PUT of the body that closes it with the digest (which
// distribution checks against the bytes).
type singlePost struct {
	base string // http.prefix without its trailing slash
	next http.Handler
}

func (h *singlePost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := strings.CutPrefix(r.URL.Path, h.base)
	q := r.URL.Query()
	if !ok || r.Method != http.MethodPost || !strings.HasPrefix(p, "/v2/") || !strings.HasSuffix(p, "/blobs/uploads/") ||
		q.Get("digest") == "" || q.Get("mount") != "" || r.ContentLength == 0 {
		h.next.ServeHTTP(w, r)
		return
	}
	dgst := q.Get("digest")
	q.Del("digest")

	open := subrequest(r, http.MethodPost, &url.URL{Path: r.URL.Path, RawQuery: q.Encode()})
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, open)
	if rec.Code != http.StatusAccepted {
		copyResponse(w, rec) // refused (401, 403, 404…): the caller hears why
		return
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || loc.Path == "" {
		copyResponse(w, rec)
		return
	}
	lq := loc.Query()
	lq.Set("digest", dgst)
	put := r.Clone(r.Context())
	put.Method = http.MethodPut
	put.URL = &url.URL{Path: loc.Path, RawQuery: lq.Encode()}
	put.RequestURI = put.URL.RequestURI()
	h.next.ServeHTTP(w, put)
}
