package container

import (
	"context"
	"io"

	"berth/internal/cli/command"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type logsOptions struct {
	follow, timestamps, details bool
	since, until, tail          string
}

// NewLogsCommand returns `logs`.
func NewLogsCommand(cli *command.Cli) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), cli, &o, args[0])
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container logs, berth logs"},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.follow, "follow", "f", false, "Follow log output")
	flags.StringVar(&o.since, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	flags.StringVar(&o.until, "until", "", `Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	flags.BoolVarP(&o.timestamps, "timestamps", "t", false, "Show timestamps")
	flags.BoolVar(&o.details, "details", false, "Show extra details provided to logs")
	flags.StringVarP(&o.tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	return cmd
}

func runLogs(ctx context.Context, cli *command.Cli, o *logsOptions, ref string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	res, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	body, err := api.ContainerLogs(ctx, res.Container.ID, client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Since:      o.since,
		Until:      o.until,
		Timestamps: o.timestamps,
		Follow:     o.follow,
		Tail:       o.tail,
		Details:    o.details,
	})
	if err != nil {
		return err
	}
	defer body.Close()
	if res.Container.Config != nil && res.Container.Config.Tty {
		_, err = io.Copy(cli.Out(), body)
		return err
	}
	_, err = stdcopy.StdCopy(cli.Out(), cli.Err(), body)
	return err
}
