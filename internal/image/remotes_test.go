package image

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	registrytypes "github.com/moby/moby/api/types/registry"

	"berth/internal/errdefs"
)

// TestRegistryAuth: htpasswd (basic) auth on login, push and pull.
func TestRegistryAuth(t *testing.T) {
	reg := startRegistry(t, registryOpts{user: "alice", password: "s3cret"})
	f := newFixture(t)
	ctx := context.Background()
	good := &registrytypes.AuthConfig{Username: "alice", Password: "s3cret", ServerAddress: reg.host}
	bad := registrytypes.AuthConfig{Username: "alice", Password: "wrong", ServerAddress: reg.host}

	if _, err := f.svc.Login(ctx, *good); err != nil {
		t.Fatalf("login: %v", err)
	}
	_, err := f.svc.Login(ctx, bad)
	if err == nil || !errors.Is(err, errdefs.ErrUnauthorized) || !strings.Contains(err.Error(), "login attempt to ") || !strings.Contains(err.Error(), "/v2/ failed with status: 401 Unauthorized") {
		t.Fatalf("login with a wrong password: %v", err)
	}

	ref := reg.host + "/private:v1"
	id := f.importMarked(t, ref, "private")
	var buf bytes.Buffer
	if err := f.svc.Push(ctx, ref, PushOptions{}, &buf); err == nil {
		t.Fatal("push without credentials succeeded")
	}
	if _, err := pushTo(t, f, ref, PushOptions{Auth: good}); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
	if _, err := f.svc.Delete(ctx, ref, false, true); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	err = f.svc.Pull(ctx, ref, PullOptions{}, &buf)
	if !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), "pull access denied for "+reg.host+"/private") || buf.Len() != 0 {
		t.Fatalf("pull without credentials: %v (stream %q)", err, buf.String())
	}
	if _, err := pullTo(t, f, ref, PullOptions{Auth: good}); err != nil {
		t.Fatalf("pull with credentials: %v", err)
	}
	if img, err := f.svc.Resolve(ctx, ref); err != nil || img.ID != id {
		t.Fatalf("pulled %v, %v", img, err)
	}
}

func TestIsInsecure(t *testing.T) {
	s := &Service{cfg: Config{InsecureRegistries: []string{"reg.example:5000", "10.1.0.0/16", "http://plain.example"}}}
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:5000", true},
		{"127.1.2.3", true},
		{"localhost:5000", true},
		{"[::1]:5000", true},
		{"reg.example:5000", true},
		{"reg.example:5001", false},
		{"plain.example", true},
		{"10.1.2.3:443", true},
		{"10.2.0.1", false},
		{"192.0.2.1:5000", false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			if got := s.isInsecure(context.Background(), tc.host); got != tc.want {
				t.Errorf("isInsecure(%s) = %v, want %v", tc.host, got, tc.want)
			}
		})
	}
}

// TestCertsDir: a CA and a client certificate in certs.d/HOST:PORT are
// used, and a handshake with a server that requires the client
// certificate succeeds with the configuration made from them.
func TestCertsDir(t *testing.T) {
	dir := t.TempDir()
	caKey, caCert, caPEM := makeCert(t, nil, nil, "test CA", true)
	_, _, srvPEM, srvKeyPEM := makeLeaf(t, caKey, caCert, "127.0.0.1")
	_, _, cliPEM, cliKeyPEM := makeLeaf(t, caKey, caCert, "client")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	hostDir := filepath.Join(dir, host)
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"ca.crt": caPEM, "client.cert": cliPEM, "client.key": cliKeyPEM} {
		if err := os.WriteFile(filepath.Join(hostDir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{cfg: Config{CertsDirs: []string{filepath.Join(dir, "none"), dir}}}
	cfg, err := s.tlsConfig(host, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 || cfg.RootCAs == nil || cfg.InsecureSkipVerify {
		t.Fatalf("tls config from certs.d: %d client certs, roots %v, insecure %v", len(cfg.Certificates), cfg.RootCAs != nil, cfg.InsecureSkipVerify)
	}

	pair, err := tls.X509KeyPair(srvPEM, srvKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	srv := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	defer srv.Close()
	done := make(chan error, 1)
	go func() {
		c, err := srv.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- c.(*tls.Conn).Handshake()
	}()
	c, err := tls.Dial("tcp", host, cfg)
	if err != nil {
		t.Fatalf("handshake with the certs.d configuration: %v", err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("server side of the handshake: %v", err)
	}

	// A key without its certificate is refused, as dockerd refuses it.
	bad := filepath.Join(dir, "bad:1")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "client.key"), cliKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.tlsConfig("bad:1", false); err == nil {
		t.Error("a lone client.key was accepted")
	}
}

func makeCert(t *testing.T, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, cn string, ca bool) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  ca,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func makeLeaf(t *testing.T, caKey *ecdsa.PrivateKey, ca *x509.Certificate, cn string) (*ecdsa.PrivateKey, *x509.Certificate, []byte, []byte) {
	t.Helper()
	key, cert, certPEM := makeCert(t, caKey, ca, cn, false)
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}
