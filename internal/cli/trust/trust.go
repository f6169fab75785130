package trust

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/opencontainers/go-digest"

	"berth/internal/cli/command"
	"berth/internal/cli/registry"
	"berth/internal/errdefs"
)

// Passphrase environment variables, as the Docker CLI reads them.
const (
	envRepoPassphrase = "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"
	envRootPassphrase = "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"
)

// defaultKeyName names the key generated when a repository is signed on a
// machine that has none (Docker generates a "repository key" then too).
const defaultKeyName = "repository"

// Enabled reports whether DOCKER_CONTENT_TRUST turns content trust on, as
// the Docker CLI reads it: any value strconv.ParseBool takes as true, or
// any other non-empty value.
func Enabled(cli *command.Cli) bool {
	v, _ := cli.LookupEnv("DOCKER_CONTENT_TRUST")
	if v == "" {
		return false
	}
	on, err := strconv.ParseBool(v)
	return err != nil || on
}

// service is one command's view of trust: the key store, the passphrase
// source and registry clients.
type service struct {
	cli   *command.Cli
	store *Store
	in    *bufio.Reader // shared by every prompt of the command
}

func newService(cli *command.Cli) *service {
	return &service{cli: cli, store: NewStore(filepath.Join(cli.ConfigDir(), "trust"))}
}

// remote returns a registry client for named's repository, with the
// credentials `login` stored for its registry (config.json or a
// credential helper).
func (s *service) remote(named reference.Named) *remote {
	creds := func(string) (string, string) {
		enc := registry.EncodedAuthForImage(s.cli, named.String())
		if enc == "" {
			return "", ""
		}
		ac, err := authconfig.Decode(enc)
		if err != nil || ac == nil {
			return "", ""
		}
		return ac.Username, ac.Password
	}
	return newRemote(named, creds, s.insecureRegistry)
}

// insecureRegistry asks the daemon whether it treats host as insecure
// (insecure-registries by name or CIDR), as the pull it will make does.
func (s *service) insecureRegistry(ctx context.Context, host string) bool {
	api, err := s.cli.Client()
	if err != nil {
		return false
	}
	info, err := api.Info(ctx, client.InfoOptions{})
	if err != nil || info.Info.RegistryConfig == nil {
		return false
	}
	rc := info.Info.RegistryConfig
	if ic, ok := rc.IndexConfigs[host]; ok && ic != nil {
		return !ic.Secure
	}
	return false
}

// passphrase returns the passphrase for key name/id from the environment
// or, failing that, from a prompt on stdin (twice for a new key).
func (s *service) passphrase(name, id string, createNew bool) ([]byte, error) {
	order := []string{envRepoPassphrase, envRootPassphrase}
	if name == "root" {
		order = []string{envRootPassphrase, envRepoPassphrase}
	}
	for _, env := range order {
		if v, ok := s.cli.LookupEnv(env); ok && v != "" {
			return []byte(v), nil
		}
	}
	short := id
	if len(short) > 7 {
		short = short[:7]
	}
	if createNew {
		p, err := s.prompt(fmt.Sprintf("Enter passphrase for new %s key with ID %s: ", name, short))
		if err != nil {
			return nil, err
		}
		if len(p) < 8 {
			return nil, errdefs.Invalid(errors.New("Passphrase is too short. Please use a password manager to generate and store a good random passphrase."))
		}
		again, err := s.prompt(fmt.Sprintf("Repeat passphrase for new %s key with ID %s: ", name, short))
		if err != nil {
			return nil, err
		}
		if p != again {
			return nil, errdefs.Invalid(errors.New("passphrases do not match. Please retry"))
		}
		return []byte(p), nil
	}
	p, err := s.prompt(fmt.Sprintf("Enter passphrase for %s key with ID %s: ", name, short))
	return []byte(p), err
}

// prompt prints message and reads one line from stdin without echo.
func (s *service) prompt(message string) (string, error) {
	in := s.cli.In()
	fmt.Fprint(s.cli.Out(), message)
	if in.IsTerminal() {
		if st, err := term.SaveState(in.FD()); err == nil {
			_ = term.DisableEcho(in.FD(), st)
			defer func() { _ = term.RestoreTerminal(in.FD(), st) }()
		}
	}
	if s.in == nil {
		s.in = bufio.NewReader(in)
	}
	line, err := s.in.ReadString('\n')
	fmt.Fprintln(s.cli.Out())
	if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
		return "", fmt.Errorf("reading passphrase: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// generateKey makes key name with a new passphrase.
func (s *service) generateKey(name string) (Signer, error) {
	return s.store.GenerateKey(name, func(id string) ([]byte, error) {
		return s.passphrase(name, id, true)
	})
}

// signingKey picks and unlocks the key that signs repo: a signer recorded
// for repo whose private key is here, else the only private key here,
// else a new key named "repository".
func (s *service) signingKey(repo string) (Signer, *ecdsa.PrivateKey, error) {
	privs, err := s.store.PrivateKeys()
	if err != nil {
		return Signer{}, nil, err
	}
	recorded, err := s.store.RepositorySigners(repo)
	if err != nil {
		return Signer{}, nil, err
	}
	var pick *PrivateKey
	for i := range privs {
		if slices.Contains(recorded, privs[i].Name) {
			pick = &privs[i]
			break
		}
	}
	switch {
	case pick != nil:
	case len(privs) == 1:
		pick = &privs[0]
	case len(privs) == 0:
		fmt.Fprintf(s.cli.Out(), "Generating key for %s...\n", defaultKeyName)
		if _, err := s.generateKey(defaultKeyName); err != nil {
			return Signer{}, nil, err
		}
		if privs, err = s.store.PrivateKeys(); err != nil || len(privs) == 0 {
			return Signer{}, nil, fmt.Errorf("reading the new key: %w", err)
		}
		pick = &privs[0]
	default:
		return Signer{}, nil, errdefs.Invalid(fmt.Errorf("Error: could not find signing keys for remote repository %s: %d keys in %s and none is a signer for it; choose one with `trust signer add --key %s NAME %s`", repo, len(privs), s.store.privateDir(), filepath.Join(s.store.signersDir(), "NAME.pub"), repo))
	}
	pass, err := s.passphrase(pick.Name, pick.ID, false)
	if err != nil {
		return Signer{}, nil, err
	}
	priv, err := s.store.Unlock(*pick, pass)
	if err != nil {
		return Signer{}, nil, fmt.Errorf("Error: could not find signing keys for remote repository %s, or could not decrypt signing key: %w", repo, err)
	}
	return Signer{Name: pick.Name, ID: pick.ID, Key: &priv.PublicKey}, priv, nil
}

// signDigest signs manifest d of named's repository and trusts the signing
// key for the repository from now on.
func (s *service) signDigest(ctx context.Context, named reference.Named, d digest.Digest) (Signer, error) {
	repo := named.Name()
	sg, priv, err := s.signingKey(repo)
	if err != nil {
		return Signer{}, err
	}
	if err := sign(ctx, s.remote(named), repo, d, priv); err != nil {
		return Signer{}, fmt.Errorf("signing %s@%s: %w", reference.FamiliarName(named), d, err)
	}
	if err := s.store.RecordSigner(repo, sg.Name); err != nil {
		return Signer{}, err
	}
	return sg, nil
}

// trustedDigest resolves tagged to the digest it names in the registry and
// returns it only if that manifest carries a valid signature by a signer
// trusted for the repository.
func (s *service) trustedDigest(ctx context.Context, r *remote, tagged reference.NamedTagged) (digest.Digest, error) {
	repo := tagged.Name()
	signers, err := s.store.TrustedSigners(repo)
	if err != nil {
		return "", err
	}
	if len(signers) == 0 {
		return "", errdefs.NotFound(fmt.Errorf("Error: no trusted signers for remote repository %s: generate a key with `trust key generate NAME` or trust one with `trust signer add --key FILE NAME %s`", repo, reference.FamiliarName(tagged)))
	}
	desc, err := r.resolve(ctx, tagged.Tag())
	if errIsNotFound(err) {
		return "", errdefs.NotFound(fmt.Errorf("No valid trust data for %s", tagged.Tag()))
	}
	if err != nil {
		return "", err
	}
	ok, err := verify(ctx, r, repo, desc.Digest, signers)
	if errors.Is(err, errNoTrustData) {
		return "", errdefs.NotFound(fmt.Errorf("No valid trust data for %s", tagged.Tag()))
	}
	if err != nil {
		return "", err
	}
	if len(ok) == 0 {
		return "", errdefs.Forbidden(fmt.Errorf("Warning: potential malicious behavior - trust data mismatch for remote repository %s: no signature by a trusted key for %s (%s)", repo, tagged.Tag(), desc.Digest))
	}
	return desc.Digest, nil
}

// tagTrusted tags the pulled name@digest as tagged, printing Docker's line.
func (s *service) tagTrusted(ctx context.Context, out io.Writer, trusted reference.Canonical, tagged reference.NamedTagged) error {
	api, err := s.cli.Client()
	if err != nil {
		return err
	}
	src, dst := reference.FamiliarString(trusted), reference.FamiliarString(tagged)
	fmt.Fprintf(out, "Tagging %s as %s\n", src, dst)
	_, err = api.ImageTag(ctx, client.ImageTagOptions{Source: src, Target: dst})
	return err
}

// isSignatureTag reports tags that hold cosign artifacts rather than
// images (sha256-<hex>.sig, .att, .sbom).
func isSignatureTag(tag string) bool {
	if !strings.HasPrefix(tag, "sha256-") {
		return false
	}
	return strings.HasSuffix(tag, ".sig") || strings.HasSuffix(tag, ".att") || strings.HasSuffix(tag, ".sbom")
}
