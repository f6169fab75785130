package system

import (
	"encoding/json"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"

	"github.com/spf13/cobra"
)

// NewSystemCommand returns the `system` management command.
func NewSystemCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "system",
		Short: "Manage Docker",
		Args:  command.NoArgs,
		RunE:  command.ShowHelp(cli.Err()),
	}
	cmd.AddCommand(
		newDiskUsageCommand(cli),
		NewEventsCommand(cli),
		NewInfoCommand(cli),
		newPruneCommand(cli),
	)
	return cmd
}

// withRaw fills in the raw JSON of objects whose client result carries
// only the typed value (volumes).
func withRaw(item formatter.InspectItem) formatter.InspectItem {
	if item.Raw == nil && item.Typed != nil {
		if b, err := json.Marshal(item.Typed); err == nil {
			item.Raw = b
		}
	}
	return item
}
