package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxManifestSize is the largest manifest body distribution accepts.
const maxManifestSize = 4 << 20

// referrersRoot is where the referrers index lives in the storage driver,
// beside (not inside) distribution's /docker/registry/v2 tree.
const referrersRoot = "/berth/referrers"

// referrers answers the OCI referrers API (distribution-spec 1.1), which
// distribution v3 lacks, in front of distribution's application:
//
//   - a manifest PUT whose manifest has a subject is passed on and, once
//     distribution has stored it (201), recorded as a referrer of that
//     subject and answered with the OCI-Subject header;
//   - GET /v2/NAME/referrers/DIGEST[?artifactType=T] lists, as an OCI image
//     index, the recorded referrers that the repository still holds.
//
// Access control stays distribution's: the listing first asks next for the
// subject (HEAD) with the caller's credentials and passes a 401 or 403 on.
type referrers struct {
	base   string // http.prefix without its trailing slash
	driver storagedriver.StorageDriver
	next   http.Handler
	log    *slog.Logger
}

func (h *referrers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, h.base+"/v2/")
	if !ok {
		h.next.ServeHTTP(w, r)
		return
	}
	if i := strings.LastIndex(rest, "/referrers/"); i > 0 && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		h.list(w, r, rest[:i], rest[i+len("/referrers/"):])
		return
	}
	if i := strings.LastIndex(rest, "/manifests/"); i > 0 && r.Method == http.MethodPut {
		h.put(w, r, rest[:i])
		return
	}
	h.next.ServeHTTP(w, r)
}

// manifestFields are the parts of an image manifest or index the referrers
// API reports.
type manifestFields struct {
	MediaType    string                      `json:"mediaType"`
	ArtifactType string                      `json:"artifactType"`
	Config       *struct{ MediaType string } `json:"config"`
	Subject      *ocispec.Descriptor         `json:"subject"`
	Annotations  map[string]string           `json:"annotations"`
}

func (h *referrers) put(w http.ResponseWriter, r *http.Request, name string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	var m manifestFields
	if err != nil || len(body) > maxManifestSize || json.Unmarshal(body, &m) != nil || m.Subject == nil || m.Subject.Digest.Validate() != nil {
		h.next.ServeHTTP(w, r) // distribution judges the manifest
		return
	}
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r)
	if rec.Code == http.StatusCreated {
		if err := h.record(r.Context(), name, m, body, r.Header.Get("Content-Type"), rec.Header().Get("Docker-Content-Digest")); err != nil {
			// Without OCI-Subject the client falls back to the
			// referrers tag schema, so the push still works.
			h.log.Error("recording referrer", "repository", name, "subject", m.Subject.Digest.String(), "error", err)
		} else {
			rec.Header().Set("OCI-Subject", m.Subject.Digest.String())
		}
	}
	copyResponse(w, rec)
}

func (h *referrers) record(ctx context.Context, name string, m manifestFields, body []byte, contentType, stored string) error {
	dgst, err := digest.Parse(stored)
	if err != nil {
		dgst = digest.FromBytes(body)
	}
	mediaType := m.MediaType
	if mediaType == "" {
		mediaType = contentType
	}
	artifactType := m.ArtifactType
	if artifactType == "" && m.Config != nil && mediaType == ocispec.MediaTypeImageManifest {
		artifactType = m.Config.MediaType
	}
	desc := ocispec.Descriptor{
		MediaType:    mediaType,
		Digest:       dgst,
		Size:         int64(len(body)),
		ArtifactType: artifactType,
		Annotations:  m.Annotations,
	}
	data, err := json.Marshal(desc)
	if err != nil {
		return err
	}
	return h.driver.PutContent(ctx, entryPath(name, m.Subject.Digest, dgst), data)
}

func subjectDir(name string, subject digest.Digest) string {
	return path.Join(referrersRoot, name, subject.Algorithm().String(), subject.Encoded())
}

func entryPath(name string, subject, referrer digest.Digest) string {
	return path.Join(subjectDir(name, subject), referrer.Algorithm().String()+"-"+referrer.Encoded())
}

func (h *referrers) list(w http.ResponseWriter, r *http.Request, name, ref string) {
	subject, err := digest.Parse(ref)
	if err != nil {
		_ = errcode.ServeJSON(w, v2.ErrorCodeDigestInvalid.WithDetail(ref))
		return
	}
	if rec := h.manifestHead(r, name, subject); rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
		copyResponse(w, rec)
		return
	}
	descs, err := h.referrersOf(r, name, subject)
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail(err.Error()))
		return
	}
	if want := r.URL.Query().Get("artifactType"); want != "" {
		descs = slices.DeleteFunc(descs, func(d ocispec.Descriptor) bool { return d.ArtifactType != want })
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	index := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: descs}
	index.SchemaVersion = 2
	data, err := json.Marshal(index)
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail(err.Error()))
		return
	}
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	_, _ = w.Write(data)
}

// referrersOf reads the recorded referrers of subject in name, dropping
// (and forgetting) those the repository no longer holds, as after a
// manifest delete or garbage collection.
func (h *referrers) referrersOf(r *http.Request, name string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	ctx := r.Context()
	entries, err := h.driver.List(ctx, subjectDir(name, subject))
	if errors.As(err, new(storagedriver.PathNotFoundError)) {
		return []ocispec.Descriptor{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing referrers: %w", err)
	}
	slices.Sort(entries)
	descs := []ocispec.Descriptor{}
	for _, entry := range entries {
		data, err := h.driver.GetContent(ctx, entry)
		if errors.As(err, new(storagedriver.PathNotFoundError)) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading referrer: %w", err)
		}
		var d ocispec.Descriptor
		if err := json.Unmarshal(data, &d); err != nil || d.Digest.Validate() != nil {
			h.log.Warn("dropping unreadable referrer entry", "path", entry)
			_ = h.driver.Delete(ctx, entry)
			continue
		}
		if h.manifestHead(r, name, d.Digest).Code == http.StatusNotFound {
			_ = h.driver.Delete(ctx, entry)
			continue
		}
		descs = append(descs, d)
	}
	return descs, nil
}

// manifestHead asks distribution, as the caller r, for the manifest dgst
// of name.
func (h *referrers) manifestHead(r *http.Request, name string, dgst digest.Digest) *httptest.ResponseRecorder {
	sub := subrequest(r, http.MethodHead, &url.URL{Path: h.base + "/v2/" + name + "/manifests/" + dgst.String()})
	sub.Header.Set("Accept", strings.Join([]string{
		ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
	}, ", "))
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, sub)
	return rec
}
