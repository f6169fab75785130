package image

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/moby/moby/api/pkg/authconfig"

	"berth/internal/api/filters"
	"berth/internal/api/server"
	"berth/internal/errdefs"
	"berth/internal/image"
)

// search answers GET /images/search?term=&limit=&filters=: the
// registry's v1 search, filtered, as a list of registry.SearchResult.
func (rt *Router) search(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errdefs.Invalid(fmt.Errorf("invalid limit specified: %w", err))
		}
		if n < 0 {
			return errdefs.Invalid(fmt.Errorf("invalid limit specified"))
		}
		limit = n
	}
	f, err := filters.Parse(q.Get("filters"))
	if err != nil {
		return err
	}
	// A search needs no credentials; a bad X-Registry-Auth is ignored, as
	// dockerd ignores it.
	auth, _ := authconfig.Decode(r.Header.Get("X-Registry-Auth"))

	headers := http.Header{}
	for k, v := range r.Header {
		if k = http.CanonicalHeaderKey(k); strings.HasPrefix(k, "X-Meta-") {
			headers[k] = v
		}
	}
	headers.Set("User-Agent", "berth/1 (docker-compatible)")
	res, err := rt.svc.Search(ctx, image.SearchOptions{Term: q.Get("term"), Limit: limit, Filters: f, Auth: auth, Headers: headers})
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, res)
}
