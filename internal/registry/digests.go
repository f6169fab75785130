package registry

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
)

// distributionRoot is where distribution keeps its repositories and blobs
// in the storage driver.
const distributionRoot = "/docker/registry/v2"

// altDigests lets clients name blobs and manifests by a digest other than
// sha256 (the distribution-spec allows sha512), in front of distribution,
// which stores and reports everything by its sha256 ("canonical") digest:
//
//   - a blob upload finished with ?digest=sha512:… is verified and linked
//     under both digests by distribution itself; the answer's
//     Docker-Content-Digest and Location are given back in the client's
//     digest;
//   - GET and HEAD of a blob or manifest by such a digest are served through
//     that link and answered with the digest asked for;
//   - a manifest PUT by such a digest is checked against the body, stored by
//     its canonical digest and linked under the client's one;
//   - a cross-repository mount by such a digest mounts the canonical blob
//     and links the client's digest in the target repository;
//   - DELETE by such a digest deletes the canonical blob or manifest and
//     the link.
//
// Links are distribution's own "link" files holding the canonical digest,
// so distribution's garbage collector and its lookups read them as usual.
type altDigests struct {
	base   string // http.prefix without its trailing slash
	driver storagedriver.StorageDriver
	next   http.Handler
	log    *slog.Logger
}

// altDigest parses s as a digest whose algorithm is not sha256 and that
// this build can compute; anything else is left to distribution.
func altDigest(s string) (digest.Digest, bool) {
	d, err := digest.Parse(s)
	if err != nil || d.Algorithm() == digest.SHA256 || !d.Algorithm().Available() {
		return "", false
	}
	return d, true
}

// splitRoute cuts /v2/NAME/KIND/REST (KIND blobs or manifests) out of p.
func splitRoute(p string) (name, kind, rest string, ok bool) {
	tail, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", "", "", false
	}
	for _, k := range []string{"/blobs/", "/manifests/"} {
		if i := strings.LastIndex(tail, k); i > 0 {
			return tail[:i], strings.Trim(k, "/"), tail[i+len(k):], true
		}
	}
	return "", "", "", false
}

func (h *altDigests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var name, kind, rest string
	p, ok := strings.CutPrefix(r.URL.Path, h.base)
	if ok {
		name, kind, rest, ok = splitRoute(p)
	}
	if !ok {
		h.next.ServeHTTP(w, r)
		return
	}
	q := r.URL.Query()
	switch {
	case kind == "blobs" && rest == "uploads/" && r.Method == http.MethodPost && q.Get("mount") != "" && q.Get("from") != "":
		if d, ok := altDigest(q.Get("mount")); ok {
			h.mount(w, r, name, q.Get("from"), d)
			return
		}
	case kind == "blobs" && strings.HasPrefix(rest, "uploads/") && r.Method == http.MethodPut:
		if d, ok := altDigest(q.Get("digest")); ok {
			h.finishUpload(w, r, name, d)
			return
		}
	case kind == "manifests" && r.Method == http.MethodPut:
		if d, ok := altDigest(rest); ok {
			h.putManifest(w, r, name, d)
			return
		}
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if d, ok := altDigest(rest); ok {
			h.next.ServeHTTP(&digestHeader{ResponseWriter: w, digest: d}, r)
			return
		}
	case r.Method == http.MethodDelete:
		if d, ok := altDigest(rest); ok {
			h.delete(w, r, name, kind, d)
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

// linkPath is distribution's link file for d in repository name: a layer
// link for blobs, a revision link for manifests.
func linkPath(name, kind string, d digest.Digest) string {
	dir := "_layers"
	if kind == "manifests" {
		dir = "_manifests/revisions"
	}
	return path.Join(distributionRoot, "repositories", name, dir, d.Algorithm().String(), d.Encoded(), "link")
}

// canonical reads the digest that d's link in name points at.
func (h *altDigests) canonical(r *http.Request, name, kind string, d digest.Digest) (digest.Digest, error) {
	data, err := h.driver.GetContent(r.Context(), linkPath(name, kind, d))
	if err != nil {
		return "", err
	}
	return digest.Parse(strings.TrimSpace(string(data)))
}

func (h *altDigests) link(r *http.Request, name, kind string, d, canonical digest.Digest) error {
	return h.driver.PutContent(r.Context(), linkPath(name, kind, d), []byte(canonical.String()))
}

// forward sends r to distribution with its path and query replaced, and
// records the answer.
func (h *altDigests) forward(r *http.Request, p string, q url.Values) *httptest.ResponseRecorder {
	sub := r.Clone(r.Context())
	sub.URL = &url.URL{Path: p, RawQuery: q.Encode()}
	sub.RequestURI = sub.URL.RequestURI()
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, sub)
	return rec
}

// answer copies rec to w, naming the stored object by d instead of its
// canonical digest.
func answer(w http.ResponseWriter, rec *httptest.ResponseRecorder, canonical, d digest.Digest) {
	if rec.Code >= 200 && rec.Code < 300 {
		if canonical != "" {
			if loc := rec.Header().Get("Location"); loc != "" {
				rec.Header().Set("Location", strings.Replace(loc, canonical.String(), d.String(), 1))
			}
		}
		rec.Header().Set("Docker-Content-Digest", d.String())
	}
	copyResponse(w, rec)
}

func (h *altDigests) finishUpload(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) {
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r)
	canonical, _ := digest.Parse(rec.Header().Get("Docker-Content-Digest"))
	answer(w, rec, canonical, d)
}

func (h *altDigests) mount(w http.ResponseWriter, r *http.Request, name, from string, d digest.Digest) {
	canonical, err := h.canonical(r, from, "blobs", d)
	if err != nil {
		// Not in the source repository (or not readable): distribution
		// answers with a fresh upload session, as for any failed mount.
		h.next.ServeHTTP(w, r)
		return
	}
	q := r.URL.Query()
	q.Set("mount", canonical.String())
	rec := h.forward(r, r.URL.Path, q)
	if rec.Code == http.StatusCreated {
		if err := h.link(r, name, "blobs", d, canonical); err != nil {
			h.log.Error("linking mounted blob", "repository", name, "digest", d.String(), "error", err)
			_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail(err.Error()))
			return
		}
	}
	answer(w, rec, canonical, d)
}

func (h *altDigests) putManifest(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail(err.Error()))
		return
	}
	if len(body) > maxManifestSize {
		_ = errcode.ServeJSON(w, v2.ErrorCodeManifestInvalid.WithDetail("manifest too big"))
		return
	}
	if d.Algorithm().FromBytes(body) != d {
		_ = errcode.ServeJSON(w, v2.ErrorCodeDigestInvalid.WithDetail("manifest content does not match "+d.String()))
		return
	}
	canonical := digest.FromBytes(body)
	base := strings.TrimSuffix(r.URL.Path, d.String())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	rec := h.forward(r, base+canonical.String(), r.URL.Query())
	if rec.Code == http.StatusCreated {
		if err := h.link(r, name, "manifests", d, canonical); err != nil {
			h.log.Error("linking manifest", "repository", name, "digest", d.String(), "error", err)
			_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail(err.Error()))
			return
		}
	}
	answer(w, rec, canonical, d)
}

func (h *altDigests) delete(w http.ResponseWriter, r *http.Request, name, kind string, d digest.Digest) {
	canonical, err := h.canonical(r, name, kind, d)
	if err != nil {
		if !errors.As(err, new(storagedriver.PathNotFoundError)) {
			h.log.Warn("reading digest link", "repository", name, "digest", d.String(), "error", err)
		}
		h.next.ServeHTTP(w, r) // distribution answers for the unknown digest
		return
	}
	base := strings.TrimSuffix(r.URL.Path, d.String())
	rec := h.forward(r, base+canonical.String(), r.URL.Query())
	if rec.Code == http.StatusAccepted {
		if err := h.driver.Delete(r.Context(), path.Dir(linkPath(name, kind, d))); err != nil && !errors.As(err, new(storagedriver.PathNotFoundError)) {
			h.log.Error("removing digest link", "repository", name, "digest", d.String(), "error", err)
		}
	}
	copyResponse(w, rec)
}

// digestHeader answers a successful GET or HEAD with the digest the client
// asked for, without buffering the body (blobs can be large).
type digestHeader struct {
	http.ResponseWriter
	digest      digest.Digest
	wroteHeader bool
}

func (d *digestHeader) WriteHeader(code int) {
	if !d.wroteHeader {
		d.wroteHeader = true
		if code >= 200 && code < 300 && d.Header().Get("Docker-Content-Digest") != "" {
			d.Header().Set("Docker-Content-Digest", d.digest.String())
		}
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *digestHeader) Write(p []byte) (int, error) {
	if !d.wroteHeader {
		d.WriteHeader(http.StatusOK)
	}
	return d.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (distribution
// serves blobs with http.ServeContent, which needs nothing more).
func (d *digestHeader) Unwrap() http.ResponseWriter { return d.ResponseWriter }
