package container

import (
	"context"
	"errors"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type inspectOptions struct {
	format string
	size   bool
}

func newInspectCommand(cli *command.Cli) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), cli, &o, args)
		},
	}
	cmd.Flags().StringVarP(&o.format, "format", "f", "", InspectFormatHelp)
	cmd.Flags().BoolVarP(&o.size, "size", "s", false, "Display total file sizes")
	return cmd
}

func runInspect(ctx context.Context, cli *command.Cli, o *inspectOptions, refs []string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	ins, err := formatter.NewInspector(cli.Out(), o.format)
	if err != nil {
		return command.StatusError{Status: err.Error(), StatusCode: 64}
	}
	var msgs []string
	for _, ref := range refs {
		res, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{Size: o.size})
		if err != nil {
			msgs = append(msgs, err.Error())
			continue
		}
		if err := ins.Inspect(formatter.InspectItem{Raw: res.Raw, Typed: res.Container}); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if err := ins.Flush(); err != nil {
		return err
	}
	if len(msgs) > 0 {
		return command.StatusError{Cause: errors.New(msgs[0]), Status: strings.Join(msgs, "\n"), StatusCode: 1}
	}
	return nil
}
