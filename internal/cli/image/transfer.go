package image

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/opts"
	"berth/internal/cli/registry"
	"berth/internal/cli/trust"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// parsePlatform parses os[/arch[/variant]].
func parsePlatform(s string) (*ocispec.Platform, error) {
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) > 3 || parts[0] == "" {
		return nil, fmt.Errorf("%q: unknown operating system or architecture: invalid argument", s)
	}
	p := &ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p, nil
}

// displayStream renders a JSON progress stream on the CLI's stdout.
func displayStream(cli *command.Cli, r io.Reader) error {
	return jsonmessage.DisplayJSONMessagesStream(r, cli.Out(), cli.Out().FD(), cli.Out().IsTerminal(), nil)
}

type importOptions struct {
	source, reference, message, platform string
	changes                              *opts.ListOpts
}

// NewImportCommand returns `import`.
func NewImportCommand(cli *command.Cli) *cobra.Command {
	o := importOptions{changes: opts.NewListOpts(nil)}
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.source = args[0]
			if len(args) > 1 {
				o.reference = args[1]
			}
			return runImport(cmd.Context(), cli, &o)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth image import, berth import"},
	}
	flags := cmd.Flags()
	flags.VarP(o.changes, "change", "c", "Apply Dockerfile instruction to the created image")
	flags.StringVarP(&o.message, "message", "m", "", "Set commit message for imported image")
	flags.StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable")
	return cmd
}

func runImport(ctx context.Context, cli *command.Cli, o *importOptions) error {
	var src client.ImageImportSource
	switch {
	case o.source == "-":
		src = client.ImageImportSource{Source: cli.In(), SourceName: "-"}
	case strings.HasPrefix(o.source, "https://"), strings.HasPrefix(o.source, "http://"):
		src = client.ImageImportSource{SourceName: o.source}
	default:
		f, err := os.Open(o.source)
		if err != nil {
			return err
		}
		defer f.Close()
		src = client.ImageImportSource{Source: f, SourceName: "-"}
	}
	iopts := client.ImageImportOptions{Message: o.message, Changes: o.changes.GetSlice()}
	if o.platform != "" {
		p, err := parsePlatform(o.platform)
		if err != nil {
			return err
		}
		iopts.Platform = *p
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	body, err := api.ImageImport(ctx, src, o.reference, iopts)
	if err != nil {
		return err
	}
	defer body.Close()
	return displayStream(cli, body)
}

type saveOptions struct {
	output   string
	platform string
}

// NewSaveCommand returns `save`.
func NewSaveCommand(cli *command.Cli) *cobra.Command {
	var o saveOptions
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSave(cmd.Context(), cli, &o, args)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth image save, berth save"},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Write to a file, instead of STDOUT")
	cmd.Flags().StringVar(&o.platform, "platform", "", "Save only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")")
	return cmd
}

func runSave(ctx context.Context, cli *command.Cli, o *saveOptions, images []string) error {
	if o.output == "" && cli.Out().IsTerminal() {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	if o.output != "" {
		dir := filepath.Dir(filepath.Clean(o.output))
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("failed to save image: invalid output path: directory %q does not exist", dir)
		}
	}
	var sopts []client.ImageSaveOption
	if o.platform != "" {
		p, err := parsePlatform(o.platform)
		if err != nil {
			return err
		}
		sopts = append(sopts, client.ImageSaveWithPlatforms(*p))
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	body, err := api.ImageSave(ctx, images, sopts...)
	if err != nil {
		return err
	}
	defer body.Close()
	if o.output == "" {
		_, err := io.Copy(cli.Out(), body)
		return err
	}
	return copyToFile(o.output, body)
}

// copyToFile writes r to a temporary file beside path and renames it into
// place, so a failed save leaves no partial archive.
func copyToFile(path string, r io.Reader) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".berth_temp_")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

type loadOptions struct {
	input    string
	quiet    bool
	platform string
}

// NewLoadCommand returns `load`.
func NewLoadCommand(cli *command.Cli) *cobra.Command {
	var o loadOptions
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoad(cmd.Context(), cli, &o)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth image load, berth load"},
	}
	cmd.Flags().StringVarP(&o.input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the load output")
	cmd.Flags().StringVar(&o.platform, "platform", "", "Load only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")")
	return cmd
}

func runLoad(ctx context.Context, cli *command.Cli, o *loadOptions) error {
	var in io.Reader = cli.In()
	if o.input != "" {
		f, err := os.Open(o.input)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	} else if cli.In().IsTerminal() {
		return errors.New("requested load from stdin, but stdin is empty")
	}
	quiet := o.quiet || !cli.Out().IsTerminal()
	lopts := []client.ImageLoadOption{client.ImageLoadWithQuiet(quiet)}
	if o.platform != "" {
		p, err := parsePlatform(o.platform)
		if err != nil {
			return err
		}
		lopts = append(lopts, client.ImageLoadWithPlatforms(*p))
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	body, err := api.ImageLoad(ctx, in, lopts...)
	if err != nil {
		return err
	}
	defer body.Close()
	// The daemon answers with a JSON message stream; older daemons sent
	// plain text, which is copied through.
	br := bufio.NewReader(body)
	if b, err := br.Peek(1); err == nil && b[0] == '{' {
		return displayStream(cli, br)
	}
	_, err = io.Copy(cli.Out(), br)
	return err
}

// transferOptions are the flags pull and push share.
type transferOptions struct {
	all      bool
	quiet    bool
	platform string
	trust    bool
}

// NewPullCommand returns `pull`.
func NewPullCommand(cli *command.Cli) *cobra.Command {
	var o transferOptions
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd.Context(), cli, &o, args[0])
		},
		Annotations: map[string]string{
			command.AnnotationAliases: "berth image pull, berth pull",
			command.AnnotationTop:     "5",
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.all, "all-tags", "a", false, "Download all tagged images in the repository")
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress verbose output")
	flags.StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable")
	flags.BoolVar(&o.trust, "disable-content-trust", !trust.Enabled(cli), "Skip image verification")
	return cmd
}

// NewPushCommand returns `push`.
func NewPushCommand(cli *command.Cli) *cobra.Command {
	var o transferOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd.Context(), cli, &o, args[0])
		},
		Annotations: map[string]string{
			command.AnnotationAliases: "berth image push, berth push",
			command.AnnotationTop:     "6",
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.all, "all-tags", "a", false, "Push all tags of an image to the repository")
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress verbose output")
	flags.StringVar(&o.platform, "platform", "", "Push a platform-specific manifest as a single-platform image to the registry.\nImage index won't be pushed, meaning that other manifests, including attestations won't be preserved.\n'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)")
	flags.BoolVar(&o.trust, "disable-content-trust", !trust.Enabled(cli), "Skip image signing")
	return cmd
}

// transferRef normalises name as pull and push do: --all-tags takes a bare
// repository, otherwise a bare one means :latest ("Using default tag").
func transferRef(cli *command.Cli, o *transferOptions, name string) (reference.Named, *ocispec.Platform, error) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, nil, err
	}
	if o.all && !reference.IsNameOnly(named) {
		return nil, nil, errors.New("tag can't be used with --all-tags/-a")
	}
	if !o.all && reference.IsNameOnly(named) {
		named = reference.TagNameOnly(named)
		if t, ok := named.(reference.Tagged); ok && !o.quiet {
			fmt.Fprintf(cli.Out(), "Using default tag: %s\n", t.Tag())
		}
	}
	if o.platform == "" {
		return named, nil, nil
	}
	p, err := parsePlatform(o.platform)
	return named, p, err
}

// showTransfer displays the daemon's progress stream (nothing with -q),
// handing aux messages (push results) to aux when it is not nil.
func showTransfer(cli *command.Cli, o *transferOptions, resp io.Reader, aux func(jsonstream.Message)) error {
	out := io.Writer(cli.Out())
	isTerm := cli.Out().IsTerminal()
	if o.quiet {
		out, isTerm = io.Discard, false
	}
	return jsonmessage.DisplayJSONMessagesStream(resp, out, cli.Out().FD(), isTerm, aux)
}

func runPull(ctx context.Context, cli *command.Cli, o *transferOptions, name string) error {
	named, platform, err := transferRef(cli, o, name)
	if err != nil {
		return err
	}
	popts := client.ImagePullOptions{All: o.all, RegistryAuth: registry.EncodedAuthForImage(cli, named.String())}
	if platform != nil {
		popts.Platforms = []ocispec.Platform{*platform}
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	pull := func(ctx context.Context, ref string) error {
		resp, err := api.ImagePull(ctx, ref, popts)
		if err != nil {
			return err
		}
		defer resp.Close()
		return showTransfer(cli, o, resp, nil)
	}
	if !o.trust {
		// Content trust: pull the signed digest of each tag (of every
		// signed tag with -a), then tag it.
		popts.All = false
		var out io.Writer = cli.Out()
		if o.quiet {
			out = io.Discard
		}
		err = trust.Pull(ctx, cli, named, out, pull)
	} else {
		err = pull(ctx, reference.FamiliarString(named))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(cli.Out(), named.String())
	return nil
}

func runPush(ctx context.Context, cli *command.Cli, o *transferOptions, name string) error {
	named, platform, err := transferRef(cli, o, name)
	if err != nil {
		return err
	}
	popts := client.ImagePushOptions{All: o.all, RegistryAuth: registry.EncodedAuthForImage(cli, named.String()), Platform: platform}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	resp, err := api.ImagePush(ctx, reference.FamiliarString(named), popts)
	if err != nil {
		return err
	}
	defer resp.Close()
	var signer *trust.PushSigner
	var aux func(jsonstream.Message)
	if !o.trust {
		// Content trust: sign the digests the push reports.
		signer = trust.NewPushSigner(cli)
		aux = signer.Record
	}
	if err := showTransfer(cli, o, resp, aux); err != nil {
		return err
	}
	if signer != nil {
		if err := signer.Sign(ctx, named); err != nil {
			return err
		}
	}
	if o.quiet {
		fmt.Fprintln(cli.Out(), named.String())
	}
	return nil
}
