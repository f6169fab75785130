package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"berth/internal/cli/command"
	"berth/internal/cli/trust"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Pull policies for --pull.
const (
	pullAlways  = "always"
	pullMissing = "missing"
	pullNever   = "never"
)

// createOptions are the create/run flags that do not end up in the
// container's configuration.
type createOptions struct {
	name      string
	platform  string
	pull      string
	quiet     bool
	untrusted bool
}

// addCreateFlags adds the create/run flags; contentTrust (DOCKER_CONTENT_TRUST)
// is --disable-content-trust's default, negated.
func addCreateFlags(flags *pflag.FlagSet, o *createOptions, verb string, contentTrust bool) {
	flags.StringVar(&o.name, "name", "", "Assign a name to the container")
	flags.StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable")
	flags.StringVar(&o.pull, "pull", pullMissing, fmt.Sprintf(`Pull image before %s ("%s", "%s", "%s")`, verb, pullAlways, pullMissing, pullNever))
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the pull output")
	flags.BoolVar(&o.untrusted, "disable-content-trust", !contentTrust, "Skip image verification")
}

func validatePullOpt(v string) error {
	switch v {
	case pullAlways, pullMissing, pullNever, "":
		return nil
	}
	return fmt.Errorf(`invalid pull option: '%s': must be one of "%s", "%s" or "%s"`, v, pullAlways, pullMissing, pullNever)
}

// NewCreateCommand returns `create`.
func NewCreateCommand(cli *command.Cli) *cobra.Command {
	var o createOptions
	var copts *containerOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCreate(cmd.Context(), cli, cmd, &o, copts, args)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container create, berth create"},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	addCreateFlags(flags, &o, "creating", trust.Enabled(cli))
	copts = addFlags(flags)
	return cmd
}

func runCreate(ctx context.Context, cli *command.Cli, cmd *cobra.Command, o *createOptions, copts *containerOptions, args []string) error {
	fail := func(err error) error {
		err = cli.DescribeError(err)
		return command.StatusError{Cause: err, Status: command.WithHelp(cmd, err), StatusCode: 125}
	}
	if err := validatePullOpt(o.pull); err != nil {
		return fail(err)
	}
	cfg, err := parse(cmd.Flags(), copts, args[0], args[1:], cli.LookupEnv)
	if err != nil {
		return fail(err)
	}
	id, err := createContainer(ctx, cli, cfg, o)
	if err != nil {
		// The daemon's refusal, as the Docker CLI prints it: exit status
		// 1 and no help line (`run` says 125).
		return cli.DescribeError(err)
	}
	fmt.Fprintln(cli.Out(), id)
	return nil
}

// createContainer creates the container, pulling the image first with
// --pull=always, or after a 404 with --pull=missing (printing docker's
// "Unable to find image" line).
func createContainer(ctx context.Context, cli *command.Cli, cfg *containerConfig, o *createOptions) (string, error) {
	api, err := cli.Client()
	if err != nil {
		return "", err
	}
	cid, err := newCIDFile(cfg.HostConfig.ContainerIDFile)
	if err != nil {
		return "", err
	}
	defer cid.Close()

	var namedRef reference.Named
	ref, err := reference.ParseAnyReference(cfg.Config.Image)
	if err != nil {
		return "", err
	}
	if named, ok := ref.(reference.Named); ok {
		namedRef = reference.TagNameOnly(named)
	}
	platform, err := parsePlatform(o.platform)
	if err != nil {
		return "", err
	}

	// Content trust: create from the tag's signed digest, pulling it (and
	// tagging it) when it is not here.
	var trusted *trust.Resolved
	if !o.untrusted {
		if trusted, err = trust.Resolve(ctx, cli, cfg.Config.Image); err != nil {
			return "", err
		}
		if trusted != nil {
			cfg.Config.Image = trusted.Image()
		}
	}
	pullAndTag := func() error {
		if err := pullImage(ctx, cli, api, cfg.Config.Image, o); err != nil || trusted == nil {
			return err
		}
		return trusted.Tag(ctx, cli, cli.Err())
	}

	if o.pull == pullAlways {
		if err := pullAndTag(); err != nil {
			return "", err
		}
	}

	h, w := cli.Out().TtySize()
	cfg.HostConfig.ConsoleSize = [2]uint{h, w}

	opts := client.ContainerCreateOptions{
		Config:           cfg.Config,
		HostConfig:       cfg.HostConfig,
		NetworkingConfig: cfg.NetworkingConfig,
		Platform:         platform,
		Name:             o.name,
	}
	resp, err := api.ContainerCreate(ctx, opts)
	if err != nil {
		if !cerrdefs.IsNotFound(err) || namedRef == nil || o.pull != pullMissing {
			return "", err
		}
		if !o.quiet {
			fmt.Fprintf(cli.Err(), "Unable to find image '%s' locally\n", reference.FamiliarString(namedRef))
		}
		if err := pullAndTag(); err != nil {
			return "", err
		}
		resp, err = api.ContainerCreate(ctx, opts)
		if err != nil {
			return "", err
		}
	}
	for _, warn := range resp.Warnings {
		fmt.Fprintf(cli.Err(), "WARNING: %s\n", warn)
	}
	return resp.ID, cid.Write(resp.ID)
}

// pullImage pulls img and renders the progress on stderr.
func pullImage(ctx context.Context, cli *command.Cli, api client.APIClient, img string, o *createOptions) error {
	var opts client.ImagePullOptions
	if o.platform != "" {
		p, err := parsePlatform(o.platform)
		if err != nil {
			return err
		}
		opts.Platforms = append(opts.Platforms, *p)
	}
	resp, err := api.ImagePull(ctx, img, opts)
	if err != nil {
		return err
	}
	defer resp.Close()
	var out io.Writer = cli.Err()
	fd, isTerm := cli.Err().FD(), cli.Err().IsTerminal()
	if o.quiet {
		out, isTerm = io.Discard, false
	}
	return jsonmessage.DisplayJSONMessagesStream(resp, out, fd, isTerm, nil)
}

// cidFile is --cidfile: created before the container, removed again if no
// ID was written.
type cidFile struct {
	path    string
	file    *os.File
	written bool
}

func newCIDFile(path string) (*cidFile, error) {
	if path == "" {
		return &cidFile{}, nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("failed to create the container ID file: %w", err)
	}
	return &cidFile{path: path, file: f}, nil
}

func (c *cidFile) Write(id string) error {
	if c.file == nil {
		return nil
	}
	if _, err := c.file.WriteString(id); err != nil {
		return fmt.Errorf("failed to write the container ID to the file: %w", err)
	}
	c.written = true
	return nil
}

func (c *cidFile) Close() error {
	if c.file == nil {
		return nil
	}
	err := c.file.Close()
	if !c.written {
		if rerr := os.Remove(c.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return fmt.Errorf("failed to remove the CID file '%s': %w", c.path, rerr)
		}
	}
	return err
}
