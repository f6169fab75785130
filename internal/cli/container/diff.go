package container

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"berth/internal/cli/command"
)

// NewDiffCommand returns `diff`.
func NewDiffCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(cmd.Context(), cli, args[0])
		},
		Annotations:           map[string]string{command.AnnotationAliases: "berth container diff, berth diff"},
		DisableFlagsInUseLine: true,
	}
}

// runDiff prints one "KIND PATH" line per change, in the daemon's order.
func runDiff(ctx context.Context, cli *command.Cli, ref string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	res, err := api.ContainerDiff(ctx, ref, client.ContainerDiffOptions{})
	if err != nil {
		return err
	}
	for _, ch := range res.Changes {
		fmt.Fprintf(cli.Out(), "%s %s\n", ch.Kind, ch.Path)
	}
	return nil
}
