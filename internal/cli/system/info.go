package system

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// clientInfo is the "Client" half of `info`.
type clientInfo struct {
	Version string
	Context string
	Debug   bool
}

// Info is what `info --format` templates see: the daemon's info plus
// ClientInfo and ServerErrors.
type Info struct {
	*system.Info
	ClientInfo   *clientInfo `json:",omitempty"`
	ServerErrors []string    `json:",omitempty"`
}

// NewInfoCommand returns `info` (and `system info`).
func NewInfoCommand(cli *command.Cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInfo(cmd.Context(), cli, format)
		},
		Annotations: map[string]string{
			command.AnnotationAliases: "berth system info, berth info",
			command.AnnotationTop:     "12",
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

func runInfo(ctx context.Context, cli *command.Cli, format string) error {
	info := Info{ClientInfo: &clientInfo{Version: cli.Version, Context: cli.CurrentContext(), Debug: cli.Opts.Debug}}
	var serverErr error
	if api, err := cli.Client(); err != nil {
		serverErr = err
	} else if res, err := api.Info(ctx, client.InfoOptions{}); err != nil {
		serverErr = err
	} else {
		info.Info = &res.Info
	}
	if format != "" {
		if serverErr != nil {
			info.ServerErrors = append(info.ServerErrors, serverErr.Error())
		}
		if info.Info == nil {
			info.Info = &system.Info{}
		}
		tmpl := format
		if format == formatter.JSONKey {
			tmpl = "{{json .}}"
		}
		out, err := formatter.Execute(tmpl, info)
		if err != nil {
			return command.StatusError{Status: err.Error(), StatusCode: 64}
		}
		fmt.Fprintln(cli.Out(), out)
		return serverErr
	}

	out := cli.Out()
	fmt.Fprintln(out, "Client:")
	fmt.Fprintln(out, " Version:   ", info.ClientInfo.Version)
	fmt.Fprintln(out, " Context:   ", info.ClientInfo.Context)
	fmt.Fprintln(out, " Debug Mode:", info.ClientInfo.Debug)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Server:")
	if serverErr != nil {
		return serverErr
	}
	printServerInfo(out, cli.Err(), info.Info, cli.Opts.Debug)
	return nil
}

func nonEmpty(w io.Writer, label string, v string) {
	if v != "" {
		fmt.Fprintln(w, label, v)
	}
}

// printServerInfo renders the daemon's info in docker's layout.
func printServerInfo(w, errw io.Writer, info *system.Info, clientDebug bool) {
	fmt.Fprintln(w, " Containers:", info.Containers)
	fmt.Fprintln(w, "  Running:", info.ContainersRunning)
	fmt.Fprintln(w, "  Paused:", info.ContainersPaused)
	fmt.Fprintln(w, "  Stopped:", info.ContainersStopped)
	fmt.Fprintln(w, " Images:", info.Images)
	nonEmpty(w, " Server Version:", info.ServerVersion)
	nonEmpty(w, " Storage Driver:", info.Driver)
	for _, p := range info.DriverStatus {
		fmt.Fprintf(w, "  %s: %s\n", p[0], p[1])
	}
	for _, p := range info.SystemStatus {
		fmt.Fprintf(w, " %s: %s\n", p[0], p[1])
	}
	nonEmpty(w, " Logging Driver:", info.LoggingDriver)
	nonEmpty(w, " Cgroup Driver:", info.CgroupDriver)
	nonEmpty(w, " Cgroup Version:", info.CgroupVersion)
	fmt.Fprintln(w, " Plugins:")
	fmt.Fprintln(w, "  Volume:", strings.Join(info.Plugins.Volume, " "))
	fmt.Fprintln(w, "  Network:", strings.Join(info.Plugins.Network, " "))
	if len(info.Plugins.Authorization) != 0 {
		fmt.Fprintln(w, "  Authorization:", strings.Join(info.Plugins.Authorization, " "))
	}
	fmt.Fprintln(w, "  Log:", strings.Join(info.Plugins.Log, " "))
	if len(info.CDISpecDirs) > 0 {
		fmt.Fprintln(w, " CDI spec directories:")
		for _, d := range info.CDISpecDirs {
			fmt.Fprintln(w, "  "+d)
		}
	}
	fmt.Fprintln(w, " Swarm:", info.Swarm.LocalNodeState)
	if st := info.Swarm.LocalNodeState; st != "inactive" && st != "locked" {
		fmt.Fprintln(w, "  NodeID:", info.Swarm.NodeID)
		if info.Swarm.Error != "" {
			fmt.Fprintln(w, "  Error:", info.Swarm.Error)
		}
		fmt.Fprintln(w, "  Is Manager:", info.Swarm.ControlAvailable)
		fmt.Fprintln(w, "  Node Address:", info.Swarm.NodeAddr)
	}
	if len(info.Runtimes) > 0 {
		names := make([]string, 0, len(info.Runtimes))
		for n := range info.Runtimes {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintln(w, " Runtimes:", strings.Join(names, " "))
		fmt.Fprintln(w, " Default Runtime:", info.DefaultRuntime)
	}
	if info.OSType == "linux" {
		fmt.Fprintln(w, " Init Binary:", info.InitBinary)
		fmt.Fprintln(w, " containerd version:", info.ContainerdCommit.ID)
		fmt.Fprintln(w, " runc version:", info.RuncCommit.ID)
		fmt.Fprintln(w, " init version:", info.InitCommit.ID)
		if len(info.SecurityOptions) != 0 {
			fmt.Fprintln(w, " Security Options:")
			for _, so := range info.SecurityOptions {
				name, profile := "", ""
				for _, kv := range strings.Split(so, ",") {
					k, v, _ := strings.Cut(kv, "=")
					switch k {
					case "name":
						name = v
					case "profile":
						profile = v
					}
				}
				if name == "" {
					name = so
				}
				fmt.Fprintln(w, "  "+name)
				if profile != "" {
					fmt.Fprintln(w, "   Profile:", profile)
				}
			}
		}
	}
	nonEmpty(w, " Kernel Version:", info.KernelVersion)
	nonEmpty(w, " Operating System:", info.OperatingSystem)
	nonEmpty(w, " OSType:", info.OSType)
	nonEmpty(w, " Architecture:", info.Architecture)
	fmt.Fprintln(w, " CPUs:", info.NCPU)
	fmt.Fprintln(w, " Total Memory:", units.BytesSize(float64(info.MemTotal)))
	nonEmpty(w, " Name:", info.Name)
	nonEmpty(w, " ID:", info.ID)
	fmt.Fprintln(w, " Docker Root Dir:", info.DockerRootDir)
	fmt.Fprintln(w, " Debug Mode:", info.Debug)
	if info.Debug || clientDebug {
		fmt.Fprintln(w, "  File Descriptors:", info.NFd)
		fmt.Fprintln(w, "  Goroutines:", info.NGoroutines)
		fmt.Fprintln(w, "  System Time:", info.SystemTime)
		fmt.Fprintln(w, "  EventsListeners:", info.NEventsListener)
	}
	nonEmpty(w, " HTTP Proxy:", info.HTTPProxy)
	nonEmpty(w, " HTTPS Proxy:", info.HTTPSProxy)
	nonEmpty(w, " No Proxy:", info.NoProxy)
	if len(info.Labels) > 0 {
		fmt.Fprintln(w, " Labels:")
		for _, l := range info.Labels {
			fmt.Fprintln(w, "  "+l)
		}
	}
	fmt.Fprintln(w, " Experimental:", info.ExperimentalBuild)
	if rc := info.RegistryConfig; rc != nil && (len(rc.InsecureRegistryCIDRs) > 0 || len(rc.IndexConfigs) > 0) {
		fmt.Fprintln(w, " Insecure Registries:")
		names := make([]string, 0, len(rc.IndexConfigs))
		for _, r := range rc.IndexConfigs {
			if r != nil && !r.Secure {
				names = append(names, r.Name)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintln(w, "  "+n)
		}
		for _, c := range rc.InsecureRegistryCIDRs {
			fmt.Fprintln(w, "  "+c.String())
		}
	}
	if rc := info.RegistryConfig; rc != nil && len(rc.Mirrors) > 0 {
		fmt.Fprintln(w, " Registry Mirrors:")
		for _, m := range rc.Mirrors {
			fmt.Fprintln(w, "  "+m)
		}
	}
	fmt.Fprintln(w, " Live Restore Enabled:", info.LiveRestoreEnabled)
	if info.ProductLicense != "" {
		fmt.Fprintln(w, " Product License:", info.ProductLicense)
	}
	if len(info.DefaultAddressPools) > 0 {
		fmt.Fprintln(w, " Default Address Pools:")
		for _, p := range info.DefaultAddressPools {
			fmt.Fprintf(w, "   Base: %s, Size: %d\n", p.Base, p.Size)
		}
	}
	fmt.Fprintln(w)
	for _, warn := range info.Warnings {
		fmt.Fprintln(errw, warn)
	}
}
