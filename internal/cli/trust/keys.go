package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"

	"berth/internal/atomicfile"
	"berth/internal/errdefs"
)

// PEM block types, as cosign writes them.
const (
	pemEncryptedKey = "ENCRYPTED SIGSTORE PRIVATE KEY"
	pemPublicKey    = "PUBLIC KEY"
)

// scrypt parameters: cosign's (go-securesystemslib's "legacy" strength);
// decryption accepts the three strengths that library writes.
const (
	scryptN = 32768
	scryptR = 8
	scryptP = 1
)

// validKeyName is the Docker CLI's rule for signer and key names.
var validKeyName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// encryptedKey is the JSON inside an ENCRYPTED SIGSTORE PRIVATE KEY block
// ([]byte fields are standard base64, as encoding/json writes them).
type encryptedKey struct {
	KDF struct {
		Name   string `json:"name"`
		Params struct {
			N int `json:"N"`
			R int `json:"r"`
			P int `json:"p"`
		} `json:"params"`
		Salt []byte `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

// encrypt seals plain under a key derived from passphrase.
func encrypt(plain, passphrase []byte) ([]byte, error) {
	var e encryptedKey
	e.KDF.Name = "scrypt"
	e.KDF.Params.N, e.KDF.Params.R, e.KDF.Params.P = scryptN, scryptR, scryptP
	e.KDF.Salt = make([]byte, 32)
	var nonce [24]byte
	if _, err := rand.Read(e.KDF.Salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	k, err := scrypt.Key(passphrase, e.KDF.Salt, scryptN, scryptR, scryptP, 32)
	if err != nil {
		return nil, err
	}
	var key [32]byte
	copy(key[:], k)
	e.Cipher.Name = "nacl/secretbox"
	e.Cipher.Nonce = nonce[:]
	e.Ciphertext = secretbox.Seal(nil, plain, &nonce, &key)
	return json.Marshal(e)
}

// errBadPassphrase is what a wrong passphrase (or a damaged key) yields.
var errBadPassphrase = errors.New("could not decrypt the private key: wrong passphrase")

// decrypt opens what encrypt sealed.
func decrypt(data, passphrase []byte) ([]byte, error) {
	var e encryptedKey
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("reading encrypted key: %w", err)
	}
	p := e.KDF.Params
	if e.KDF.Name != "scrypt" || e.Cipher.Name != "nacl/secretbox" {
		return nil, fmt.Errorf("unsupported key encryption %s/%s", e.KDF.Name, e.Cipher.Name)
	}
	if p.R != 8 || p.P != 1 || (p.N != 32768 && p.N != 65536 && p.N != 131072) {
		return nil, fmt.Errorf("unsupported scrypt parameters N=%d r=%d p=%d", p.N, p.R, p.P)
	}
	if len(e.Cipher.Nonce) != 24 {
		return nil, errors.New("invalid nonce in encrypted key")
	}
	k, err := scrypt.Key(passphrase, e.KDF.Salt, p.N, p.R, p.P, 32)
	if err != nil {
		return nil, err
	}
	var key [32]byte
	var nonce [24]byte
	copy(key[:], k)
	copy(nonce[:], e.Cipher.Nonce)
	plain, ok := secretbox.Open(nil, e.Ciphertext, &nonce, &key)
	if !ok {
		return nil, errBadPassphrase
	}
	return plain, nil
}

// KeyID is the hex SHA-256 of the key's PKIX encoding.
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// encodePublicKey returns pub as a PEM PUBLIC KEY block.
func encodePublicKey(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der}), nil
}

// ParsePublicKey reads an ECDSA public key from PEM (PUBLIC KEY, or a
// CERTIFICATE whose key is ECDSA).
func ParsePublicKey(b []byte) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM data found")
	}
	var pub any
	switch block.Type {
	case pemPublicKey:
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		pub = k
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		pub = c.PublicKey
	default:
		return nil, fmt.Errorf("unsupported PEM block %q: want PUBLIC KEY", block.Type)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("only ECDSA public keys are supported")
	}
	return k, nil
}

// Signer is a named public key trusted to sign.
type Signer struct {
	Name string
	ID   string
	Key  *ecdsa.PublicKey
}

// PrivateKey is a private key file in trust/private, not yet decrypted.
type PrivateKey struct {
	Name string // the "role" header
	ID   string
	Path string
}

// Store is the trust/ folder of a CLI configuration directory. It holds no
// state in memory: every call reads or writes the files.
type Store struct {
	dir string
}

// NewStore returns the store rooted at dir (normally <config dir>/trust).
func NewStore(dir string) *Store { return &Store{dir: dir} }

// Dir is the store's folder.
func (s *Store) Dir() string { return s.dir }

func (s *Store) privateDir() string { return filepath.Join(s.dir, "private") }
func (s *Store) signersDir() string { return filepath.Join(s.dir, "signers") }
func (s *Store) reposFile() string  { return filepath.Join(s.dir, "repositories.json") }

// ValidateName checks a signer or key name by Docker's rule.
func ValidateName(name string) error {
	if !validKeyName.MatchString(name) || len(name) > 64 {
		return errdefs.Invalid(fmt.Errorf("key name %q must start with lowercase alphanumeric characters and can include \"-\" or \"_\" after the first character", name))
	}
	return nil
}

// GenerateKey makes a P-256 key named name, stores its private half
// encrypted under the passphrase that passphrase returns for the new key's
// ID, and its public half as a signer, and returns the signer.
func (s *Store) GenerateKey(name string, passphrase func(id string) ([]byte, error)) (Signer, error) {
	if err := ValidateName(name); err != nil {
		return Signer{}, err
	}
	if _, err := os.Stat(filepath.Join(s.signersDir(), name+".pub")); err == nil {
		return Signer{}, errdefs.Conflict(fmt.Errorf("key with name %q already exists", name))
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Signer{}, err
	}
	id, err := KeyID(&priv.PublicKey)
	if err != nil {
		return Signer{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Signer{}, err
	}
	pass, err := passphrase(id)
	if err != nil {
		return Signer{}, err
	}
	sealed, err := encrypt(der, pass)
	if err != nil {
		return Signer{}, err
	}
	block := pem.EncodeToMemory(&pem.Block{Type: pemEncryptedKey, Headers: map[string]string{"role": name}, Bytes: sealed})
	if err := os.MkdirAll(s.privateDir(), 0o700); err != nil {
		return Signer{}, err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.privateDir(), id+".key"), block, 0o600); err != nil {
		return Signer{}, err
	}
	pubPEM, err := encodePublicKey(&priv.PublicKey)
	if err != nil {
		return Signer{}, err
	}
	if err := s.writeSigner(name, pubPEM); err != nil {
		return Signer{}, err
	}
	return Signer{Name: name, ID: id, Key: &priv.PublicKey}, nil
}

func (s *Store) writeSigner(name string, pubPEM []byte) error {
	if err := os.MkdirAll(s.signersDir(), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.signersDir(), name+".pub"), pubPEM, 0o644)
}

// PublicKeyPEM returns signer name's public key as stored.
func (s *Store) PublicKeyPEM(name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(s.signersDir(), name+".pub"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound(fmt.Errorf("no signer named %q", name))
	}
	return b, err
}

// PrivateKeys lists the private keys in the store, sorted by name.
func (s *Store) PrivateKeys() ([]PrivateKey, error) {
	ents, err := os.ReadDir(s.privateDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []PrivateKey
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".key") {
			continue
		}
		p := filepath.Join(s.privateDir(), e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		block, _ := pem.Decode(b)
		if block == nil || block.Type != pemEncryptedKey {
			continue
		}
		keys = append(keys, PrivateKey{Name: block.Headers["role"], ID: strings.TrimSuffix(e.Name(), ".key"), Path: p})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Name < keys[j].Name })
	return keys, nil
}

// Unlock decrypts k with passphrase.
func (s *Store) Unlock(k PrivateKey, passphrase []byte) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(k.Path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != pemEncryptedKey {
		return nil, fmt.Errorf("%s: not an encrypted private key", k.Path)
	}
	der, err := decrypt(block.Bytes, passphrase)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Path, err)
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", k.Path)
	}
	return priv, nil
}

// Signers returns every signer in the store, sorted by name.
func (s *Store) Signers() ([]Signer, error) {
	ents, err := os.ReadDir(s.signersDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Signer
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".pub")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.signersDir(), e.Name()))
		if err != nil {
			return nil, err
		}
		pub, err := ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("signer %s: %w", name, err)
		}
		id, err := KeyID(pub)
		if err != nil {
			return nil, err
		}
		out = append(out, Signer{Name: name, ID: id, Key: pub})
	}
	return out, nil
}

// repositories reads repositories.json: repository -> signer names.
func (s *Store) repositories() (map[string][]string, error) {
	m := map[string][]string{}
	b, err := os.ReadFile(s.reposFile())
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", s.reposFile(), err)
	}
	return m, nil
}

func (s *Store) saveRepositories(m map[string][]string) error {
	b, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(s.reposFile(), b, 0o600)
}

// AddSigner stores pubPEM as signer name (replacing its key) and trusts it
// for repos.
func (s *Store) AddSigner(name string, pubPEM []byte, repos []string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	pub, err := ParsePublicKey(pubPEM)
	if err != nil {
		return errdefs.Invalid(fmt.Errorf("failed to add signer %s: %w", name, err))
	}
	canon, err := encodePublicKey(pub)
	if err != nil {
		return err
	}
	if err := s.writeSigner(name, canon); err != nil {
		return err
	}
	for _, r := range repos {
		if err := s.RecordSigner(r, name); err != nil {
			return err
		}
	}
	return nil
}

// RecordSigner trusts signer name for repo.
func (s *Store) RecordSigner(repo, name string) error {
	m, err := s.repositories()
	if err != nil {
		return err
	}
	if slices.Contains(m[repo], name) {
		return nil
	}
	m[repo] = append(m[repo], name)
	sort.Strings(m[repo])
	return s.saveRepositories(m)
}

// RemoveSigner stops trusting signer name for repo; it reports whether
// name was trusted there.
func (s *Store) RemoveSigner(repo, name string) (bool, error) {
	m, err := s.repositories()
	if err != nil {
		return false, err
	}
	i := slices.Index(m[repo], name)
	if i < 0 {
		return false, nil
	}
	m[repo] = slices.Delete(m[repo], i, i+1)
	if len(m[repo]) == 0 {
		delete(m, repo)
	}
	return true, s.saveRepositories(m)
}

// RepositorySigners returns the names recorded for repo.
func (s *Store) RepositorySigners(repo string) ([]string, error) {
	m, err := s.repositories()
	if err != nil {
		return nil, err
	}
	return m[repo], nil
}

// TrustedSigners returns the signers whose signatures count for repo: those
// recorded for it, or every signer when none is recorded.
func (s *Store) TrustedSigners(repo string) ([]Signer, error) {
	all, err := s.Signers()
	if err != nil {
		return nil, err
	}
	names, err := s.RepositorySigners(repo)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return all, nil
	}
	var out []Signer
	for _, sg := range all {
		if slices.Contains(names, sg.Name) {
			out = append(out, sg)
		}
	}
	return out, nil
}
