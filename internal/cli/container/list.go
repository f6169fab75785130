package container

import (
	"context"
	"strings"
	"time"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"
	"berth/internal/cli/opts"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// FormatHelp is docker's --format description for list commands.
const FormatHelp = `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`

// InspectFormatHelp is docker's --format description for inspect-like
// commands.
const InspectFormatHelp = `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`

type psOptions struct {
	quiet   bool
	size    bool
	all     bool
	noTrunc bool
	nLatest bool
	last    int
	format  string
	filter  *opts.FilterOpt
}

// NewPsCommand returns `ps`.
func NewPsCommand(cli *command.Cli) *cobra.Command {
	cmd := newListCommand(cli)
	cmd.Use = "ps [OPTIONS]"
	cmd.Aliases = nil
	cmd.Annotations = map[string]string{
		command.AnnotationAliases: "berth container ls, berth container list, berth container ps, berth ps",
		command.AnnotationTop:     "3",
	}
	return cmd
}

func newListCommand(cli *command.Cli) *cobra.Command {
	o := psOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"ps", "list"},
		Short:   "List containers",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPs(cmd.Context(), cli, &o)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container ls, berth container list, berth container ps, berth ps"},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Only display container IDs")
	flags.BoolVarP(&o.size, "size", "s", false, "Display total file sizes")
	flags.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	flags.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVarP(&o.nLatest, "latest", "l", false, "Show the latest created container (includes all states)")
	flags.IntVarP(&o.last, "last", "n", -1, "Show n last created containers (includes all states)")
	flags.StringVarP(&o.format, "format", "", "", FormatHelp)
	flags.VarP(o.filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

// psFormat picks the template: an explicit --format wins, "table" (or no
// format) means the default columns, -q means IDs only.
func psFormat(o *psOptions) formatter.Format {
	f := o.format
	switch {
	case f == "" || f == formatter.TableKey:
		if o.quiet {
			return formatter.ContainerQuietFormat
		}
		d := formatter.DefaultContainerTableFormat
		if o.size {
			d += `\t{{.Size}}`
		}
		return formatter.Format(d)
	}
	return formatter.Format(f)
}

func runPs(ctx context.Context, cli *command.Cli, o *psOptions) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	lo := client.ContainerListOptions{All: o.all, Limit: o.last, Size: o.size, Filters: o.filter.Value()}
	if o.nLatest && o.last == -1 {
		lo.Limit = 1
	}
	if lo.Limit > 0 {
		lo.All = true
	}
	if !lo.Size && strings.Contains(o.format, ".Size") {
		lo.Size = true
	}
	res, err := api.ContainerList(ctx, lo)
	if err != nil {
		return err
	}
	fctx := formatter.Context{Output: cli.Out(), Format: psFormat(o)}
	return fctx.Write(formatter.ContainerHeader(), formatter.ContainerRows(res.Items, !o.noTrunc, time.Now()))
}
