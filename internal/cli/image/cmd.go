package image

import (
	"berth/internal/cli/command"

	"github.com/spf13/cobra"
)

// NewImageCommand returns the `image` management command.
func NewImageCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage images",
		Args:  command.NoArgs,
		RunE:  command.ShowHelp(cli.Err()),
	}
	cmd.AddCommand(
		NewHistoryCommand(cli),
		NewImportCommand(cli),
		newInspectCommand(cli),
		NewLoadCommand(cli),
		newListCommand(cli),
		newPruneCommand(cli),
		NewPullCommand(cli),
		NewPushCommand(cli),
		newRemoveCommand(cli),
		NewSaveCommand(cli),
		NewTagCommand(cli),
	)
	return cmd
}
