package trust

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	"berth/internal/errdefs"

	"berth/internal/registry"
)

// startRegistry serves a berth registry (distribution) on a loopback port
// until the test ends and returns its host:port.
func startRegistry(t *testing.T, deleteEnabled bool) string {
	t.Helper()
	return startRegistryConfig(t, deleteEnabled, "")
}

// startRegistryConfig is startRegistry with extra top-level YAML.
func startRegistryConfig(t *testing.T, deleteEnabled bool, extra string) string {
	t.Helper()
	yaml := "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: " + t.TempDir() +
		"\n  delete:\n    enabled: " + map[bool]string{true: "true", false: "false"}[deleteEnabled] + "\nhttp:\n  addr: 127.0.0.1:0\n" + extra
	cfg, err := registry.ParseConfig(strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	must(t, registry.ConfigureLogging(cfg))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := registry.New(ctx, cfg, registry.Options{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registry: %v", err)
		}
	})
	return ln.Addr().String()
}

// pushImage stores a one-layer image whose layer is content under tag and
// returns its manifest digest.
func pushImage(t *testing.T, r *remote, tag, content string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	layer := []byte(content)
	ld, err := r.putBlob(ctx, layer)
	must(t, err)
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + ld.String() + `"]}}`)
	cd, err := r.putBlob(ctx, cfg)
	must(t, err)
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: ld, Size: int64(len(layer))}},
	}
	b, err := json.Marshal(m)
	must(t, err)
	must(t, r.putManifest(ctx, tag, ocispec.MediaTypeImageManifest, b))
	return digest.FromBytes(b)
}

func newKey(t *testing.T, s *Store, name string) (Signer, *ecdsa.PrivateKey) {
	t.Helper()
	sg, err := s.GenerateKey(name, fixedPass("passphrase"))
	must(t, err)
	privs, err := s.PrivateKeys()
	must(t, err)
	for _, p := range privs {
		if p.Name == name {
			priv, err := s.Unlock(p, []byte("passphrase"))
			must(t, err)
			return sg, priv
		}
	}
	t.Fatalf("key %s not stored", name)
	return Signer{}, nil
}

func remoteFor(t *testing.T, host, repo string) (*remote, string) {
	t.Helper()
	named, err := reference.ParseNormalizedNamed(host + "/" + repo)
	must(t, err)
	return newRemote(named, nil, nil), named.Name()
}

// TestPayloadFormat pins the simple-signing payload to cosign's bytes.
func TestPayloadFormat(t *testing.T) {
	d := digest.FromString("x")
	b, err := newPayload("localhost:5000/app", d)
	must(t, err)
	want := `{"critical":{"identity":{"docker-reference":"localhost:5000/app"},"image":{"docker-manifest-digest":"` + d.String() + `"},"type":"cosign container image signature"},"optional":null}`
	if string(b) != want {
		t.Fatalf("payload\n got %s\nwant %s", b, want)
	}
	if got := sigTag(d); got != "sha256-"+d.Encoded()+".sig" {
		t.Fatalf("sig tag %s", got)
	}
}

func TestSignVerifyRevoke(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t, true)
	store := NewStore(t.TempDir())
	alice, alicePriv := newKey(t, store, "alice")
	bob, bobPriv := newKey(t, store, "bob")
	r, repo := remoteFor(t, host, "app")

	signed := pushImage(t, r, "v1", "signed layer")
	must(t, sign(ctx, r, repo, signed, alicePriv))

	// The .sig manifest is cosign's: an OCI manifest of simple-signing
	// layers with the signature annotation.
	raw, mt, err := r.manifest(ctx, sigTag(signed))
	must(t, err)
	var m ocispec.Manifest
	must(t, json.Unmarshal(raw, &m))
	if mt != ocispec.MediaTypeImageManifest || len(m.Layers) != 1 || m.Layers[0].MediaType != simpleSigningMediaType || m.Layers[0].Annotations[signatureAnnotation] == "" {
		t.Fatalf("signature manifest (%s): %s", mt, raw)
	}

	other := pushImage(t, r, "v2", "another layer")

	tests := []struct {
		doc     string
		digest  digest.Digest
		signers []Signer
		want    []string // signer names that verify
		noData  bool
	}{
		{doc: "alice's signature verifies under alice", digest: signed, signers: []Signer{alice}, want: []string{"alice"}},
		{doc: "not under bob alone", digest: signed, signers: []Signer{bob}, want: nil},
		{doc: "an unsigned image has no trust data", digest: other, signers: []Signer{alice, bob}, noData: true},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			ok, err := verify(ctx, r, repo, tc.digest, tc.signers)
			if tc.noData {
				if !errors.Is(err, errNoTrustData) {
					t.Fatalf("want no trust data, got %v %v", ok, err)
				}
				return
			}
			must(t, err)
			if len(ok) != len(tc.want) {
				t.Fatalf("verified %v, want %v", ok, tc.want)
			}
			for i := range ok {
				if ok[i].signer.Name != tc.want[i] {
					t.Fatalf("verified %v, want %v", ok, tc.want)
				}
			}
		})
	}

	// A second signer appends; re-signing replaces rather than duplicates.
	must(t, sign(ctx, r, repo, signed, bobPriv))
	must(t, sign(ctx, r, repo, signed, alicePriv))
	sigs, err := fetchSignatures(ctx, r, signed)
	must(t, err)
	if len(sigs) != 2 {
		t.Fatalf("after alice, bob, alice: %d signatures, want 2", len(sigs))
	}

	// A signature copied to another repository names the wrong one.
	r2, repo2 := remoteFor(t, host, "copy")
	if pushImage(t, r2, "v1", "signed layer") != signed {
		t.Fatal("same image, different digest")
	}
	for _, sg := range sigs {
		_, err := r2.putBlob(ctx, sg.payload)
		must(t, err)
	}
	must(t, storeSignatures(ctx, r2, signed, sigs))
	ok, err := verify(ctx, r2, repo2, signed, []Signer{alice, bob})
	if err != nil || len(ok) != 0 {
		t.Fatalf("copied signatures verified in %s: %v %v", repo2, ok, err)
	}

	// Revoking with bob only known removes bob's and keeps alice's.
	n, err := revokeDigest(ctx, r, signed, []Signer{bob})
	if err != nil || n != 1 {
		t.Fatalf("revoke bob: %d, %v", n, err)
	}
	ok, err = verify(ctx, r, repo, signed, []Signer{alice, bob})
	if err != nil || len(ok) != 1 || ok[0].signer.Name != "alice" {
		t.Fatalf("after revoking bob: %v %v", ok, err)
	}
	// Revoking the last deletes the .sig tag.
	n, err = revokeDigest(ctx, r, signed, []Signer{alice, bob})
	if err != nil || n != 1 {
		t.Fatalf("revoke alice: %d, %v", n, err)
	}
	if _, err := r.resolve(ctx, sigTag(signed)); !errIsNotFound(err) {
		t.Fatalf("the .sig tag survived revocation: %v", err)
	}
}

// TestRevokeWithoutDelete leaves an empty signature manifest on a registry
// that refuses deletes, and that reads as unsigned.
func TestRevokeWithoutDelete(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t, false)
	store := NewStore(t.TempDir())
	alice, priv := newKey(t, store, "alice")
	r, repo := remoteFor(t, host, "app")
	d := pushImage(t, r, "v1", "layer")
	must(t, sign(ctx, r, repo, d, priv))
	if n, err := revokeDigest(ctx, r, d, []Signer{alice}); err != nil || n != 1 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	if _, err := verify(ctx, r, repo, d, []Signer{alice}); !errors.Is(err, errNoTrustData) {
		t.Fatalf("after revoke: %v", err)
	}
}

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		in     string
		scheme string
		params map[string]string
	}{
		{`Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"`, "bearer",
			map[string]string{"realm": "https://auth.example/token", "service": "registry", "scope": "repository:a/b:pull"}},
		{`Basic realm="Registry Realm"`, "basic", map[string]string{"realm": "Registry Realm"}},
		{``, "", map[string]string{}},
	}
	for _, tc := range tests {
		c := parseChallenge(tc.in)
		if c.scheme != tc.scheme || len(c.params) != len(tc.params) {
			t.Fatalf("%q: %+v", tc.in, c)
		}
		for k, v := range tc.params {
			if c.params[k] != v {
				t.Fatalf("%q: %s=%q, want %q", tc.in, k, c.params[k], v)
			}
		}
	}
}

// TestRemoteBasicAuth signs against a registry that wants htpasswd
// credentials, and is refused without them.
func TestRemoteBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	must(t, err)
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	must(t, os.WriteFile(htpasswd, []byte("alice:"+string(hash)+"\n"), 0o600))
	host := startRegistryConfig(t, true, "auth:\n  htpasswd:\n    realm: test\n    path: "+htpasswd+"\n")
	named, err := reference.ParseNormalizedNamed(host + "/app")
	must(t, err)
	ctx := context.Background()

	anon := newRemote(named, nil, nil)
	if _, err := anon.resolve(ctx, "v1"); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("without credentials: want unauthorized, got %v", err)
	}
	r := newRemote(named, func(h string) (string, string) {
		if h != host {
			t.Errorf("credentials asked for %q, want %q", h, host)
		}
		return "alice", "s3cret"
	}, nil)
	d := pushImage(t, r, "v1", "layer")
	_, priv := newKey(t, NewStore(t.TempDir()), "alice")
	must(t, sign(ctx, r, named.Name(), d, priv))
	sigs, err := fetchSignatures(ctx, r, d)
	if err != nil || len(sigs) != 1 {
		t.Fatalf("signatures: %d, %v", len(sigs), err)
	}
}
