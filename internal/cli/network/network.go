package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"
	"berth/internal/cli/opts"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
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
	cmd.AddCommand(newCreateCommand(cli), newInspectCommand(cli), newListCommand(cli), newPruneCommand(cli), newRemoveCommand(cli))
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

type createOptions struct {
	driver                        string
	driverOpts                    *opts.MapOpts
	labels                        *opts.ListOpts
	internal, attachable, ingress bool
	ipv4, ipv6                    bool
	subnets, gateways, ipRanges   []string
	scope, configFrom             string
	configOnly                    bool
}

func newCreateCommand(cli *command.Cli) *cobra.Command {
	o := createOptions{driverOpts: opts.NewMapOpts(), labels: opts.NewListOpts(nil)}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCreate(cmd.Context(), cli, cmd, &o, args[0])
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.driver, "driver", "d", "bridge", "Driver to manage the Network")
	flags.VarP(o.driverOpts, "opt", "o", "Set driver specific options")
	flags.Var(o.labels, "label", "Set metadata on a network")
	flags.BoolVar(&o.internal, "internal", false, "Restrict external access to the network")
	flags.BoolVar(&o.ipv4, "ipv4", true, "Enable or disable IPv4 address assignment")
	flags.BoolVar(&o.ipv6, "ipv6", false, "Enable or disable IPv6 address assignment")
	flags.BoolVar(&o.attachable, "attachable", false, "Enable manual container attachment")
	flags.BoolVar(&o.ingress, "ingress", false, "Create swarm routing-mesh network")
	flags.StringVar(&o.scope, "scope", "", "Control the network's scope")
	flags.BoolVar(&o.configOnly, "config-only", false, "Create a configuration only network")
	flags.StringVar(&o.configFrom, "config-from", "", "The network from which to copy the configuration")
	flags.StringSliceVar(&o.subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	flags.StringSliceVar(&o.ipRanges, "ip-range", nil, "Allocate container ip from a sub-range")
	flags.StringSliceVar(&o.gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	return cmd
}

func runCreate(ctx context.Context, cli *command.Cli, cmd *cobra.Command, o *createOptions, name string) error {
	ipam, err := ipamConfig(o)
	if err != nil {
		return err
	}
	copts := client.NetworkCreateOptions{
		Driver:     o.driver,
		Options:    o.driverOpts.GetAll(),
		Labels:     opts.ConvertKVStringsToMap(o.labels.GetSlice()),
		IPAM:       ipam,
		Internal:   o.internal,
		Attachable: o.attachable,
		Ingress:    o.ingress,
		Scope:      o.scope,
		ConfigOnly: o.configOnly,
		ConfigFrom: o.configFrom,
	}
	if cmd.Flags().Changed("ipv4") {
		v := o.ipv4
		copts.EnableIPv4 = &v
	}
	if cmd.Flags().Changed("ipv6") {
		v := o.ipv6
		copts.EnableIPv6 = &v
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	res, err := api.NetworkCreate(ctx, name, copts)
	if err != nil {
		return err
	}
	for _, w := range res.Warning {
		fmt.Fprintln(cli.Err(), "WARNING:", w)
	}
	fmt.Fprintln(cli.Out(), res.ID)
	return nil
}

func ipamConfig(o *createOptions) (*network.IPAM, error) {
	if len(o.subnets) == 0 {
		if len(o.gateways) > 0 || len(o.ipRanges) > 0 {
			return nil, errors.New("every ip-range or gateway must have a corresponding subnet")
		}
		return &network.IPAM{Driver: "default"}, nil
	}
	ipam := &network.IPAM{Driver: "default"}
	for i, s := range o.subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid subnet %s: %w", s, err)
		}
		cfg := network.IPAMConfig{Subnet: p}
		if i < len(o.gateways) {
			g, err := netip.ParseAddr(o.gateways[i])
			if err != nil {
				return nil, fmt.Errorf("invalid gateway %s", o.gateways[i])
			}
			cfg.Gateway = g
		}
		if i < len(o.ipRanges) {
			r, err := netip.ParsePrefix(o.ipRanges[i])
			if err != nil {
				return nil, fmt.Errorf("invalid ip-range %s", o.ipRanges[i])
			}
			cfg.IPRange = r
		}
		ipam.Config = append(ipam.Config, cfg)
	}
	return ipam, nil
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
