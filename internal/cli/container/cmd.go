package container

import (
	"berth/internal/cli/command"

	"github.com/spf13/cobra"
)

// NewContainerCommand returns the `container` management command.
func NewContainerCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "container",
		Short: "Manage containers",
		Args:  command.NoArgs,
		RunE:  command.ShowHelp(cli.Err()),
	}
	cmd.AddCommand(
		NewAttachCommand(cli),
		NewCommitCommand(cli), NewDiffCommand(cli),
		NewCopyCommand(cli), NewExportCommand(cli),
		NewCreateCommand(cli),
		NewExecCommand(cli),
		newInspectCommand(cli),
		NewKillCommand(cli),
		NewLogsCommand(cli),
		newListCommand(cli),
		NewPauseCommand(cli),
		NewPortCommand(cli),
		newPruneCommand(cli),
		NewRenameCommand(cli),
		NewRestartCommand(cli),
		NewRmCommand(cli),
		NewRunCommand(cli),
		NewStartCommand(cli),
		NewStatsCommand(cli),
		NewStopCommand(cli),
		NewTopCommand(cli),
		NewUnpauseCommand(cli),
		NewUpdateCommand(cli),
		NewWaitCommand(cli),
	)
	return cmd
}
