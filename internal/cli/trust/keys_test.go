package trust

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"berth/internal/errdefs"
)

// TestDecryptSigstoreVector opens a key sealed by go-securesystemslib's
// encrypted package (what cosign uses for its private keys), so berth's
// encrypted keys stay readable by cosign and cosign's by berth.
func TestDecryptSigstoreVector(t *testing.T) {
	vectors := []struct {
		doc  string
		want string
		enc  string
	}{
		{"N=32768 (cosign's)", "reallyimportant", `{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"N9a7x5JFGbrtB2uBR81jPwp0eiLR4A7FV3mjVAQrg1g="},"cipher":{"name":"nacl/secretbox","nonce":"2h8HxMmgRfuYdpswZBQaU3xJ1nkA/5Ik"},"ciphertext":"SEW6sUh0jf2wfdjJGPNS9+bkk2uB+Cxamf32zR8XkQ=="}`},
		// Sealed by Marshal, which JSON-encodes the []byte first.
		{"N=65536", `"cmVhbGx5aW1wb3J0YW50"`, `{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"FhzPOt9/bJG4PTq6lQ6ecG6GzaOuOy/ynG5+yRiFlNs="},"cipher":{"name":"nacl/secretbox","nonce":"aw1ng1jHaDz/tQ7V2gR9O2+IGQ8xJEuE"},"ciphertext":"HycvuLZL4sYH0BrYTh4E/H20VtAW6u5zL5Pr+IBjYLYnCPzDkq8="}`},
	}
	for _, v := range vectors {
		t.Run(v.doc, func(t *testing.T) {
			got, err := decrypt([]byte(v.enc), []byte("supersecret"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != v.want {
				t.Fatalf("decrypted %q", got)
			}
			if _, err := decrypt([]byte(v.enc), []byte("wrong")); !errors.Is(err, errBadPassphrase) {
				t.Fatalf("wrong passphrase: got %v", err)
			}
		})
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	plain := []byte("a private key")
	enc, err := encrypt(plain, []byte("passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decrypt(enc, []byte("passphrase"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	if _, err := decrypt(enc, []byte("passphrasf")); !errors.Is(err, errBadPassphrase) {
		t.Fatalf("wrong passphrase: got %v", err)
	}
}

func fixedPass(p string) func(string) ([]byte, error) {
	return func(string) ([]byte, error) { return []byte(p), nil }
}

func TestStoreKeys(t *testing.T) {
	s := NewStore(t.TempDir())
	alice, err := s.GenerateKey("alice", fixedPass("alice-pass"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GenerateKey("alice", fixedPass("x")); !errdefs.IsConflict(err) {
		t.Fatalf("second alice: want a conflict, got %v", err)
	}
	if err := ValidateName("Bad Name"); !errdefs.IsInvalid(err) {
		t.Fatalf("bad name accepted: %v", err)
	}
	privs, err := s.PrivateKeys()
	if err != nil || len(privs) != 1 || privs[0].Name != "alice" || privs[0].ID != alice.ID {
		t.Fatalf("private keys: %+v, %v", privs, err)
	}
	fi, err := os.Stat(privs[0].Path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v, %v", fi, err)
	}
	priv, err := s.Unlock(privs[0], []byte("alice-pass"))
	if err != nil {
		t.Fatal(err)
	}
	if !priv.PublicKey.Equal(alice.Key) {
		t.Fatal("unlocked key does not match the signer's public key")
	}
	if _, err := s.Unlock(privs[0], []byte("nope")); !errors.Is(err, errBadPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}

	// bob's public key only, as `trust signer add` stores it.
	other := NewStore(t.TempDir())
	if _, err := other.GenerateKey("bob", fixedPass("bob-pass")); err != nil {
		t.Fatal(err)
	}
	bobPEM, err := other.PublicKeyPEM("bob")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		doc   string
		setup func(t *testing.T)
		repo  string
		want  []string
	}{
		{doc: "no repository recorded: every signer", repo: "localhost:5000/a", want: []string{"alice"}},
		{
			doc:   "signer add records bob for b only",
			setup: func(t *testing.T) { must(t, s.AddSigner("bob", bobPEM, []string{"localhost:5000/b"})) },
			repo:  "localhost:5000/b", want: []string{"bob"},
		},
		{doc: "an unrecorded repository trusts alice and bob", repo: "localhost:5000/c", want: []string{"alice", "bob"}},
		{
			doc:   "recording alice too",
			setup: func(t *testing.T) { must(t, s.RecordSigner("localhost:5000/b", "alice")) },
			repo:  "localhost:5000/b", want: []string{"alice", "bob"},
		},
		{
			doc: "removing bob",
			setup: func(t *testing.T) {
				ok, err := s.RemoveSigner("localhost:5000/b", "bob")
				if err != nil || !ok {
					t.Fatalf("remove: %v %v", ok, err)
				}
			},
			repo: "localhost:5000/b", want: []string{"alice"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			got, err := s.TrustedSigners(tc.repo)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, sg := range got {
				names = append(names, sg.Name)
			}
			if len(names) != len(tc.want) {
				t.Fatalf("trusted for %s: %v, want %v", tc.repo, names, tc.want)
			}
			for i := range names {
				if names[i] != tc.want[i] {
					t.Fatalf("trusted for %s: %v, want %v", tc.repo, names, tc.want)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "repositories.json")); err != nil {
		t.Fatalf("repositories.json: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
