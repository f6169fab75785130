package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/opencontainers/go-digest"

	"berth/internal/cli/command"
)

// This file is what pull, push, run and create call when content trust is
// on. Each entry point does the registry and signature work here so the
// commands only decide whether trust applies.

// Pull is a trusted `pull`: every tag (named's, or all the repository's
// signed tags when named has none) is resolved to a digest signed by a
// trusted key, pulled as NAME@DIGEST with pull, then tagged. A digest
// reference is content-addressed and is pulled as it is, as Docker does.
// Progress lines go to out (io.Discard for -q).
func Pull(ctx context.Context, cli *command.Cli, named reference.Named, out io.Writer, pull func(ctx context.Context, ref string) error) error {
	if _, ok := named.(reference.Digested); ok {
		return pull(ctx, reference.FamiliarString(named))
	}
	s := newService(cli)
	r := s.remote(named)
	var tags []reference.NamedTagged
	if t, ok := named.(reference.NamedTagged); ok {
		tags = append(tags, t)
	} else {
		all, err := r.tags(ctx)
		if err != nil {
			return err
		}
		for _, tag := range all {
			if isSignatureTag(tag) {
				continue
			}
			t, err := reference.WithTag(named, tag)
			if err != nil {
				return err
			}
			tags = append(tags, t)
		}
	}
	type target struct {
		tagged  reference.NamedTagged
		trusted reference.Canonical
	}
	var targets []target
	for _, t := range tags {
		d, err := s.trustedDigest(ctx, r, t)
		if err != nil {
			if len(tags) > 1 {
				continue // -a pulls the signed tags only
			}
			return err
		}
		c, err := reference.WithDigest(reference.TrimNamed(t), d)
		if err != nil {
			return err
		}
		targets = append(targets, target{tagged: t, trusted: c})
	}
	if len(targets) == 0 {
		return fmt.Errorf("No trusted tags for %s", named.Name())
	}
	for i, t := range targets {
		fmt.Fprintf(out, "Pull (%d of %d): %s@%s\n", i+1, len(targets), reference.FamiliarString(t.tagged), t.trusted.Digest())
		if err := pull(ctx, reference.FamiliarString(t.trusted)); err != nil {
			return err
		}
		if err := s.tagTrusted(ctx, out, t.trusted, t.tagged); err != nil {
			return err
		}
	}
	return nil
}

// Resolved is an image reference that content trust pinned to a signed
// digest, for `run` and `create`.
type Resolved struct {
	tagged  reference.NamedTagged
	trusted reference.Canonical
}

// Resolve pins image to its signed digest when it names a tag (a bare
// name means :latest). It returns nil for references trust does not apply
// to (digests, image IDs), as Docker does.
func Resolve(ctx context.Context, cli *command.Cli, image string) (*Resolved, error) {
	ref, err := reference.ParseAnyReference(image)
	if err != nil {
		return nil, err
	}
	named, ok := ref.(reference.Named)
	if !ok {
		return nil, nil
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, nil
	}
	tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
	if !ok {
		return nil, nil
	}
	s := newService(cli)
	d, err := s.trustedDigest(ctx, s.remote(tagged), tagged)
	if err != nil {
		return nil, err
	}
	c, err := reference.WithDigest(reference.TrimNamed(tagged), d)
	if err != nil {
		return nil, err
	}
	return &Resolved{tagged: tagged, trusted: c}, nil
}

// Image is the reference to create the container from: NAME@DIGEST.
func (r *Resolved) Image() string { return reference.FamiliarString(r.trusted) }

// Tag tags the pulled NAME@DIGEST as NAME:TAG, printing Docker's line on
// out.
func (r *Resolved) Tag(ctx context.Context, cli *command.Cli, out io.Writer) error {
	return newService(cli).tagTrusted(ctx, out, r.trusted, r.tagged)
}

// PushSigner signs what a `push` pushed: it records the daemon's aux
// results ({"Tag", "Digest", "Size"} per pushed tag) and signs each digest
// once the push is done.
type PushSigner struct {
	cli    *command.Cli
	pushed []pushResult
}

type pushResult struct {
	Tag    string `json:"Tag"`
	Digest string `json:"Digest"`
}

// NewPushSigner returns a signer for one push.
func NewPushSigner(cli *command.Cli) *PushSigner { return &PushSigner{cli: cli} }

// Record is the progress stream's aux callback.
func (p *PushSigner) Record(m jsonstream.Message) {
	if m.Aux == nil {
		return
	}
	var res pushResult
	if err := json.Unmarshal(*m.Aux, &res); err == nil && res.Tag != "" && res.Digest != "" {
		p.pushed = append(p.pushed, res)
	}
}

// Sign signs every recorded push of named's repository.
func (p *PushSigner) Sign(ctx context.Context, named reference.Named) error {
	out := p.cli.Out()
	if len(p.pushed) == 0 {
		return fmt.Errorf("no tag specified for %s: the push reported no digest to sign", reference.FamiliarString(named))
	}
	s := newService(p.cli)
	fmt.Fprintln(out, "Signing and pushing trust metadata")
	for _, res := range p.pushed {
		d, err := digest.Parse(res.Digest)
		if err != nil {
			return fmt.Errorf("push of %s reported digest %q: %w", res.Tag, res.Digest, err)
		}
		tagged, err := reference.WithTag(reference.TrimNamed(named), res.Tag)
		if err != nil {
			return err
		}
		if _, err := s.signDigest(ctx, tagged, d); err != nil {
			return err
		}
		fmt.Fprintf(out, "Successfully signed %s\n", tagged.String())
	}
	return nil
}
