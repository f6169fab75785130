package trust

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"berth/internal/cli/command"
	"berth/internal/cli/registry"
	"berth/internal/errdefs"
)

// NewTrustCommand returns the `trust` management command.
func NewTrustCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trust",
		Short: "Manage trust on Docker images",
		Args:  command.NoArgs,
		RunE:  command.ShowHelp(cli.Err()),
	}
	cmd.AddCommand(
		newKeyCommand(cli),
		newSignerCommand(cli),
		newSignCommand(cli),
		newInspectCommand(cli),
		newRevokeCommand(cli),
	)
	return cmd
}

func newKeyCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage keys for signing Docker images",
		Args:  command.NoArgs,
		RunE:  command.ShowHelp(cli.Err()),
	}
	cmd.AddCommand(newKeyGenerateCommand(cli))
	return cmd
}

func newKeyGenerateCommand(cli *command.Cli) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "generate NAME",
		Short: "Generate and load a signing key-pair",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeyGenerate(cli, args[0], dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "Directory to generate key in, defaults to current directory")
	return cmd
}

func runKeyGenerate(cli *command.Cli, name, dir string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		dir = wd
	}
	pubPath := filepath.Join(dir, name+".pub")
	if _, err := os.Stat(pubPath); err == nil {
		return errdefs.Conflict(fmt.Errorf("public key file already exists: %q", pubPath))
	}
	fmt.Fprintf(cli.Out(), "Generating key for %s...\n", name)
	s := newService(cli)
	if _, err := s.generateKey(name); err != nil {
		return fmt.Errorf("failed to generate key for %s: %w", name, err)
	}
	pub, err := s.store.PublicKeyPEM(name)
	if err != nil {
		return err
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		return fmt.Errorf("failed to write public key: %w", err)
	}
	abs, _ := filepath.Abs(pubPath)
	fmt.Fprintf(cli.Out(), "Successfully generated and loaded private key. Corresponding public key available: %s\n", abs)
	return nil
}

func newSignerCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signer",
		Short: "Manage entities who can sign Docker images",
		Args:  command.NoArgs,
		RunE:  command.ShowHelp(cli.Err()),
	}
	var keyPath string
	add := &cobra.Command{
		Use:   "add OPTIONS NAME REPOSITORY [REPOSITORY...]",
		Short: "Add a signer",
		Args:  command.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSignerAdd(cli, keyPath, args[0], args[1:])
		},
	}
	add.Flags().StringVar(&keyPath, "key", "", "Path to the signer's public key file")
	_ = add.MarkFlagRequired("key")
	remove := &cobra.Command{
		Use:   "remove [OPTIONS] NAME REPOSITORY [REPOSITORY...]",
		Short: "Remove a signer",
		Args:  command.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSignerRemove(cli, args[0], args[1:])
		},
	}
	remove.Flags().BoolP("force", "f", false, "Do not prompt for confirmation before removing the most recent signer")
	cmd.AddCommand(add, remove)
	return cmd
}

// repoName normalises a repository argument (a tag or digest is refused).
func repoName(arg string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(arg)
	if err != nil {
		return nil, err
	}
	if !reference.IsNameOnly(named) {
		return nil, errdefs.Invalid(fmt.Errorf("invalid repository name (%s), cannot contain a tag or digest", arg))
	}
	return named, nil
}

func runSignerAdd(cli *command.Cli, keyPath, name string, repos []string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	pem, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("unable to read public key from file: %w", err)
	}
	s := newService(cli)
	var failed []string
	for _, arg := range repos {
		named, err := repoName(arg)
		if err == nil {
			fmt.Fprintf(cli.Out(), "Adding signer \"%s\" to %s...\n", name, arg)
			err = s.store.AddSigner(name, pem, []string{named.Name()})
		}
		if err != nil {
			fmt.Fprintln(cli.Err(), err)
			failed = append(failed, arg)
			continue
		}
		fmt.Fprintf(cli.Out(), "Successfully added signer: %s to %s\n", name, arg)
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed to add signer to: %s", strings.Join(failed, ", "))
	}
	return nil
}

func runSignerRemove(cli *command.Cli, name string, repos []string) error {
	s := newService(cli)
	var failed []string
	for _, arg := range repos {
		named, err := repoName(arg)
		if err != nil {
			fmt.Fprintln(cli.Err(), err)
			failed = append(failed, arg)
			continue
		}
		fmt.Fprintf(cli.Out(), "Removing signer \"%s\" from %s...\n", name, arg)
		ok, err := s.store.RemoveSigner(named.Name(), name)
		if err == nil && !ok {
			err = fmt.Errorf("No signer %s for repository %s", name, arg)
		}
		if err != nil {
			fmt.Fprintln(cli.Err(), err)
			failed = append(failed, arg)
			continue
		}
		fmt.Fprintf(cli.Out(), "Successfully removed %s from %s\n\n", name, arg)
	}
	if len(failed) > 0 {
		return fmt.Errorf("error removing signer from: %s", strings.Join(failed, ", "))
	}
	return nil
}

func newSignCommand(cli *command.Cli) *cobra.Command {
	var local bool
	cmd := &cobra.Command{
		Use:   "sign IMAGE:TAG",
		Short: "Sign an image",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSign(cmd.Context(), cli, args[0], local)
		},
	}
	cmd.Flags().BoolVar(&local, "local", false, "Sign a locally tagged image")
	return cmd
}

// runSign signs the tag's manifest in the registry; an image that is only
// local (or --local) is pushed first, and what the push reports is signed.
func runSign(ctx context.Context, cli *command.Cli, image string, local bool) error {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return err
	}
	tagged, ok := named.(reference.NamedTagged)
	if !ok {
		return errdefs.Invalid(fmt.Errorf("No tag specified for %s", image))
	}
	s := newService(cli)
	if !local {
		desc, err := s.remote(tagged).resolve(ctx, tagged.Tag())
		switch {
		case err == nil:
			fmt.Fprintf(cli.Out(), "Signing and pushing trust metadata for %s\n", image)
			if _, err := s.signDigest(ctx, tagged, desc.Digest); err != nil {
				return err
			}
			fmt.Fprintf(cli.Out(), "Successfully signed %s\n", tagged.String())
			return nil
		case !errIsNotFound(err):
			return err
		}
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	if _, err := api.ImageInspect(ctx, image); err != nil {
		return err
	}
	fmt.Fprintf(cli.Err(), "Signing and pushing trust data for local image %s, may overwrite remote trust data\n", image)
	resp, err := api.ImagePush(ctx, reference.FamiliarString(tagged), client.ImagePushOptions{RegistryAuth: registry.EncodedAuthForImage(cli, tagged.String())})
	if err != nil {
		return err
	}
	defer resp.Close()
	signer := NewPushSigner(cli)
	if err := displayPush(cli, resp, signer); err != nil {
		return err
	}
	return signer.Sign(ctx, tagged)
}

func newRevokeCommand(cli *command.Cli) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "revoke [OPTIONS] IMAGE[:TAG]",
		Short: "Remove trust for an image",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRevoke(cmd.Context(), cli, args[0], yes)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	return cmd
}

// runRevoke removes the signatures made by keys in the store from a tag,
// or from every tag of the repository.
func runRevoke(ctx context.Context, cli *command.Cli, image string, yes bool) error {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return err
	}
	if _, ok := named.(reference.Digested); ok {
		return errdefs.Invalid(errors.New("cannot use a digest reference for IMAGE:TAG"))
	}
	s := newService(cli)
	r := s.remote(named)
	var tags []string
	if t, ok := named.(reference.NamedTagged); ok {
		tags = []string{t.Tag()}
	} else {
		if !yes {
			ok, err := command.PromptForConfirmation(ctx, cli.In(), cli.Out(), fmt.Sprintf("Confirm you would like to delete all signature data for %s?", image))
			if err != nil || !ok {
				fmt.Fprintf(cli.Out(), "\nAborting action.\n")
				return nil
			}
		}
		all, err := r.tags(ctx)
		if err != nil {
			return fmt.Errorf("could not remove signature for %s: %w", image, err)
		}
		for _, t := range all {
			if !isSignatureTag(t) {
				tags = append(tags, t)
			}
		}
	}
	signers, err := s.store.Signers()
	if err != nil {
		return err
	}
	removed := 0
	for _, tag := range tags {
		desc, err := r.resolve(ctx, tag)
		if err != nil {
			return fmt.Errorf("could not remove signature for %s: %w", image, err)
		}
		n, err := revokeDigest(ctx, r, desc.Digest, signers)
		if err != nil {
			return fmt.Errorf("could not remove signature for %s: %w", image, err)
		}
		removed += n
	}
	if removed == 0 {
		return errdefs.NotFound(fmt.Errorf("could not remove signature for %s: no signature by a known key", image))
	}
	fmt.Fprintf(cli.Out(), "Successfully deleted signature for %s\n", image)
	return nil
}

// revokeDigest drops the signatures of manifest d that a known signer
// made, deleting the .sig manifest when none remain (or, where the
// registry forbids deletes, leaving it empty). It returns how many it
// dropped.
func revokeDigest(ctx context.Context, r *remote, d digest.Digest, signers []Signer) (int, error) {
	sigs, err := fetchSignatures(ctx, r, d)
	if err != nil || len(sigs) == 0 {
		return 0, err
	}
	var keep []signature
	for _, sg := range sigs {
		known := false
		for _, k := range signers {
			if verifyPayload(k.Key, sg.payload, sg.value()) {
				known = true
				break
			}
		}
		if !known {
			keep = append(keep, sg)
		}
	}
	n := len(sigs) - len(keep)
	if n == 0 {
		return 0, nil
	}
	if len(keep) == 0 {
		sd, err := r.resolve(ctx, sigTag(d))
		if err != nil {
			return 0, err
		}
		if err := r.deleteManifest(ctx, sd.Digest); err == nil {
			return n, nil
		}
	}
	return n, storeSignatures(ctx, r, d, keep)
}
