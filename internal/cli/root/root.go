package root

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"berth/internal/cli/command"
	"berth/internal/cli/container"
	"berth/internal/cli/image"
	"berth/internal/cli/network"
	"berth/internal/cli/registry"
	"berth/internal/cli/system"
	"berth/internal/cli/trust"
	"berth/internal/cli/volume"

	"github.com/spf13/cobra"
)

// NewRootCommand builds the whole berth command tree over cli.
func NewRootCommand(cli *command.Cli) *cobra.Command {
	root := &cobra.Command{
		Use:              "berth [OPTIONS] COMMAND [ARG...]",
		Short:            "A self-sufficient runtime for containers",
		SilenceUsage:     true,
		SilenceErrors:    true,
		TraverseChildren: true,
		Version:          fmt.Sprintf("%s, build %s", cli.Version, cli.Commit),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				fmt.Fprint(cli.Err(), command.HelpText(cmd))
				return nil
			}
			return command.StatusError{
				Status:     fmt.Sprintf("%s: unknown command: %s %s\n\nRun '%s --help' for more information", cmd.Name(), cmd.Name(), args[0], cmd.Name()),
				StatusCode: 1,
			}
		},
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetVersionTemplate("berth version {{.Version}}\n")
	root.SetIn(cli.In())
	root.SetOut(cli.Out())
	root.SetErr(cli.Err())
	root.SetFlagErrorFunc(command.FlagErrorFunc)
	root.PersistentFlags().Bool("help", false, "Print usage")
	_ = root.PersistentFlags().MarkHidden("help")

	flags := root.Flags()
	o := &cli.Opts
	flags.StringVar(&o.ConfigDir, "config", defaultConfigDir(cli), "Location of client config files")
	flags.StringVarP(&o.Context, "context", "c", "", `Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with "docker context use")`)
	flags.BoolVarP(&o.Debug, "debug", "D", false, "Enable debug mode")
	flags.VarP(newHostList(&o.Hosts), "host", "H", "Daemon socket to connect to")
	flags.StringVarP(&o.LogLevel, "log-level", "l", "info", `Set the logging level ("debug", "info", "warn", "error", "fatal")`)
	flags.BoolVar(&o.TLS, "tls", false, "Use TLS; implied by --tlsverify")
	flags.StringVar(&o.TLSCACert, "tlscacert", "", "Trust certs signed only by this CA")
	flags.StringVar(&o.TLSCert, "tlscert", "", "Path to TLS certificate file")
	flags.StringVar(&o.TLSKey, "tlskey", "", "Path to TLS key file")
	flags.BoolVar(&o.TLSVerify, "tlsverify", false, "Use TLS and verify the remote")
	flags.BoolP("version", "v", false, "Print version information and quit")

	root.AddCommand(
		// Management commands.
		container.NewContainerCommand(cli),
		image.NewImageCommand(cli),
		network.NewNetworkCommand(cli),
		system.NewSystemCommand(cli),
		volume.NewVolumeCommand(cli),

		// Container shortcuts.
		container.NewAttachCommand(cli),
		container.NewCommitCommand(cli), container.NewDiffCommand(cli),
		container.NewCopyCommand(cli), container.NewExportCommand(cli),
		container.NewCreateCommand(cli),
		container.NewExecCommand(cli),
		container.NewKillCommand(cli),
		container.NewLogsCommand(cli),
		container.NewPauseCommand(cli),
		container.NewPortCommand(cli),
		container.NewPsCommand(cli),
		container.NewRenameCommand(cli),
		container.NewRestartCommand(cli),
		container.NewRmCommand(cli),
		container.NewRunCommand(cli),
		container.NewStartCommand(cli),
		container.NewStatsCommand(cli),
		container.NewStopCommand(cli),
		container.NewTopCommand(cli),
		container.NewUnpauseCommand(cli),
		container.NewUpdateCommand(cli),
		container.NewWaitCommand(cli),

		// Image shortcuts.
		image.NewHistoryCommand(cli),
		image.NewImagesCommand(cli),
		image.NewImportCommand(cli),
		image.NewLoadCommand(cli),
		image.NewPullCommand(cli),
		image.NewPushCommand(cli),
		image.NewRmiCommand(cli),
		image.NewSaveCommand(cli),
		image.NewTagCommand(cli),

		// Registry and system.
		registry.NewLoginCommand(cli),
		registry.NewLogoutCommand(cli),
		registry.NewSearchCommand(cli),
		trust.NewTrustCommand(cli),
		system.NewEventsCommand(cli),
		system.NewInfoCommand(cli),
		system.NewInspectCommand(cli),
		system.NewVersionCommand(cli),
	)
	command.SetupHelp(root)
	setFlagErrors(root)
	return root
}

// setFlagErrors installs docker's flag error handling on every command
// (cobra only inherits it for commands added before the call otherwise).
func setFlagErrors(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(command.FlagErrorFunc)
	cmd.DisableFlagsInUseLine = true
	for _, c := range cmd.Commands() {
		setFlagErrors(c)
	}
}

func defaultConfigDir(cli *command.Cli) string {
	if d, ok := cli.LookupEnv("DOCKER_CONFIG"); ok && d != "" {
		return d
	}
	if h, ok := cli.LookupEnv("HOME"); ok && h != "" {
		return filepath.Join(h, ".docker")
	}
	return ""
}

// Run executes args (without the program name) and returns the exit code,
// printing any error on stderr the way docker's main does.
func Run(ctx context.Context, cli *command.Cli, args []string) int {
	root := NewRootCommand(cli)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	_ = cli.Close()
	if err == nil {
		return 0
	}
	var se command.StatusError
	if errors.As(err, &se) {
		if se.Status != "" {
			fmt.Fprintln(cli.Err(), se.Status)
		}
		if se.StatusCode == 0 {
			return 1
		}
		return se.StatusCode
	}
	if errors.Is(err, context.Canceled) {
		return 0
	}
	fmt.Fprintln(cli.Err(), cli.DescribeError(err))
	return 1
}
