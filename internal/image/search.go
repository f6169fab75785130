package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	registrytypes "github.com/moby/moby/api/types/registry"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
)

// Search limits, as dockerd has them.
const (
	searchDefaultLimit = 25
	searchMaxLimit     = 100
	// hubSearchIndex is where Docker Hub's v1 search lives.
	hubSearchIndex = "https://index.docker.io/v1/"
)

// SearchOptions are the parameters of GET /images/search.
type SearchOptions struct {
	// Term is the search term: a name (searched on Docker Hub) or
	// HOST/NAME for another registry.
	Term string
	// Limit caps the results, 1 to 100; 0 means 25.
	Limit int
	// Filters: is-official, is-automated (deprecated), stars.
	Filters filters.Args
	// Auth is what X-Registry-Auth carried; nil when nothing.
	Auth *registrytypes.AuthConfig
	// Headers are sent to the registry (User-Agent, X-Meta-*).
	Headers http.Header
}

// Search asks a registry's v1 search API for repositories matching
// o.Term, as dockerd does (GET /images/search): Docker Hub
// (index.docker.io) unless the term names a registry host, then the
// filters applied to what the registry returned. Credentials are
// offered when the registry asks for them (basic or bearer token).
func (s *Service) Search(ctx context.Context, o SearchOptions) ([]registrytypes.SearchResult, error) {
	if err := o.Filters.Validate("is-automated", "is-official", "stars"); err != nil {
		return nil, err
	}
	isAutomated, err := boolFilter(o.Filters, "is-automated")
	if err != nil {
		return nil, err
	}
	isOfficial, err := boolFilter(o.Filters, "is-official")
	if err != nil {
		return nil, err
	}
	minStars := 0
	for _, v := range o.Filters.Get("stars") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("invalid filter 'stars=%s': %w", v, err))
		}
		minStars = max(minStars, n)
	}

	unfiltered, err := s.searchRegistry(ctx, o)
	if err != nil {
		return nil, err
	}
	out := []registrytypes.SearchResult{}
	for _, r := range unfiltered {
		if isAutomated != nil && *isAutomated != r.IsAutomated {
			continue
		}
		if isOfficial != nil && *isOfficial != r.IsOfficial {
			continue
		}
		if r.StarCount < minStars {
			continue
		}
		// is-automated is deprecated: always reported false, as dockerd does.
		r.IsAutomated = false
		out = append(out, r)
	}
	return out, nil
}

// boolFilter reads a true/false filter (1/0 too); nil when absent.
func boolFilter(f filters.Args, key string) (*bool, error) {
	vs, ok := f[key]
	if !ok {
		return nil, nil
	}
	var isTrue, isFalse bool
	for _, v := range vs {
		switch v {
		case "1", "true":
			isTrue = true
		case "0", "false":
			isFalse = true
		}
	}
	if isTrue == isFalse {
		return nil, errdefs.Invalid(fmt.Errorf("invalid filter '%s=%s'", key, strings.Join(vs, ",")))
	}
	return &isTrue, nil
}

// splitSearchTerm cuts a search term into the registry it names and the
// term proper, as dockerd's splitReposSearchTerm: the first element is a
// host when it holds a dot or a colon or is "localhost"; otherwise the
// term is for Docker Hub ("" host).
func splitSearchTerm(term string) (host, rest string) {
	first, after, ok := strings.Cut(term, "/")
	if !ok || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return "", term
	}
	return first, after
}

// searchRegistry finds the registry's v1 endpoint and runs the search
// there.
func (s *Service) searchRegistry(ctx context.Context, o SearchOptions) ([]registrytypes.SearchResult, error) {
	if strings.HasPrefix(o.Term, "http://") || strings.HasPrefix(o.Term, "https://") {
		return nil, errdefs.Invalid(fmt.Errorf("invalid repository name: repository name (%s) should not have a scheme", o.Term))
	}
	limit := o.Limit
	if limit == 0 {
		limit = searchDefaultLimit
	}
	if limit < 1 || limit > searchMaxLimit {
		return nil, errdefs.Invalid(fmt.Errorf("limit %d is outside the range of [1, %d]", limit, searchMaxLimit))
	}
	host, term := splitSearchTerm(o.Term)
	if host == "index.docker.io" || host == hubDomain {
		host = ""
	}
	if strings.HasPrefix(host, "-") || strings.HasSuffix(host, "-") {
		return nil, errdefs.Invalid(fmt.Errorf("invalid index name (%s). Cannot begin or end with a hyphen", host))
	}

	var endpoint *url.URL
	var client *http.Client
	if host == "" {
		// Docker Hub: its official images live under library/.
		term = strings.TrimPrefix(term, "library/")
		endpoint, _ = url.Parse(hubSearchIndex)
		tc, err := s.tlsConfig("index.docker.io", false)
		if err != nil {
			return nil, err
		}
		client = &http.Client{Transport: docker.DefaultHTTPTransport(tc)}
	} else {
		var err error
		endpoint, client, err = s.v1Endpoint(ctx, host, o.Headers)
		if err != nil {
			return nil, err
		}
	}

	u := endpoint.String() + "search?q=" + url.QueryEscape(term) + "&n=" + url.QueryEscape(strconv.Itoa(limit))
	authorizer := docker.NewDockerAuthorizer(docker.WithAuthClient(client), docker.WithAuthCreds(credentials(o.Auth)), docker.WithAuthHeader(o.Headers.Clone()))
	do := func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("error building request: %w", err))
		}
		for k, vs := range o.Headers {
			req.Header[k] = vs
		}
		req.Header.Set("X-Docker-Token", "true")
		if err := authorizer.Authorize(ctx, req); err != nil {
			// The token server turned the credentials down: to the
			// client this is the registry's 401, as dockerd reports it.
			if s.log != nil {
				s.log.Debug("search: authorization failed", "registry", req.URL.Host, "error", err)
			}
			return nil, fmt.Errorf("Unexpected status code %d", http.StatusUnauthorized)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
	resp, err := do()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// The registry asks for credentials (basic, or a bearer token for
		// the catalogue, anonymous when none were given): answer its
		// challenge and ask again.
		if authorizer.AddResponses(ctx, []*http.Response{resp}) == nil {
			drain(resp)
			if resp, err = do(); err != nil {
				return nil, err
			}
		}
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		// dockerd's words (registry/session.go, searchRepositories).
		return nil, fmt.Errorf("Unexpected status code %d", resp.StatusCode)
	}
	var res registrytypes.SearchResults
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&res); err != nil {
		return nil, fmt.Errorf("error decoding registry search results: %w", err)
	}
	return res.Results, nil
}

// v1Endpoint finds the v1 API of a registry other than Docker Hub, as
// dockerd's newV1Endpoint: HTTPS first (its /v1/_ping answering at all is
// enough), plain HTTP after it for an insecure registry.
func (s *Service) v1Endpoint(ctx context.Context, host string, headers http.Header) (*url.URL, *http.Client, error) {
	insecure := s.isInsecure(ctx, host)
	tc, err := s.tlsConfig(host, insecure)
	if err != nil {
		return nil, nil, err
	}
	client := &http.Client{Transport: docker.DefaultHTTPTransport(tc), Timeout: time.Minute}
	ping := func(scheme string) (*url.URL, error) {
		u := &url.URL{Scheme: scheme, Host: host, Path: "/v1/"}
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(pctx, http.MethodGet, u.String()+"_ping", http.NoBody)
		if err != nil {
			return nil, err
		}
		for k, vs := range headers {
			req.Header[k] = vs
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("failed to ping registry endpoint %s: %w", u, err)
		}
		drain(resp)
		return u, nil
	}
	u, errTLS := ping("https")
	if errTLS == nil {
		return u, client, nil
	}
	httpsURL := "https://" + host + "/v1/"
	if !insecure {
		return nil, nil, errdefs.Invalid(fmt.Errorf("invalid registry endpoint %s: %w. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, please add `--insecure-registry %s` to the daemon's arguments. In the case of HTTPS, if you have access to the registry's CA certificate, no need to specify the flag; simply place the CA certificate at /etc/docker/certs.d/%s/ca.crt", httpsURL, errTLS, host, host))
	}
	u, errHTTP := ping("http")
	if errHTTP != nil {
		return nil, nil, errdefs.Invalid(fmt.Errorf("invalid registry endpoint %q. HTTPS attempt: %v. HTTP attempt: %w", httpsURL, errTLS, errHTTP))
	}
	return u, client, nil
}

// authErrorText is what dockerd says when a registry or its token server
// turns credentials down, from the answer containerd's authorizer got:
// the token server's {"details": …} (Docker Hub's form) or the first of
// its {"errors": […]} as "code: message", as distribution's client reads
// them; authCause's text when there is no such answer. Login
// (remotes.go) should print `Get "URL": ` + this.
func authErrorText(err error) string {
	var us remoteerrors.ErrUnexpectedStatus
	if errors.As(err, &us) {
		var details struct {
			Details string `json:"details"`
		}
		if json.Unmarshal(us.Body, &details) == nil && details.Details != "" {
			switch us.StatusCode {
			case http.StatusUnauthorized:
				return "unauthorized: " + details.Details
			case http.StatusTooManyRequests:
				return "toomanyrequests: " + details.Details
			}
			return "unknown: " + details.Details
		}
		var body struct {
			Errors []struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		if json.Unmarshal(us.Body, &body) == nil && len(body.Errors) > 0 {
			e := body.Errors[0]
			return strings.ToLower(strings.ReplaceAll(e.Code, "_", " ")) + ": " + e.Message
		}
		if us.StatusCode == http.StatusUnauthorized {
			return "unauthorized: authentication required"
		}
	}
	return "unauthorized: " + authCause(err)
}
