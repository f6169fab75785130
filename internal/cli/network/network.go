package network

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"
	"berth/internal/cli/opts"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

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

// NewNetworkCommand returns the `network` management command.
func NewNetworkCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage networks",
		Args:  command.NoArgs,
		RunE:  command.ShowHelp(cli.Err()),
	}
	cmd.AddCommand(
		newConnectCommand(cli),
		newCreateCommand(cli),
		newDisconnectCommand(cli),
		newInspectCommand(cli),
		newListCommand(cli),
		newPruneCommand(cli),
		newRemoveCommand(cli),
	)
	return cmd
}

type listOptions struct {
	quiet, noTrunc bool
	format         string
	filter         *opts.FilterOpt
}

func newListCommand(cli *command.Cli) *cobra.Command {
	o := listOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			res, err := api.NetworkList(cmd.Context(), client.NetworkListOptions{Filters: o.filter.Value()})
			if err != nil {
				return err
			}
			items := res.Items
			sort.SliceStable(items, func(i, j int) bool { return items[i].Name < items[j].Name })
			format := formatter.Format(o.format)
			if o.format == "" || o.format == formatter.TableKey {
				format = formatter.DefaultNetworkTableFormat
				if o.quiet {
					format = formatter.NetworkQuietFormat
				}
			}
			f := formatter.Context{Output: cli.Out(), Format: format}
			return f.Write(formatter.NetworkHeader(), formatter.NetworkRows(items, !o.noTrunc))
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth network ls, berth network list"},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Only display network IDs")
	flags.BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate the output")
	flags.StringVar(&o.format, "format", "", formatHelp)
	flags.VarP(o.filter, "filter", "f", `Provide filter values (e.g. "driver=bridge")`)
	return cmd
}

func newInspectCommand(cli *command.Cli) *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			ins, err := formatter.NewInspector(cli.Out(), format)
			if err != nil {
				return command.StatusError{Status: err.Error(), StatusCode: 64}
			}
			var msgs []string
			for _, ref := range args {
				r, err := api.NetworkInspect(cmd.Context(), ref, client.NetworkInspectOptions{Verbose: verbose})
				if err != nil {
					msgs = append(msgs, err.Error())
					continue
				}
				if err := ins.Inspect(formatter.InspectItem{Raw: r.Raw, Typed: r.Network}); err != nil {
					msgs = append(msgs, err.Error())
				}
			}
			if err := ins.Flush(); err != nil {
				return err
			}
			if len(msgs) > 0 {
				return command.StatusError{Status: strings.Join(msgs, "\n"), StatusCode: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

func newRemoveCommand(cli *command.Cli) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			var msgs []string
			for _, n := range args {
				if _, err := api.NetworkRemove(cmd.Context(), n, client.NetworkRemoveOptions{}); err != nil {
					if force && cerrdefs.IsNotFound(err) {
						continue
					}
					msgs = append(msgs, err.Error())
					continue
				}
				fmt.Fprintln(cli.Out(), n)
			}
			if len(msgs) > 0 {
				return errors.New(strings.Join(msgs, "\n"))
			}
			return nil
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth network rm, berth network remove"},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

func newPruneCommand(cli *command.Cli) *cobra.Command {
	var force bool
	filter := opts.NewFilterOpt()
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force {
				ok, err := command.PromptForConfirmation(cmd.Context(), cli.In(), cli.Out(), "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?")
				if err != nil || !ok {
					return err
				}
			}
			api, err := cli.Client()
			if err != nil {
				return err
			}
			res, err := api.NetworkPrune(cmd.Context(), client.NetworkPruneOptions{Filters: filter.Value()})
			if err != nil {
				return err
			}
			if len(res.Report.NetworksDeleted) > 0 {
				fmt.Fprintln(cli.Out(), "Deleted Networks:")
				for _, n := range res.Report.NetworksDeleted {
					fmt.Fprintln(cli.Out(), n)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().Var(filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}
