package image

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"
	"berth/internal/cli/opts"

	cerrdefs "github.com/containerd/errdefs"
	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// NewTagCommand returns `tag`.
func NewTagCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  command.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			_, err = api.ImageTag(cmd.Context(), client.ImageTagOptions{Source: args[0], Target: args[1]})
			return err
		},
		Annotations:           map[string]string{command.AnnotationAliases: "berth image tag, berth tag"},
		DisableFlagsInUseLine: true,
	}
}

type rmiOptions struct {
	force, noPrune bool
	platforms      []string
}

// NewRmiCommand returns `rmi`.
func NewRmiCommand(cli *command.Cli) *cobra.Command {
	cmd := newRemoveCommand(cli)
	cmd.Use = "rmi [OPTIONS] IMAGE [IMAGE...]"
	cmd.Aliases = nil
	return cmd
}

func newRemoveCommand(cli *command.Cli) *cobra.Command {
	var o rmiOptions
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] IMAGE [IMAGE...]",
		Aliases: []string{"rmi", "remove"},
		Short:   "Remove one or more images",
		Args:    command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRmi(cmd.Context(), cli, &o, args)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth image rm, berth image remove, berth rmi"},
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&o.noPrune, "no-prune", false, "Do not delete untagged parents")
	cmd.Flags().StringSliceVar(&o.platforms, "platform", nil, "Remove only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")")
	return cmd
}

func runRmi(ctx context.Context, cli *command.Cli, o *rmiOptions, images []string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	opts := client.ImageRemoveOptions{Force: o.force, PruneChildren: !o.noPrune}
	for _, p := range o.platforms {
		pl, err := parsePlatform(p)
		if err != nil {
			return err
		}
		opts.Platforms = append(opts.Platforms, *pl)
	}
	var msgs []string
	fatal := false
	for _, img := range images {
		res, err := api.ImageRemove(ctx, img, opts)
		if err != nil {
			if !cerrdefs.IsNotFound(err) {
				fatal = true
			}
			msgs = append(msgs, err.Error())
			continue
		}
		for _, d := range res.Items {
			if d.Deleted != "" {
				fmt.Fprintf(cli.Out(), "Deleted: %s\n", d.Deleted)
			} else {
				fmt.Fprintf(cli.Out(), "Untagged: %s\n", d.Untagged)
			}
		}
	}
	if len(msgs) > 0 {
		msg := strings.Join(msgs, "\n")
		if !o.force || fatal {
			return errors.New(msg)
		}
		fmt.Fprintln(cli.Err(), msg)
	}
	return nil
}

type historyOptions struct {
	human, quiet, noTrunc bool
	format, platform      string
}

// NewHistoryCommand returns `history`.
func NewHistoryCommand(cli *command.Cli) *cobra.Command {
	var o historyOptions
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd.Context(), cli, &o, args[0])
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth image history, berth history"},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.human, "human", "H", true, "Print sizes and dates in human readable format")
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Only show image IDs")
	flags.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.StringVar(&o.format, "format", "", formatHelp)
	flags.StringVar(&o.platform, "platform", "", "Show history for the given platform. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")")
	return cmd
}

func runHistory(ctx context.Context, cli *command.Cli, o *historyOptions, ref string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	var hopts []client.ImageHistoryOption
	if o.platform != "" {
		p, err := parsePlatform(o.platform)
		if err != nil {
			return err
		}
		hopts = append(hopts, client.ImageHistoryWithPlatform(*p))
	}
	res, err := api.ImageHistory(ctx, ref, hopts...)
	if err != nil {
		return err
	}
	format := formatter.Format(o.format)
	if o.format == "" || o.format == formatter.TableKey {
		format = formatter.DefaultHistoryTableFormat
		if o.quiet {
			format = formatter.HistoryQuietFormat
		}
	}
	f := formatter.Context{Output: cli.Out(), Format: format}
	return f.Write(formatter.HistoryHeader(o.human), formatter.HistoryRows(res.Items, !o.noTrunc, o.human, time.Now()))
}

type pruneOptions struct {
	force, all bool
	filter     *opts.FilterOpt
}

func newPruneCommand(cli *command.Cli) *cobra.Command {
	o := pruneOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			space, out, err := RunPrune(cmd.Context(), cli, o.all, o.force, o.filter)
			if err != nil || space < 0 {
				return err
			}
			if out != "" {
				fmt.Fprintln(cli.Out(), out)
			}
			fmt.Fprintln(cli.Out(), "Total reclaimed space:", units.HumanSize(float64(space)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&o.all, "all", "a", false, "Remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().Var(o.filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// RunPrune prunes dangling (or, with all, unused) images after asking
// unless force; it returns -1 as the space when the user declines.
func RunPrune(ctx context.Context, cli *command.Cli, all, force bool, filter *opts.FilterOpt) (int64, string, error) {
	filters := filter.Value().Clone()
	filters.Add("dangling", fmt.Sprintf("%t", !all))
	warning := "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
	if all {
		warning = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
	}
	if !force {
		ok, err := command.PromptForConfirmation(ctx, cli.In(), cli.Out(), warning)
		if err != nil || !ok {
			return -1, "", err
		}
	}
	api, err := cli.Client()
	if err != nil {
		return 0, "", err
	}
	res, err := api.ImagePrune(ctx, client.ImagePruneOptions{Filters: filters})
	if err != nil {
		return 0, "", err
	}
	var sb strings.Builder
	if len(res.Report.ImagesDeleted) > 0 {
		sb.WriteString("Deleted Images:\n")
		for _, d := range res.Report.ImagesDeleted {
			if d.Untagged != "" {
				sb.WriteString("untagged: " + d.Untagged + "\n")
			} else {
				sb.WriteString("deleted: " + d.Deleted + "\n")
			}
		}
	}
	return int64(res.Report.SpaceReclaimed), sb.String(), nil
}
