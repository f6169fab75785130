package image

import (
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
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	refdocker "github.com/containerd/containerd/v2/pkg/reference"
	"github.com/distribution/reference"
	registrytypes "github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"berth/internal/errdefs"
)

// Docker Hub's names: the registry part of docker.io/… references, the
// host that serves it, and the key the Docker CLI files its credentials
// under.
const (
	hubDomain   = "docker.io"
	hubHost     = "registry-1.docker.io"
	hubIndexKey = "https://index.docker.io/v1/"
)

// isInsecure reports whether host (HOST[:PORT]) may be reached over plain
// HTTP or with an unverified certificate: it is listed in
// insecure-registries by name or falls in one of its CIDRs, or it is a
// loopback address, as in dockerd.
func (s *Service) isInsecure(ctx context.Context, host string) bool {
	if docker.IsLocalhost(host) {
		return true
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	var nets []*net.IPNet
	for _, entry := range s.cfg.InsecureRegistries {
		entry = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(entry, "http://"), "https://"), "/")
		if _, n, err := net.ParseCIDR(entry); err == nil {
			nets = append(nets, n)
			continue
		}
		if entry == host || entry == name {
			return true
		}
	}
	if len(nets) == 0 {
		return false
	}
	ips := []net.IP{net.ParseIP(name)}
	if ips[0] == nil {
		addrs, err := net.DefaultResolver.LookupIP(ctx, "ip", name)
		if err != nil {
			return false
		}
		ips = addrs
	}
	for _, ip := range ips {
		for _, n := range nets {
			if n.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// tlsConfig is the TLS client configuration for host: the system roots
// plus the CAs of its certs.d directories (Docker's layout, one directory
// per HOST[:PORT]: *.crt are CAs, *.cert with the *.key of the same name
// are client certificates), its client certificates, and
// no verification when the registry is insecure.
func (s *Service) tlsConfig(host string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // insecure-registries asks for it
	for _, root := range s.cfg.CertsDirs {
		dir := filepath.Join(root, host)
		entries, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, e := range entries {
			name := e.Name()
			switch {
			case strings.HasSuffix(name, ".crt"):
				if cfg.RootCAs == nil {
					pool, err := x509.SystemCertPool()
					if err != nil {
						pool = x509.NewCertPool()
					}
					cfg.RootCAs = pool
				}
				pem, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					return nil, err
				}
				if !cfg.RootCAs.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("unable to load CA certificate %s", filepath.Join(dir, name))
				}
			case strings.HasSuffix(name, ".cert"):
				key := filepath.Join(dir, strings.TrimSuffix(name, ".cert")+".key")
				pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name), key)
				if err != nil {
					return nil, fmt.Errorf("missing key %s for client certificate %s: %w", key, name, err)
				}
				cfg.Certificates = append(cfg.Certificates, pair)
			case strings.HasSuffix(name, ".key"):
				if _, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(name, ".key")+".cert")); err != nil {
					return nil, fmt.Errorf("missing client certificate %s.cert for key %s", strings.TrimSuffix(name, ".key"), name)
				}
			}
		}
	}
	return cfg, nil
}

// registryHost makes the endpoint of one registry host reached at
// scheme://host/path with the given capabilities.
func (s *Service) registryHost(ctx context.Context, scheme, host, path string, caps docker.HostCapabilities, creds func(string) (string, string, error)) (docker.RegistryHost, error) {
	insecure := s.isInsecure(ctx, host)
	tc, err := s.tlsConfig(host, insecure)
	if err != nil {
		return docker.RegistryHost{}, err
	}
	var rt http.RoundTripper = docker.DefaultHTTPTransport(tc)
	if insecure && scheme == "https" {
		// dockerd tries TLS first and speaks plain HTTP to an insecure
		// registry that answers TLS with HTTP.
		rt = docker.NewHTTPFallback(rt)
	}
	client := &http.Client{Transport: rt}
	opts := []docker.AuthorizerOpt{docker.WithAuthClient(client)}
	if creds != nil {
		opts = append(opts, docker.WithAuthCreds(creds))
	}
	if path == "" {
		path = "/v2"
	}
	return docker.RegistryHost{
		Client:       client,
		Authorizer:   docker.NewDockerAuthorizer(opts...),
		Host:         host,
		Scheme:       scheme,
		Path:         path,
		Capabilities: caps,
	}, nil
}

// hosts answers, for a registry name of a reference, the endpoints to try
// in order: for docker.io the registry-mirrors first (pull only), then the
// registry itself.
func (s *Service) hosts(auth *registrytypes.AuthConfig) docker.RegistryHosts {
	creds := credentials(auth)
	return func(host string) ([]docker.RegistryHost, error) {
		ctx := context.Background()
		var out []docker.RegistryHost
		all := docker.HostCapabilityPull | docker.HostCapabilityResolve | docker.HostCapabilityPush
		if host == hubDomain {
			for _, m := range s.cfg.RegistryMirrors {
				u, err := url.Parse(strings.TrimSuffix(m, "/"))
				if err != nil || u.Host == "" {
					return nil, errdefs.Invalid(fmt.Errorf("invalid registry mirror %q", m))
				}
				h, err := s.registryHost(ctx, u.Scheme, u.Host, u.Path+"/v2", docker.HostCapabilityPull|docker.HostCapabilityResolve, nil)
				if err != nil {
					return nil, err
				}
				out = append(out, h)
			}
			host = hubHost
		}
		h, err := s.registryHost(ctx, "https", host, "/v2", all, creds)
		if err != nil {
			return nil, err
		}
		return append(out, h), nil
	}
}

// credentials hands the authorizer what X-Registry-Auth carried: a user
// and password, or an identity token (as the secret, no user).
func credentials(auth *registrytypes.AuthConfig) func(string) (string, string, error) {
	if auth == nil || (auth.Username == "" && auth.Password == "" && auth.IdentityToken == "") {
		return nil
	}
	return func(string) (string, string, error) {
		if auth.IdentityToken != "" {
			return "", auth.IdentityToken, nil
		}
		return auth.Username, auth.Password, nil
	}
}

// resolver is containerd's registry client with berth's hosts and auth.
func (s *Service) resolver(auth *registrytypes.AuthConfig, tracker docker.StatusTracker) remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{
		Hosts:   s.hosts(auth),
		Tracker: tracker,
		Headers: http.Header{"User-Agent": []string{"berth/1 (docker-compatible)"}},
	})
}

// registryOf is the host part of a login's server address, "docker.io"
// for Docker Hub.
func registryOf(server string) string {
	server = strings.TrimSpace(server)
	if server == "" || server == hubIndexKey {
		return hubDomain
	}
	if u, err := url.Parse(server); err == nil && u.Host != "" {
		server = u.Host
	} else {
		server, _, _ = strings.Cut(server, "/")
	}
	switch server {
	case "index.docker.io", hubHost:
		return hubDomain
	}
	return server
}

// Login checks auth against its registry (POST /auth), as `docker login`
// does: GET /v2/, answering its challenge with the credentials. It
// returns the identity token the registry gave, if any.
func (s *Service) Login(ctx context.Context, auth registrytypes.AuthConfig) (string, error) {
	host := registryOf(auth.ServerAddress)
	hs, err := s.hosts(&auth)(host)
	if err != nil {
		return "", err
	}
	h := hs[len(hs)-1] // the registry itself, not a mirror
	endpoint := h.Scheme + "://" + h.Host + h.Path + "/"
	do := func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
		if err != nil {
			return nil, err
		}
		if err := h.Authorizer.Authorize(ctx, req); err != nil {
			return nil, errdefs.Unauthorized(fmt.Errorf("Get %q: %s", endpoint, authErrorText(err))) // search.go
		}
		resp, err := h.Client.Do(req)
		if err != nil {
			return nil, errdefs.Unavailable(err)
		}
		return resp, nil
	}
	resp, err := do()
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		aerr := h.Authorizer.AddResponses(ctx, []*http.Response{resp})
		drain(resp)
		if aerr != nil {
			return "", errdefs.Unauthorized(fmt.Errorf("Get %q: %s", endpoint, authErrorText(aerr)))
		}
		if resp, err = do(); err != nil {
			return "", err
		}
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusOK {
		return auth.IdentityToken, nil
	}
	// The text dockerd gives (registry/auth.go, loginV2).
	return "", errdefs.Unauthorized(fmt.Errorf("login attempt to %s failed with status: %d %s", endpoint, resp.StatusCode, http.StatusText(resp.StatusCode)))
}

// authCause trims containerd's wrapping of a failed token fetch to the
// registry's own words.
func authCause(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "unauthorized: "); i >= 0 {
		return msg[i+len("unauthorized: "):]
	}
	return msg
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// repoPath is the repository part of a name without its registry
// ("library/busybox").
func repoPath(n reference.Named) string { return reference.Path(n) }

// registryGet GETs path (below /v2/) from the first of host's endpoints
// that answers, with the repository scope of named for bearer tokens.
func (s *Service) registryGet(ctx context.Context, named reference.Named, auth *registrytypes.AuthConfig, path string) (*http.Response, error) {
	hs, err := s.hosts(auth)(reference.Domain(named))
	if err != nil {
		return nil, err
	}
	spec, err := refdocker.Parse(named.String())
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	ctx, err = docker.ContextWithRepositoryScope(ctx, spec, false)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, h := range hs {
		u := h.Scheme + "://" + h.Host + h.Path + "/" + path
		do := func() (*http.Response, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return nil, err
			}
			if err := h.Authorizer.Authorize(ctx, req); err != nil {
				return nil, err
			}
			return h.Client.Do(req)
		}
		resp, err := do()
		if err == nil && resp.StatusCode == http.StatusUnauthorized {
			aerr := h.Authorizer.AddResponses(ctx, []*http.Response{resp})
			drain(resp)
			if aerr != nil {
				err = aerr
			} else {
				resp, err = do()
			}
		}
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode == http.StatusOK {
			return resp, nil
		}
		lastErr = remoteerrors.NewUnexpectedStatusErr(resp)
		drain(resp)
	}
	return nil, lastErr
}

// listTags lists the tags of a repository (`pull --all-tags`).
func (s *Service) listTags(ctx context.Context, named reference.Named, auth *registrytypes.AuthConfig) ([]string, error) {
	resp, err := s.registryGet(ctx, named, auth, reference.Path(named)+"/tags/list")
	if err != nil {
		var us remoteerrors.ErrUnexpectedStatus
		if errors.As(err, &us) && us.StatusCode == http.StatusNotFound {
			return nil, errdefs.NotFound(fmt.Errorf("repository %s not found: name unknown: repository name not known to registry", reference.FamiliarName(named)))
		}
		return nil, pullError(named, err)
	}
	defer drain(resp)
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&list); err != nil {
		return nil, fmt.Errorf("read tag list of %s: %w", reference.FamiliarName(named), err)
	}
	sort.Strings(list.Tags)
	return list.Tags, nil
}

// DistributionInspect answers GET /distribution/{name}/json: the
// descriptor a reference resolves to in its registry and the platforms
// it offers, read without storing anything.
func (s *Service) DistributionInspect(ctx context.Context, ref string, auth *registrytypes.AuthConfig) (*registrytypes.DistributionInspect, error) {
	ctx = s.ns(ctx)
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	named = reference.TagNameOnly(named)
	res := s.resolver(auth, nil)
	_, desc, err := res.Resolve(ctx, named.String())
	if err != nil {
		return nil, pullError(named, err)
	}
	f, err := res.Fetcher(ctx, named.String())
	if err != nil {
		return nil, err
	}
	b, err := readRemote(ctx, f, desc)
	if err != nil {
		return nil, err
	}
	out := &registrytypes.DistributionInspect{
		Descriptor: ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size},
		Platforms:  []ocispec.Platform{},
	}
	if images.IsIndexType(desc.MediaType) {
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("parse image index %s: %w", desc.Digest, err))
		}
		for _, m := range idx.Manifests {
			if m.Platform != nil && m.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
				out.Platforms = append(out.Platforms, *m.Platform)
			}
		}
		return out, nil
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("parse manifest %s: %w", desc.Digest, err))
	}
	cb, err := readRemote(ctx, f, m.Config)
	if err != nil {
		return nil, err
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cb, &cfg); err == nil && cfg.OS != "" {
		out.Platforms = append(out.Platforms, cfg.Platform)
	}
	return out, nil
}

// readRemote reads a small blob (a manifest, a config) from the registry
// and checks it against its digest.
func readRemote(ctx context.Context, f remotes.Fetcher, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > docker.MaxManifestSize {
		return nil, errdefs.Invalid(fmt.Errorf("%s is too large (%d bytes)", desc.Digest, desc.Size))
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, desc.Size+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != desc.Size || desc.Digest.Validate() != nil || desc.Digest.Algorithm().FromBytes(b) != desc.Digest {
		return nil, errdefs.Invalid(verifyError(desc))
	}
	return b, nil
}
