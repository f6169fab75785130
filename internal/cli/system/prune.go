package system

import (
	"context"
	"fmt"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/container"
	"berth/internal/cli/image"
	"berth/internal/cli/opts"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type pruneOptions struct {
	force, all, volumes bool
	filter              *opts.FilterOpt
}

func newPruneCommand(cli *command.Cli) *cobra.Command {
	o := pruneOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrune(cmd.Context(), cli, &o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.all, "all", "a", false, "Remove all unused images not just dangling ones")
	flags.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	flags.BoolVar(&o.volumes, "volumes", false, "Prune anonymous volumes")
	flags.Var(o.filter, "filter", `Provide filter values (e.g. "label=<key>=<value>")`)
	return cmd
}

func runPrune(ctx context.Context, cli *command.Cli, o *pruneOptions) error {
	var b strings.Builder
	b.WriteString("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n")
	if o.volumes {
		b.WriteString("  - all anonymous volumes not used by at least one container\n")
	}
	if o.all {
		b.WriteString("  - all images without at least one container associated to them\n")
	} else {
		b.WriteString("  - all dangling images\n")
	}
	b.WriteString("  - unused build cache\n\nAre you sure you want to continue?")
	if !o.force {
		ok, err := command.PromptForConfirmation(ctx, cli.In(), cli.Out(), b.String())
		if err != nil || !ok {
			return err
		}
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	var total int64
	space, out, err := container.RunPrune(ctx, cli, true, o.filter)
	if err != nil {
		return err
	}
	total += space
	if out != "" {
		fmt.Fprintln(cli.Out(), out)
	}
	nres, err := api.NetworkPrune(ctx, client.NetworkPruneOptions{Filters: o.filter.Value()})
	if err != nil {
		return err
	}
	if len(nres.Report.NetworksDeleted) > 0 {
		fmt.Fprintln(cli.Out(), "Deleted Networks:")
		for _, n := range nres.Report.NetworksDeleted {
			fmt.Fprintln(cli.Out(), n)
		}
		fmt.Fprintln(cli.Out())
	}
	if o.volumes {
		vres, err := api.VolumePrune(ctx, client.VolumePruneOptions{Filters: o.filter.Value()})
		if err != nil {
			return err
		}
		total += int64(vres.Report.SpaceReclaimed)
		if len(vres.Report.VolumesDeleted) > 0 {
			fmt.Fprintln(cli.Out(), "Deleted Volumes:")
			for _, v := range vres.Report.VolumesDeleted {
				fmt.Fprintln(cli.Out(), v)
			}
			fmt.Fprintln(cli.Out())
		}
	}
	space, out, err = image.RunPrune(ctx, cli, o.all, true, o.filter)
	if err != nil {
		return err
	}
	total += space
	if out != "" {
		fmt.Fprintln(cli.Out(), out)
	}
	fmt.Fprintln(cli.Out(), "Total reclaimed space:", units.HumanSize(float64(total)))
	return nil
}
