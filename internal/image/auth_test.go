package image

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/distribution/distribution/v3/registry/auth/token"
	registrytypes "github.com/moby/moby/api/types/registry"

	"berth/internal/errdefs"
)

// tokenServer is a Docker registry token server (the distribution "token
// authentication" spec): GET with basic credentials, or the OAuth2 POST
// form, answers a JWT signed with a key whose certificate the registry
// trusts, granting the requested scopes to known users and nothing to
// anonymous callers.
type tokenServer struct {
	*httptest.Server
	key      *ecdsa.PrivateKey
	kid      string
	certPath string
	users    map[string]string

	mu       sync.Mutex
	requests []string // "METHOD user scope…" of each token request
}

const (
	tokenService = "berth-test-registry"
	tokenIssuer  = "berth-test-issuer"
)

func startTokenServer(t *testing.T, users map[string]string) *tokenServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "token signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tokenServer{key: key, kid: token.GetJWKThumbprint(&key.PublicKey), users: users}
	ts.certPath = filepath.Join(t.TempDir(), "token-signer.pem")
	if err := os.WriteFile(ts.certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serveToken))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	var user, pass, scopes string
	var hasCreds, oauth bool
	switch r.Method {
	case http.MethodGet:
		user, pass, hasCreds = r.BasicAuth()
		scopes = strings.Join(r.URL.Query()["scope"], " ")
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.PostForm.Get("grant_type") != "password" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		user, pass, hasCreds, oauth = r.PostForm.Get("username"), r.PostForm.Get("password"), true, true
		scopes = r.PostForm.Get("scope")
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ts.mu.Lock()
	ts.requests = append(ts.requests, strings.TrimSpace(r.Method+" "+user+" "+scopes))
	ts.mu.Unlock()
	if hasCreds && (ts.users[user] == "" || ts.users[user] != pass) {
		// Docker Hub's answer to bad credentials.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"details":"incorrect username or password"}`))
		return
	}
	var access []*token.ResourceActions
	if hasCreds {
		for _, s := range strings.Fields(scopes) {
			parts := strings.Split(s, ":")
			if len(parts) < 3 {
				continue
			}
			access = append(access, &token.ResourceActions{Type: parts[0], Name: strings.Join(parts[1:len(parts)-1], ":"), Actions: strings.Split(parts[len(parts)-1], ",")})
		}
	}
	now := time.Now()
	claims := token.ClaimSet{Issuer: tokenIssuer, Subject: user, Audience: token.AudienceList{tokenService}, Expiration: now.Add(5 * time.Minute).Unix(), NotBefore: now.Unix(), IssuedAt: now.Unix(), JWTID: fmt.Sprint(now.UnixNano()), Access: access}
	jwt, err := ts.sign(claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body := map[string]any{"token": jwt, "expires_in": 300, "issued_at": now.UTC().Format(time.RFC3339)}
	if oauth {
		body = map[string]any{"access_token": jwt, "expires_in": 300, "scope": scopes}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// sign makes an ES256 JWT naming the signing key by its JWK thumbprint,
// which is how distribution finds it among its root certificates.
func (ts *tokenServer) sign(claims token.ClaimSet) (string, error) {
	header, err := json.Marshal(map[string]string{"typ": "JWT", "alg": "ES256", "kid": ts.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig), nil
}

func (ts *tokenServer) tokenRequests() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.requests)
}

// startTokenRegistry runs berth-registry with REGISTRY_AUTH=token pointed
// at ts.
func startTokenRegistry(t *testing.T, ts *tokenServer) string {
	t.Helper()
	return startBerthRegistry(t, fmt.Sprintf("auth:\n  token:\n    realm: %s/token\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n", ts.URL, tokenService, tokenIssuer, ts.certPath))
}

// TestTokenAuthChallenge: the registry demands a bearer token from the
// test's token server.
func TestTokenAuthChallenge(t *testing.T) {
	ts := startTokenServer(t, map[string]string{"alice": "s3cret"})
	host := startTokenRegistry(t, ts)
	resp, err := http.Get("http://" + host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	drain(resp)
	want := fmt.Sprintf(`Bearer realm="%s/token",service="%s"`, ts.URL, tokenService)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Www-Authenticate") != want {
		t.Fatalf("GET /v2/: %s, challenge %q, want %q", resp.Status, resp.Header.Get("Www-Authenticate"), want)
	}
}

// TestTokenAuthLoginPushPullSearch: login, push, pull and search through
// the image service against a registry with token auth; wrong or missing
// credentials fail as with dockerd.
func TestTokenAuthLoginPushPullSearch(t *testing.T) {
	ts := startTokenServer(t, map[string]string{"alice": "s3cret"})
	host := startTokenRegistry(t, ts)
	f := newFixture(t)
	ctx := context.Background()
	good := &registrytypes.AuthConfig{Username: "alice", Password: "s3cret", ServerAddress: host}

	if _, err := f.svc.Login(ctx, *good); err != nil {
		t.Fatalf("login: %v", err)
	}
	if reqs := ts.tokenRequests(); len(reqs) == 0 || !strings.Contains(reqs[len(reqs)-1], "alice") {
		t.Fatalf("login did not fetch a token as alice: %q", reqs)
	}

	for _, bad := range []registrytypes.AuthConfig{
		{Username: "alice", Password: "wrong", ServerAddress: host},
		{Username: "mallory", Password: "s3cret", ServerAddress: "http://" + host},
	} {
		_, err := f.svc.Login(ctx, bad)
		// dockerd: Get "http://HOST/v2/": unauthorized: incorrect username
		// or password. Login words it as `Get "URL": unauthorized: …`;
		// authErrorText (below) gives the rest as dockerd has it.
		if err == nil || !errors.Is(err, errdefs.ErrUnauthorized) || !strings.HasPrefix(err.Error(), "Get \"") || !strings.Contains(err.Error(), host+"/v2/\": unauthorized: ") {
			t.Errorf("login as %s/%s: %v", bad.Username, bad.Password, err)
		}
	}

	// The words dockerd prints come from the token server's answer.
	authz := docker.NewDockerAuthorizer(docker.WithAuthCreds(func(string) (string, string, error) { return "alice", "wrong", nil }))
	resp, err := http.Get("http://" + host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	drain(resp)
	if err := authz.AddResponses(ctx, []*http.Response{resp}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
	aerr := authz.Authorize(ctx, req)
	if got := authErrorText(aerr); got != "unauthorized: incorrect username or password" {
		t.Errorf("authErrorText(%v) = %q", aerr, got)
	}

	ref := host + "/team/private:v1"
	id := f.importMarked(t, ref, "token-auth")
	var buf bytes.Buffer
	if err := f.svc.Push(ctx, ref, PushOptions{}, &buf); err == nil {
		t.Fatal("push without credentials succeeded")
	}
	lines, err := pushTo(t, f, ref, PushOptions{Auth: good})
	if err != nil {
		t.Fatalf("push with a token: %v", err)
	}
	if !hasStatus(lines, "", "Pushed") {
		t.Errorf("push stream: %+v", lines)
	}
	pushScope := false
	for _, r := range ts.tokenRequests() {
		if strings.Contains(r, "alice") && strings.Contains(r, "repository:team/private:") && strings.Contains(r, "push") {
			pushScope = true
		}
	}
	if !pushScope {
		t.Errorf("no push-scoped token was asked for: %q", ts.tokenRequests())
	}

	if _, err := f.svc.Delete(ctx, ref, false, true); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	err = f.svc.Pull(ctx, ref, PullOptions{}, &buf)
	if !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), "pull access denied for "+host+"/team/private") {
		t.Fatalf("anonymous pull: %v", err)
	}
	if _, err := pullTo(t, f, ref, PullOptions{Auth: &registrytypes.AuthConfig{Username: "alice", Password: "wrong"}}); err == nil {
		t.Fatal("pull with a wrong password succeeded")
	}
	if _, err := pullTo(t, f, ref, PullOptions{Auth: good}); err != nil {
		t.Fatalf("pull with a token: %v", err)
	}
	if img, err := f.svc.Resolve(ctx, ref); err != nil || img.ID != id {
		t.Fatalf("pulled %v, %v; want %s", img, err, id)
	}

	// Search: the catalogue needs a registry:catalog:* token.
	res, err := f.svc.Search(ctx, SearchOptions{Term: host + "/private", Auth: good})
	if err != nil || !slices.Equal(names(res), []string{"team/private"}) {
		t.Fatalf("search with credentials: %v, %v", names(res), err)
	}
	for _, o := range []SearchOptions{
		{Term: host + "/private"},
		{Term: host + "/private", Auth: &registrytypes.AuthConfig{Username: "alice", Password: "wrong"}},
	} {
		if _, err := f.svc.Search(ctx, o); err == nil || err.Error() != "Unexpected status code 401" {
			t.Errorf("search with %+v: %v", o.Auth, err)
		}
	}
}

// TestAuthErrorText: the token server's answers, worded as dockerd does.
func TestAuthErrorText(t *testing.T) {
	status := func(code int, body string) error {
		return fmt.Errorf("failed to fetch oauth token: %w", remoteerrors.ErrUnexpectedStatus{StatusCode: code, Status: http.StatusText(code), Body: []byte(body)})
	}
	tests := []struct {
		err  error
		want string
	}{
		{status(401, `{"details":"incorrect username or password"}`), "unauthorized: incorrect username or password"},
		{status(429, `{"details":"slow down"}`), "toomanyrequests: slow down"},
		{status(401, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`), "unauthorized: authentication required"},
		{status(403, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`), "denied: requested access to the resource is denied"},
		{status(401, `<html>nope</html>`), "unauthorized: authentication required"},
	}
	for _, tc := range tests {
		if got := authErrorText(tc.err); got != tc.want {
			t.Errorf("authErrorText(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
