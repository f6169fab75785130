package trust

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"berth/internal/errdefs"
)

// manifestAccept lists every manifest type a HEAD or GET may answer with.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageManifest,
	ocispec.MediaTypeImageIndex,
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")

// maxSmallBody bounds the manifests and signature payloads read into
// memory.
const maxSmallBody = 4 << 20

// Credentials returns the user name and password for a registry host, or
// "" when none is stored.
type Credentials func(host string) (user, secret string)

// remote is a Docker Registry HTTP API V2 client for one repository: just
// the calls signing needs. Its token cache makes it unsafe for concurrent
// use.
type remote struct {
	host   string // as in the reference (docker.io → registry-1.docker.io)
	path   string // repository path in the registry
	base   string // scheme://host, fixed by ping
	client *http.Client
	creds  Credentials
	// insecure reports whether host may be reached over plain HTTP.
	insecure func(ctx context.Context, host string) bool

	challenge challenge         // from the last 401
	tokens    map[string]string // scope -> bearer token
}

// challenge is a parsed WWW-Authenticate header.
type challenge struct {
	scheme string // "basic" or "bearer"; "" when the registry asked for none
	params map[string]string
}

// registryHost maps a reference's domain to the host serving it.
func registryHost(named reference.Named) string {
	d := reference.Domain(named)
	if d == "docker.io" {
		return "registry-1.docker.io"
	}
	return d
}

// isLoopback reports whether host (HOST[:PORT]) names this machine.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// tlsConfigFor trusts the system roots plus the CA certificates dockerd
// and berthd would use for host (certs.d), and presents a client
// certificate found there.
func tlsConfigFor(host string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, dir := range []string{"/etc/berth/certs.d", "/etc/docker/certs.d"} {
		d := filepath.Join(dir, host)
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			switch {
			case strings.HasSuffix(e.Name(), ".crt"):
				if b, err := os.ReadFile(p); err == nil {
					pool.AppendCertsFromPEM(b)
				}
			case strings.HasSuffix(e.Name(), ".cert"):
				keyPath := strings.TrimSuffix(p, ".cert") + ".key"
				if c, err := tls.LoadX509KeyPair(p, keyPath); err == nil {
					cfg.Certificates = append(cfg.Certificates, c)
				}
			}
		}
	}
	cfg.RootCAs = pool
	return cfg
}

func newRemote(named reference.Named, creds Credentials, insecure func(context.Context, string) bool) *remote {
	host := registryHost(named)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfigFor(host)
	return &remote{
		host:     host,
		path:     reference.Path(named),
		client:   &http.Client{Transport: tr, Timeout: 5 * time.Minute},
		creds:    creds,
		insecure: insecure,
		tokens:   map[string]string{},
	}
}

// ping finds the scheme the registry answers on (HTTPS, or plain HTTP for
// an insecure registry) and its auth challenge.
func (r *remote) ping(ctx context.Context) error {
	if r.base != "" {
		return nil
	}
	try := func(base string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := r.client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxSmallBody))
		if resp.StatusCode == http.StatusUnauthorized {
			r.challenge = parseChallenge(resp.Header.Get("WWW-Authenticate"))
		}
		r.base = base
		return nil
	}
	err := try("https://" + r.host)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil || !(isLoopback(r.host) || (r.insecure != nil && r.insecure(ctx, r.host))) {
		return fmt.Errorf("error contacting registry %s: %w", r.host, err)
	}
	if herr := try("http://" + r.host); herr != nil {
		return fmt.Errorf("error contacting registry %s: %w", r.host, herr)
	}
	return nil
}

// parseChallenge reads `Bearer realm="…",service="…",scope="…"` or
// `Basic realm="…"`.
func parseChallenge(h string) challenge {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	c := challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
	for rest != "" {
		rest = strings.TrimLeft(rest, ", ")
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(v, `"`) {
			end := strings.Index(v[1:], `"`)
			if end < 0 {
				c.params[k] = v[1:]
				break
			}
			c.params[k], rest = v[1:1+end], v[2+end:]
		} else {
			c.params[k], rest, _ = strings.Cut(v, ",")
		}
	}
	return c
}

// authorize sets the Authorization header the last challenge asks for.
func (r *remote) authorize(ctx context.Context, req *http.Request, push bool) error {
	user, secret := "", ""
	if r.creds != nil {
		user, secret = r.creds(r.host)
	}
	switch r.challenge.scheme {
	case "basic":
		if user != "" {
			req.SetBasicAuth(user, secret)
		}
	case "bearer":
		scope := "repository:" + r.path + ":pull"
		if push {
			scope += ",push"
		}
		tok, ok := r.tokens[scope]
		if !ok {
			var err error
			if tok, err = r.fetchToken(ctx, scope, user, secret); err != nil {
				return err
			}
			r.tokens[scope] = tok
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return nil
}

// fetchToken asks the challenge's realm for a bearer token.
func (r *remote) fetchToken(ctx context.Context, scope, user, secret string) (string, error) {
	realm := r.challenge.params["realm"]
	u, err := url.Parse(realm)
	if err != nil || realm == "" {
		return "", fmt.Errorf("registry %s: invalid token realm %q", r.host, realm)
	}
	q := u.Query()
	if s := r.challenge.params["service"]; s != "" {
		q.Set("service", s)
	}
	q.Add("scope", scope)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	if user != "" {
		req.SetBasicAuth(user, secret)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching a token from %s: %w", realm, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", errdefs.Unauthorized(fmt.Errorf("fetching a token from %s: %s", realm, resp.Status))
	}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSmallBody)).Decode(&tr); err != nil {
		return "", fmt.Errorf("reading token from %s: %w", realm, err)
	}
	if tr.Token == "" {
		tr.Token = tr.AccessToken
	}
	return tr.Token, nil
}

// do sends method to path (relative to /v2/<repo>/, or absolute when it
// starts with http) with body, retrying once after a fresh challenge.
func (r *remote) do(ctx context.Context, method, path string, header http.Header, body []byte) (*http.Response, error) {
	if err := r.ping(ctx); err != nil {
		return nil, err
	}
	target := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		target = r.base + "/v2/" + r.path + "/" + path
	}
	push := method != http.MethodGet && method != http.MethodHead
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, target, rd)
		if err != nil {
			return nil, err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		if body != nil {
			req.ContentLength = int64(len(body))
		}
		if err := r.authorize(ctx, req, push); err != nil {
			return nil, err
		}
		resp, err := r.client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			return resp, nil
		}
		// A token for another scope, or a registry that only now asks.
		resp.Body.Close()
		r.challenge = parseChallenge(resp.Header.Get("WWW-Authenticate"))
		r.tokens = map[string]string{}
	}
}

// statusError turns an unexpected answer into an error carrying the
// registry's own message.
func statusError(resp *http.Response, what string) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	msg := resp.Status
	if json.Unmarshal(b, &body) == nil && len(body.Errors) > 0 {
		msg = strings.ToLower(body.Errors[0].Code) + ": " + body.Errors[0].Message
	}
	err := fmt.Errorf("%s: %s", what, msg)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return errdefs.NotFound(err)
	case http.StatusUnauthorized:
		return errdefs.Unauthorized(err)
	case http.StatusForbidden:
		return errdefs.Forbidden(err)
	}
	return err
}

// resolve returns the descriptor of manifest ref (a tag or digest).
func (r *remote) resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	what := fmt.Sprintf("manifest %s:%s on %s", r.path, ref, r.host)
	resp, err := r.do(ctx, http.MethodHead, "manifests/"+ref, http.Header{"Accept": {manifestAccept}}, nil)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ocispec.Descriptor{}, statusError(resp, what)
	}
	d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
	if err != nil {
		// Without the header, the digest is that of the bytes.
		b, mt, gerr := r.manifest(ctx, ref)
		if gerr != nil {
			return ocispec.Descriptor{}, gerr
		}
		return ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}, nil
	}
	return ocispec.Descriptor{MediaType: resp.Header.Get("Content-Type"), Digest: d, Size: resp.ContentLength}, nil
}

// manifest returns the bytes and media type of manifest ref.
func (r *remote) manifest(ctx context.Context, ref string) ([]byte, string, error) {
	what := fmt.Sprintf("manifest %s:%s on %s", r.path, ref, r.host)
	resp, err := r.do(ctx, http.MethodGet, "manifests/"+ref, http.Header{"Accept": {manifestAccept}}, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", statusError(resp, what)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSmallBody))
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", what, err)
	}
	if d, err := digest.Parse(ref); err == nil && d.Validate() == nil && digest.FromBytes(b) != d {
		return nil, "", fmt.Errorf("%s: content does not match its digest", what)
	}
	return b, resp.Header.Get("Content-Type"), nil
}

// blob returns a small blob, checked against its digest.
func (r *remote) blob(ctx context.Context, d digest.Digest) ([]byte, error) {
	what := fmt.Sprintf("blob %s in %s", d, r.path)
	resp, err := r.do(ctx, http.MethodGet, "blobs/"+d.String(), nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, what)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSmallBody))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if digest.FromBytes(b) != d {
		return nil, fmt.Errorf("%s: content does not match its digest", what)
	}
	return b, nil
}

// putBlob uploads b (monolithically) unless the registry has it.
func (r *remote) putBlob(ctx context.Context, b []byte) (digest.Digest, error) {
	d := digest.FromBytes(b)
	resp, err := r.do(ctx, http.MethodHead, "blobs/"+d.String(), nil, nil)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return d, nil
	}
	resp, err = r.do(ctx, http.MethodPost, "blobs/uploads/", nil, []byte{})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", statusError(resp, "starting an upload to "+r.path)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", fmt.Errorf("upload location: %w", err)
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	resp, err = r.do(ctx, http.MethodPut, loc.String(), http.Header{"Content-Type": {"application/octet-stream"}}, b)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", statusError(resp, "uploading "+d.String()+" to "+r.path)
	}
	return d, nil
}

// putManifest stores manifest b under ref.
func (r *remote) putManifest(ctx context.Context, ref, mediaType string, b []byte) error {
	resp, err := r.do(ctx, http.MethodPut, "manifests/"+ref, http.Header{"Content-Type": {mediaType}}, b)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return statusError(resp, fmt.Sprintf("pushing manifest %s:%s", r.path, ref))
	}
	return nil
}

// deleteManifest removes manifest d (registries may refuse: delete is
// off by default in distribution).
func (r *remote) deleteManifest(ctx context.Context, d digest.Digest) error {
	resp, err := r.do(ctx, http.MethodDelete, "manifests/"+d.String(), nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return statusError(resp, fmt.Sprintf("deleting manifest %s@%s", r.path, d))
	}
	return nil
}

// tags lists the repository's tags, following Link pagination.
func (r *remote) tags(ctx context.Context) ([]string, error) {
	var all []string
	next := "tags/list"
	for next != "" {
		resp, err := r.do(ctx, http.MethodGet, next, nil, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			err := statusError(resp, "listing tags of "+r.path)
			resp.Body.Close()
			return nil, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxSmallBody)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("listing tags of %s: %w", r.path, err)
		}
		all = append(all, page.Tags...)
		next = ""
		if link := resp.Header.Get("Link"); link != "" {
			if s, e := strings.Index(link, "<"), strings.Index(link, ">"); s >= 0 && e > s {
				if u, err := resp.Request.URL.Parse(link[s+1 : e]); err == nil {
					next = u.String()
				}
			}
		}
	}
	return all, nil
}

// errIsNotFound reports a 404 from the registry.
func errIsNotFound(err error) bool { return errors.Is(err, errdefs.ErrNotFound) }
