package image

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newInspectCommand(cli *command.Cli) *cobra.Command {
	var format, platform string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), cli, format, platform, args)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	cmd.Flags().StringVar(&platform, "platform", "", "Inspect a specific platform of the multi-platform image.\nIf the image or the server is not multi-platform capable, the command will error out if the platform does not match.\n'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)")
	return cmd
}

func runInspect(ctx context.Context, cli *command.Cli, format, platform string, refs []string) error {
	var extra []client.ImageInspectOption
	if platform != "" {
		p, err := parsePlatform(platform)
		if err != nil {
			return err
		}
		extra = append(extra, client.ImageInspectWithPlatform(p))
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	ins, err := formatter.NewInspector(cli.Out(), format)
	if err != nil {
		return command.StatusError{Status: err.Error(), StatusCode: 64}
	}
	var msgs []string
	for _, ref := range refs {
		var raw bytes.Buffer
		res, err := api.ImageInspect(ctx, ref, append([]client.ImageInspectOption{client.ImageInspectWithRawResponse(&raw)}, extra...)...)
		if err != nil {
			msgs = append(msgs, err.Error())
			continue
		}
		if err := ins.Inspect(formatter.InspectItem{Raw: raw.Bytes(), Typed: res.InspectResponse}); err != nil {
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
