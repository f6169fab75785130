package container

import (
	"context"
	"fmt"

	"berth/internal/cli/command"
	"berth/internal/cli/opts"
	units "github.com/docker/go-units"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type pruneOptions struct {
	force  bool
	filter *opts.FilterOpt
}

func newPruneCommand(cli *command.Cli) *cobra.Command {
	o := pruneOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			space, out, err := RunPrune(cmd.Context(), cli, o.force, o.filter)
			if err != nil {
				return err
			}
			if out != "" {
				fmt.Fprintln(cli.Out(), out)
			}
			if space >= 0 {
				fmt.Fprintln(cli.Out(), "Total reclaimed space:", units.HumanSize(float64(space)))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().Var(o.filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// RunPrune asks for confirmation unless force, prunes stopped containers and
// returns the space reclaimed (-1 when cancelled) and the report text.
func RunPrune(ctx context.Context, cli *command.Cli, force bool, filter *opts.FilterOpt) (int64, string, error) {
	if !force {
		ok, err := command.PromptForConfirmation(ctx, cli.In(), cli.Out(), "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?")
		if err != nil || !ok {
			return -1, "", err
		}
	}
	api, err := cli.Client()
	if err != nil {
		return 0, "", err
	}
	res, err := api.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: filter.Value()})
	if err != nil {
		return 0, "", err
	}
	out := ""
	if len(res.Report.ContainersDeleted) > 0 {
		out = "Deleted Containers:\n"
		for _, id := range res.Report.ContainersDeleted {
			out += id + "\n"
		}
	}
	return int64(res.Report.SpaceReclaimed), out, nil
}
