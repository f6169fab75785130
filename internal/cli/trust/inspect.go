package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/distribution/reference"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/spf13/cobra"

	"berth/internal/cli/command"
	"berth/internal/errdefs"
)

// unknownSigner stands for a signature no key in the store verifies.
const unknownSigner = "<unknown>"

// repoTrust is one element of `trust inspect`'s JSON, with the Docker
// CLI's field names.
type repoTrust struct {
	Name               string
	SignedTags         []signedTag
	Signers            []signerKeys
	AdministrativeKeys []signerKeys
}

type signedTag struct {
	SignedTag string
	Digest    string
	Signers   []string
}

type signerKeys struct {
	Name string
	Keys []keyRef
}

type keyRef struct {
	ID string
}

func newInspectCommand(cli *command.Cli) *cobra.Command {
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect IMAGE[:TAG] [IMAGE[:TAG]...]",
		Short: "Return low-level information about keys and signatures",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), cli, args, pretty)
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

func runInspect(ctx context.Context, cli *command.Cli, images []string, pretty bool) error {
	s := newService(cli)
	var all []repoTrust
	for _, img := range images {
		rt, err := s.inspect(ctx, img)
		if errIsNotFound(err) {
			return errdefs.NotFound(fmt.Errorf("No signatures or cannot access %s", img))
		}
		if err != nil {
			return err
		}
		if pretty {
			printPretty(cli.Out(), img, rt)
			continue
		}
		all = append(all, rt)
	}
	if pretty {
		return nil
	}
	b, err := json.MarshalIndent(all, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(cli.Out(), string(b))
	return err
}

// inspect gathers the signatures of image's tag (or of all its tags).
func (s *service) inspect(ctx context.Context, image string) (repoTrust, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return repoTrust{}, err
	}
	rt := repoTrust{Name: reference.FamiliarString(named), SignedTags: []signedTag{}, Signers: []signerKeys{}, AdministrativeKeys: []signerKeys{}}
	r := s.remote(named)
	var tags []string
	if t, ok := named.(reference.NamedTagged); ok {
		tags = []string{t.Tag()}
	} else {
		all, err := r.tags(ctx)
		if err != nil {
			return repoTrust{}, err
		}
		for _, t := range all {
			if !isSignatureTag(t) {
				tags = append(tags, t)
			}
		}
	}
	repo := named.Name()
	known, err := s.store.Signers()
	if err != nil {
		return repoTrust{}, err
	}
	trusted, err := s.store.TrustedSigners(repo)
	if err != nil {
		return repoTrust{}, err
	}
	sort.Strings(tags)
	for _, tag := range tags {
		desc, err := r.resolve(ctx, tag)
		if err != nil {
			if errIsNotFound(err) {
				continue
			}
			return repoTrust{}, err
		}
		sigs, err := fetchSignatures(ctx, r, desc.Digest)
		if err != nil {
			return repoTrust{}, err
		}
		if len(sigs) == 0 {
			continue
		}
		ok, err := verify(ctx, r, repo, desc.Digest, known)
		if err != nil {
			return repoTrust{}, err
		}
		var names []string
		for _, v := range ok {
			if !slices.Contains(names, v.signer.Name) {
				names = append(names, v.signer.Name)
			}
		}
		if len(ok) < len(sigs) {
			names = append(names, unknownSigner)
		}
		sort.Strings(names)
		rt.SignedTags = append(rt.SignedTags, signedTag{SignedTag: tag, Digest: desc.Digest.Encoded(), Signers: names})
	}
	for _, sg := range trusted {
		rt.Signers = append(rt.Signers, signerKeys{Name: sg.Name, Keys: []keyRef{{ID: sg.ID}}})
	}
	return rt, nil
}

// printPretty writes `trust inspect --pretty`'s tables.
func printPretty(out io.Writer, image string, rt repoTrust) {
	repo := rt.Name
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	if len(rt.SignedTags) == 0 {
		fmt.Fprintf(out, "\nNo signatures for %s\n\n", image)
	} else {
		fmt.Fprintf(out, "\nSignatures for %s\n\n", image)
		tw := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
		fmt.Fprintln(tw, "SIGNED TAG\tDIGEST\tSIGNERS")
		for _, t := range rt.SignedTags {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.SignedTag, t.Digest, strings.Join(t.Signers, ", "))
		}
		tw.Flush()
	}
	if len(rt.Signers) > 0 {
		fmt.Fprintf(out, "\nList of signers and their keys for %s\n\n", repo)
		tw := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
		fmt.Fprintln(tw, "SIGNER\tKEYS")
		for _, sg := range rt.Signers {
			var ids []string
			for _, k := range sg.Keys {
				ids = append(ids, shortID(k.ID))
			}
			fmt.Fprintf(tw, "%s\t%s\n", sg.Name, strings.Join(ids, ", "))
		}
		tw.Flush()
	} else {
		fmt.Fprintf(out, "\nNo signers for %s\n", repo)
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// displayPush renders a push's progress on stdout and hands its aux
// results to signer.
func displayPush(cli *command.Cli, r io.Reader, signer *PushSigner) error {
	return jsonmessage.DisplayJSONMessagesStream(r, cli.Out(), cli.Out().FD(), cli.Out().IsTerminal(), signer.Record)
}
