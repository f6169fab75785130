package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"berth/internal/api/server"
	"berth/internal/errdefs"
	"berth/internal/image"
)

// registryAuth reads the X-Registry-Auth header the Docker CLI sends with
// pull and push (base64url JSON of an AuthConfig); nil when absent.
func registryAuth(r *http.Request) (*registry.AuthConfig, error) {
	h := r.Header.Get(registry.AuthHeader)
	if h == "" {
		return nil, nil
	}
	ac, err := authconfig.Decode(h)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	return ac, nil
}

// progressStream sends the 200 status and the JSON content type with the
// first line of a progress stream and flushes every line, so that an
// error found before the first line still gets its own status.
type progressStream struct {
	w       http.ResponseWriter
	started bool
}

func (p *progressStream) Write(b []byte) (int, error) {
	if !p.started {
		p.started = true
		p.w.Header().Set("Content-Type", "application/json")
		p.w.WriteHeader(http.StatusOK)
	}
	return server.FlushWriter{W: p.w}.Write(b)
}

// finish ends a stream: an error before the first line is returned for
// the server to answer with its status; after it, it is the stream's last
// line, as dockerd writes it.
func (p *progressStream) finish(err error) error {
	if err == nil || !p.started {
		if err == nil && !p.started {
			p.w.Header().Set("Content-Type", "application/json")
			p.w.WriteHeader(http.StatusOK)
		}
		return err
	}
	return image.WriteStreamError(p, err)
}

// pull answers POST /images/create?fromImage=NAME[&tag=TAG|DIGEST]. An
// empty tag with a bare name pulls every tag, as the API defines.
func (rt *Router) pull(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ref := q.Get("fromImage")
	if tag := q.Get("tag"); tag != "" {
		sep := ":"
		if strings.Contains(tag, ":") { // a digest
			sep = "@"
		}
		ref += sep + tag
	}
	auth, err := registryAuth(r)
	if err != nil {
		return err
	}
	out := &progressStream{w: w}
	err = rt.svc.Pull(ctx, ref, image.PullOptions{AllTags: true, Platform: q.Get("platform"), Auth: auth}, out)
	return out.finish(err)
}

// push answers POST /images/{name}/push?tag=TAG[&platform=JSON].
func (rt *Router) push(ctx context.Context, w http.ResponseWriter, r *http.Request, name string) error {
	auth, err := registryAuth(r)
	if err != nil {
		return err
	}
	opts := image.PushOptions{Tag: r.URL.Query().Get("tag"), Auth: auth}
	if p := r.URL.Query().Get("platform"); p != "" {
		// The Docker CLI sends the platform as an OCI platform object.
		var plat ocispec.Platform
		if err := json.Unmarshal([]byte(p), &plat); err != nil || plat.OS == "" {
			return errdefs.Invalid(fmt.Errorf("invalid platform %q: want a JSON object with os and architecture", p))
		}
		opts.Platform = &plat
	}
	out := &progressStream{w: w}
	err = rt.svc.Push(ctx, name, opts, out)
	return out.finish(err)
}

// login answers POST /auth: the credentials are checked against the
// registry, nothing is stored.
func (rt *Router) login(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var ac registry.AuthConfig
	if err := server.ReadJSON(r, &ac); err != nil {
		return err
	}
	token, err := rt.svc.Login(ctx, ac)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, registry.AuthResponse{Status: "Login Succeeded", IdentityToken: token})
}

// distribution answers GET /distribution/{name}/json.
func (rt *Router) distribution(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	name, action := splitAction(r.PathValue("rest"), "json")
	if name == "" || action != "json" {
		return pageNotFound(r)
	}
	auth, err := registryAuth(r)
	if err != nil {
		return err
	}
	resp, err := rt.svc.DistributionInspect(ctx, name, auth)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, resp)
}

var errNoSource = errors.New("fromImage or fromSrc must be given")
