package image

import (
	"context"
	"time"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"
	"berth/internal/cli/opts"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// formatHelp is docker's --format description for list commands.
const formatHelp = `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`

const inspectFormatHelp = `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`

type imagesOptions struct {
	matchName   string
	quiet       bool
	all         bool
	noTrunc     bool
	showDigests bool
	format      string
	filter      *opts.FilterOpt
	tree        bool
}

// NewImagesCommand returns `images`.
func NewImagesCommand(cli *command.Cli) *cobra.Command {
	cmd := newListCommand(cli)
	cmd.Use = "images [OPTIONS] [REPOSITORY[:TAG]]"
	cmd.Aliases = nil
	cmd.Annotations = map[string]string{
		command.AnnotationAliases: "berth image ls, berth image list, berth images",
		command.AnnotationTop:     "7",
	}
	return cmd
}

func newListCommand(cli *command.Cli) *cobra.Command {
	o := imagesOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    command.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				o.matchName = args[0]
			}
			return runImages(cmd.Context(), cli, &o)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth image ls, berth image list, berth images"},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Only show image IDs")
	flags.BoolVarP(&o.all, "all", "a", false, "Show all images (default hides intermediate images)")
	flags.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVar(&o.showDigests, "digests", false, "Show digests")
	flags.StringVar(&o.format, "format", "", formatHelp)
	flags.VarP(o.filter, "filter", "f", "Filter output based on conditions provided")
	flags.BoolVar(&o.tree, "tree", false, "List multi-platform images as a tree (EXPERIMENTAL)")
	return cmd
}

func imagesFormat(o *imagesOptions) formatter.Format {
	if o.format != "" && o.format != formatter.TableKey {
		return formatter.Format(o.format)
	}
	switch {
	case o.quiet:
		return formatter.ImageQuietFormat
	case o.showDigests:
		return formatter.DefaultImageTableFormatWithDigest
	}
	return formatter.DefaultImageTableFormat
}

func runImages(ctx context.Context, cli *command.Cli, o *imagesOptions) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	filters := o.filter.Value().Clone()
	if o.matchName != "" {
		filters.Add("reference", o.matchName)
	}
	res, err := api.ImageList(ctx, client.ImageListOptions{All: o.all, Filters: filters})
	if err != nil {
		return err
	}
	f := formatter.Context{Output: cli.Out(), Format: imagesFormat(o)}
	return f.Write(formatter.ImageHeader(), formatter.ImageRows(res.Items, !o.noTrunc, o.showDigests, time.Now()))
}
