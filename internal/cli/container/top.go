package container

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"berth/internal/cli/command"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// NewTopCommand returns `top`.
func NewTopCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			res, err := api.ContainerTop(cmd.Context(), args[0], client.ContainerTopOptions{Arguments: args[1:]})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cli.Out(), 20, 1, 3, ' ', 0)
			fmt.Fprintln(w, strings.Join(res.Titles, "\t"))
			for _, p := range res.Processes {
				fmt.Fprintln(w, strings.Join(p, "\t"))
			}
			return w.Flush()
		},
		Annotations:           map[string]string{command.AnnotationAliases: "berth container top, berth top"},
		DisableFlagsInUseLine: true,
	}
	// Everything after the container is ps's (`top c -o pid,comm`).
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// NewPortCommand returns `port`.
func NewPortCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  command.RequiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPort(cmd.Context(), cli, args)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container port, berth port"},
	}
}

func hostPortString(b network.PortBinding) string {
	ip := "0.0.0.0"
	if b.HostIP.IsValid() {
		ip = b.HostIP.String()
	}
	a, err := netip.ParseAddr(ip)
	if err == nil && a.Is6() {
		return "[" + ip + "]:" + b.HostPort
	}
	return ip + ":" + b.HostPort
}

func runPort(ctx context.Context, cli *command.Cli, args []string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	res, err := api.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	var ports network.PortMap
	if res.Container.NetworkSettings != nil {
		ports = res.Container.NetworkSettings.Ports
	}
	if len(args) == 2 {
		spec := args[1]
		num, proto, _ := strings.Cut(spec, "/")
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			return fmt.Errorf("Error: invalid port (%s): %w", num, err)
		}
		p, ok := network.PortFrom(uint16(n), network.IPProtocol(proto))
		if !ok {
			return fmt.Errorf("Error: invalid port (%s)", spec)
		}
		if bs, ok := ports[p]; ok && len(bs) > 0 {
			for _, b := range bs {
				fmt.Fprintln(cli.Out(), hostPortString(b))
			}
			return nil
		}
		return fmt.Errorf("Error: No public port '%s' published for %s", p, args[0])
	}
	keys := make([]network.Port, 0, len(ports))
	for p := range ports {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Num() != keys[j].Num() {
			return keys[i].Num() < keys[j].Num()
		}
		return keys[i].Proto() < keys[j].Proto()
	})
	for _, p := range keys {
		for _, b := range ports[p] {
			fmt.Fprintf(cli.Out(), "%s -> %s\n", p, hostPortString(b))
		}
	}
	return nil
}
