package trust

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// cosign's names for its signature artifacts.
const (
	simpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	signatureAnnotation    = "dev.cosignproject.cosign/signature"
	payloadType            = "cosign container image signature"
)

// payload is the simple-signing document cosign signs.
type payload struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// newPayload returns the payload for manifest d of repository repo (the
// fully qualified name, no tag).
func newPayload(repo string, d digest.Digest) ([]byte, error) {
	var p payload
	p.Critical.Identity.DockerReference = repo
	p.Critical.Image.DockerManifestDigest = d.String()
	p.Critical.Type = payloadType
	return json.Marshal(p)
}

// sigTag is the tag cosign stores the signatures of manifest d under.
func sigTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".sig"
}

// signPayload signs SHA-256 of b (ASN.1 ECDSA), base64 as cosign stores it.
func signPayload(key *ecdsa.PrivateKey, b []byte) (string, error) {
	sum := sha256.Sum256(b)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// verifyPayload reports whether sig (base64) is pub's signature of b.
func verifyPayload(pub *ecdsa.PublicKey, b []byte, sig string) bool {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(b)
	return ecdsa.VerifyASN1(pub, sum[:], raw)
}

// signature is one layer of a .sig manifest with its payload.
type signature struct {
	layer   ocispec.Descriptor
	payload []byte
}

// value is the layer's base64 signature.
func (s signature) value() string { return s.layer.Annotations[signatureAnnotation] }

// sigConfig is the image config cosign (through go-containerregistry)
// writes for a signature manifest: one diff ID per payload.
type sigConfig struct {
	Architecture string `json:"architecture"`
	Created      string `json:"created"`
	History      []struct {
		Created string `json:"created"`
	} `json:"history"`
	OS     string `json:"os"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	Config struct{} `json:"config"`
}

// fetchSignatures reads the signatures stored for manifest d; none (and no
// error) when the .sig tag does not exist.
func fetchSignatures(ctx context.Context, r *remote, d digest.Digest) ([]signature, error) {
	b, _, err := r.manifest(ctx, sigTag(d))
	if errIsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading signatures of %s: %w", d, err)
	}
	var sigs []signature
	for _, l := range m.Layers {
		if l.MediaType != simpleSigningMediaType || l.Annotations[signatureAnnotation] == "" {
			continue
		}
		p, err := r.blob(ctx, l.Digest)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, signature{layer: l, payload: p})
	}
	return sigs, nil
}

// storeSignatures replaces the .sig manifest of d by one holding sigs
// (whose payloads must already be in the registry).
func storeSignatures(ctx context.Context, r *remote, d digest.Digest, sigs []signature) error {
	var cfg sigConfig
	cfg.Created = "0001-01-01T00:00:00Z"
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Layers:    []ocispec.Descriptor{},
	}
	for _, s := range sigs {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, s.layer.Digest.String())
		cfg.History = append(cfg.History, struct {
			Created string `json:"created"`
		}{Created: cfg.Created})
		m.Layers = append(m.Layers, s.layer)
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cd, err := r.putBlob(ctx, cb)
	if err != nil {
		return err
	}
	m.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cb))}
	mb, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return r.putManifest(ctx, sigTag(d), ocispec.MediaTypeImageManifest, mb)
}

// sign adds key's signature of manifest d of repository repo to the
// registry, keeping the signatures already there.
func sign(ctx context.Context, r *remote, repo string, d digest.Digest, key *ecdsa.PrivateKey) error {
	p, err := newPayload(repo, d)
	if err != nil {
		return err
	}
	sig, err := signPayload(key, p)
	if err != nil {
		return err
	}
	existing, err := fetchSignatures(ctx, r, d)
	if err != nil {
		return err
	}
	// One signature per key and payload: re-signing replaces it.
	existing = slices.DeleteFunc(existing, func(s signature) bool {
		return string(s.payload) == string(p) && verifyPayload(&key.PublicKey, s.payload, s.value())
	})
	pd, err := r.putBlob(ctx, p)
	if err != nil {
		return err
	}
	layer := ocispec.Descriptor{
		MediaType:   simpleSigningMediaType,
		Digest:      pd,
		Size:        int64(len(p)),
		Annotations: map[string]string{signatureAnnotation: sig},
	}
	return storeSignatures(ctx, r, d, append(existing, signature{layer: layer, payload: p}))
}

// verified is a signature that checked out: by whom.
type verified struct {
	signer Signer
}

// errNoTrustData means manifest d has no signatures at all.
var errNoTrustData = errors.New("no trust data")

// verify checks the signatures of manifest d of repository repo against
// signers and returns those that are valid: made by one of the signers,
// over a payload naming d and repo. It returns errNoTrustData when d has
// no signature.
func verify(ctx context.Context, r *remote, repo string, d digest.Digest, signers []Signer) ([]verified, error) {
	sigs, err := fetchSignatures(ctx, r, d)
	if err != nil {
		return nil, err
	}
	if len(sigs) == 0 {
		return nil, errNoTrustData
	}
	var ok []verified
	for _, s := range sigs {
		var p payload
		if err := json.Unmarshal(s.payload, &p); err != nil {
			continue
		}
		if p.Critical.Type != payloadType || p.Critical.Image.DockerManifestDigest != d.String() || !sameRepository(p.Critical.Identity.DockerReference, repo) {
			continue
		}
		for _, sg := range signers {
			if verifyPayload(sg.Key, s.payload, s.value()) {
				ok = append(ok, verified{signer: sg})
				break
			}
		}
	}
	return ok, nil
}

// sameRepository compares a payload's docker-reference (which cosign
// writes without tag or digest, Docker Hub's as index.docker.io/…) with
// the repository's normalized name.
func sameRepository(ref, repo string) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false
	}
	return named.Name() == repo
}
