package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"berth/internal/cli/command"
	"berth/internal/cli/opts"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type createOptions struct {
	driver                        string
	driverOpts                    *opts.MapOpts
	labels                        *opts.ListOpts
	internal, attachable, ingress bool
	ipv4, ipv6                    bool
	scope, configFrom             string
	configOnly                    bool
	ipam                          ipamOptions
}

// ipamOptions are the flags that make up the network's IPAM configuration.
type ipamOptions struct {
	driver       string
	subnets      []string
	ipRanges     []string
	gateways     []string
	auxAddresses *opts.MapOpts
	driverOpts   *opts.MapOpts
}

func newCreateCommand(cli *command.Cli) *cobra.Command {
	o := createOptions{
		driverOpts: opts.NewMapOpts(),
		labels:     opts.NewListOpts(nil),
		ipam:       ipamOptions{auxAddresses: opts.NewMapOpts(), driverOpts: opts.NewMapOpts()},
	}
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

	flags.StringVar(&o.ipam.driver, "ipam-driver", "default", "IP Address Management Driver")
	flags.StringSliceVar(&o.ipam.subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	flags.StringSliceVar(&o.ipam.ipRanges, "ip-range", nil, "Allocate container ip from a sub-range")
	flags.StringSliceVar(&o.ipam.gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	flags.Var(o.ipam.auxAddresses, "aux-address", "Auxiliary IPv4 or IPv6 addresses used by Network driver")
	flags.Var(o.ipam.driverOpts, "ipam-opt", "Set IPAM driver specific options")
	return cmd
}

func runCreate(ctx context.Context, cli *command.Cli, cmd *cobra.Command, o *createOptions, name string) error {
	ipam, err := ipamConfig(o.ipam)
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

// ipamConfig groups --subnet, --ip-range, --gateway and --aux-address by
// subnet, the way the Docker CLI does: ranges, gateways and auxiliary
// addresses belong to the subnet that contains them, not to the subnet given
// at the same position. The checks and their messages are the Docker CLI's
// own (it refuses these before asking the daemon). Subnets keep the order
// they were given in.
func ipamConfig(o ipamOptions) (*network.IPAM, error) {
	if len(o.subnets) < len(o.ipRanges) || len(o.subnets) < len(o.gateways) {
		return nil, errors.New("every ip-range or gateway must have a corresponding subnet")
	}
	configs := make([]network.IPAMConfig, 0, len(o.subnets))
	subnets := make([]*net.IPNet, 0, len(o.subnets))
	for _, s := range o.subnets {
		sn, err := parseSubnet(s)
		if err != nil {
			return nil, err
		}
		for _, prev := range subnets {
			if prev.Contains(sn.IP) || sn.Contains(prev.IP) {
				return nil, errors.New("multiple overlapping subnet configuration is not supported")
			}
		}
		subnets = append(subnets, sn)
		p, err := parsePrefixOrAddr(s)
		if err != nil {
			return nil, err
		}
		configs = append(configs, network.IPAMConfig{Subnet: p})
	}

	for _, r := range o.ipRanges {
		ip, _, err := net.ParseCIDR(r)
		if err != nil {
			return nil, err
		}
		rp, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, err
		}
		match := false
		for i, sn := range subnets {
			if !sn.Contains(ip) {
				continue
			}
			if configs[i].IPRange.IsValid() {
				return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", r, configs[i].IPRange, o.subnets[i])
			}
			configs[i].IPRange = rp.Masked()
			match = true
		}
		if !match {
			return nil, fmt.Errorf("no matching subnet for range %s", r)
		}
	}

	for _, g := range o.gateways {
		ga, gerr := netip.ParseAddr(g)
		match := false
		for i, sn := range subnets {
			if gerr != nil || !sn.Contains(net.IP(ga.AsSlice())) {
				continue
			}
			if configs[i].Gateway.IsValid() {
				return nil, fmt.Errorf("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", g, configs[i].Gateway, o.subnets[i])
			}
			configs[i].Gateway = ga.Unmap()
			match = true
		}
		if !match {
			return nil, fmt.Errorf("no matching subnet for gateway %s", g)
		}
	}

	for key, aa := range o.auxAddresses.GetAll() {
		a, aerr := netip.ParseAddr(aa)
		match := false
		for i, sn := range subnets {
			if aerr != nil || !sn.Contains(net.IP(a.AsSlice())) {
				continue
			}
			if configs[i].AuxAddress == nil {
				configs[i].AuxAddress = map[string]netip.Addr{}
			}
			configs[i].AuxAddress[key] = a.Unmap()
			match = true
		}
		if !match {
			return nil, fmt.Errorf("no matching subnet for aux-address %s", aa)
		}
	}

	return &network.IPAM{Driver: o.driver, Config: configs, Options: o.driverOpts.GetAll()}, nil
}

// parseSubnet parses a --subnet value for the containment checks; a bare
// address is a single-address subnet, as the Docker CLI takes it.
func parseSubnet(s string) (*net.IPNet, error) {
	p, err := parsePrefixOrAddr(s)
	if err != nil {
		return nil, err
	}
	return &net.IPNet{IP: p.Masked().Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, nil
}

// parsePrefixOrAddr parses CIDR notation, or a bare address as /32 (/128).
func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid subnet: invalid CIDR address: %s", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
