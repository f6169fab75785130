package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/opts"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// connectOptions are `network connect`'s flags, as the Docker CLI 28 has them.
type connectOptions struct {
	ipv4, ipv6   string
	links        *opts.ListOpts
	aliases      []string
	linkLocalIPs []string
	driverOpts   []string
	gwPriority   int
}

func newConnectCommand(cli *command.Cli) *cobra.Command {
	o := connectOptions{links: opts.NewListOpts(validateLink)}
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  command.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := o.endpointSettings()
			if err != nil {
				return err
			}
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runConnect(cmd.Context(), api, args[0], args[1], settings)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&o.ipv4, "ip", "", `IPv4 address (e.g., "172.30.100.104")`)
	flags.StringVar(&o.ipv6, "ip6", "", `IPv6 address (e.g., "2001:db8::33")`)
	flags.Var(o.links, "link", "Add link to another container")
	flags.StringSliceVar(&o.aliases, "alias", []string{}, "Add network-scoped alias for the container")
	flags.StringSliceVar(&o.linkLocalIPs, "link-local-ip", []string{}, "Add a link-local address for the container")
	flags.StringSliceVar(&o.driverOpts, "driver-opt", []string{}, "driver options for the network")
	flags.IntVar(&o.gwPriority, "gw-priority", 0, "Highest gw-priority provides the default gateway. Accepts positive and negative values.")
	return cmd
}

// networkConnecter is what connect needs of the API client.
type networkConnecter interface {
	NetworkConnect(ctx context.Context, network string, options client.NetworkConnectOptions) (client.NetworkConnectResult, error)
}

// runConnect attaches ctr to nw. Like the Docker CLI it prints nothing on
// success.
func runConnect(ctx context.Context, api networkConnecter, nw, ctr string, settings *network.EndpointSettings) error {
	_, err := api.NetworkConnect(ctx, nw, client.NetworkConnectOptions{Container: ctr, EndpointConfig: settings})
	return err
}

// endpointSettings turns the flags into the request's EndpointConfig. The
// Docker CLI 28 sends the addresses as text and leaves their checks to the
// daemon; berth's client sends typed addresses, so it refuses unparsable
// ones here with the daemon's words.
func (o *connectOptions) endpointSettings() (*network.EndpointSettings, error) {
	driverOpts, err := convertDriverOpts(o.driverOpts)
	if err != nil {
		return nil, err
	}
	ipam := &network.EndpointIPAMConfig{}
	var errs []error
	if o.ipv4 != "" {
		a, err := netip.ParseAddr(o.ipv4)
		if err != nil || !a.Unmap().Is4() || a.IsUnspecified() {
			errs = append(errs, fmt.Errorf("invalid IPv4 address: %s", o.ipv4))
		} else {
			ipam.IPv4Address = a.Unmap()
		}
	}
	if o.ipv6 != "" {
		a, err := netip.ParseAddr(o.ipv6)
		if err != nil || !a.Is6() || a.Is4In6() || a.IsUnspecified() {
			errs = append(errs, fmt.Errorf("invalid IPv6 address: %s", o.ipv6))
		} else {
			ipam.IPv6Address = a
		}
	}
	for _, s := range o.linkLocalIPs {
		a, err := netip.ParseAddr(s)
		if err != nil || a.IsUnspecified() {
			errs = append(errs, fmt.Errorf("invalid link-local IP address: %s", s))
			continue
		}
		ipam.LinkLocalIPs = append(ipam.LinkLocalIPs, a.Unmap())
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid endpoint settings:\n%w", errors.Join(errs...))
	}
	return &network.EndpointSettings{
		IPAMConfig: ipam,
		Links:      o.links.GetSlice(),
		Aliases:    o.aliases,
		DriverOpts: driverOpts,
		GwPriority: o.gwPriority,
	}, nil
}

// convertDriverOpts parses --driver-opt key=value pairs.
func convertDriverOpts(list []string) (map[string]string, error) {
	m := make(map[string]string, len(list))
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, errors.New("invalid key/value pair format in driver options")
		}
		m[k] = strings.TrimSpace(v)
	}
	return m, nil
}

// validateLink checks a --link value (NAME or NAME:ALIAS) as the Docker CLI
// does, keeping it as given.
func validateLink(v string) (string, error) {
	if v == "" {
		return "", errors.New("empty string specified for links")
	}
	if strings.Count(v, ":") > 1 {
		return "", errors.New("bad format for links: " + v)
	}
	return v, nil
}

func newDisconnectCommand(cli *command.Cli) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  command.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runDisconnect(cmd.Context(), api, args[0], args[1], force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

// networkDisconnecter is what disconnect needs of the API client.
type networkDisconnecter interface {
	NetworkDisconnect(ctx context.Context, network string, options client.NetworkDisconnectOptions) (client.NetworkDisconnectResult, error)
}

// runDisconnect detaches ctr from nw; like the Docker CLI it prints nothing
// on success.
func runDisconnect(ctx context.Context, api networkDisconnecter, nw, ctr string, force bool) error {
	_, err := api.NetworkDisconnect(ctx, nw, client.NetworkDisconnectOptions{Container: ctr, Force: force})
	return err
}
