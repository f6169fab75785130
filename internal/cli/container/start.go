package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"berth/internal/cli/command"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type startOptions struct {
	attach     bool
	openStdin  bool
	detachKeys string
}

// NewStartCommand returns `start`.
func NewStartCommand(cli *command.Cli) *cobra.Command {
	var o startOptions
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStart(cmd.Context(), cli, &o, args)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container start, berth start"},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	flags.BoolVarP(&o.openStdin, "interactive", "i", false, "Attach container's STDIN")
	flags.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

func runStart(ctx context.Context, cli *command.Cli, o *startOptions, ids []string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	if !o.attach && !o.openStdin {
		var failed []string
		for _, id := range ids {
			if _, err := api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
				fmt.Fprintln(cli.Err(), err)
				failed = append(failed, id)
				continue
			}
			fmt.Fprintln(cli.Out(), id)
		}
		if len(failed) > 0 {
			return fmt.Errorf("Error: failed to start containers: %s", strings.Join(failed, ", "))
		}
		return nil
	}
	if len(ids) > 1 {
		return errors.New("you cannot start and attach multiple containers at once")
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	res, err := api.ContainerInspect(ctx, ids[0], client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	c := res.Container
	if c.Config == nil || c.HostConfig == nil || c.State == nil {
		return fmt.Errorf("incomplete inspect response for %s", ids[0])
	}
	if !c.Config.Tty {
		stop := forwardSignals(ctx, api, c.ID)
		defer stop()
	}
	detachKeys := o.detachKeys
	if detachKeys == "" {
		detachKeys = cli.ConfigFile().DetachKeys
	}
	opts := client.ContainerAttachOptions{
		Stream:     true,
		Stdin:      o.openStdin && c.Config.OpenStdin,
		Stdout:     true,
		Stderr:     true,
		DetachKeys: detachKeys,
	}
	var in io.ReadCloser
	if opts.Stdin {
		in = cli.In()
	}
	resp, err := api.ContainerAttach(ctx, c.ID, opts)
	if err != nil {
		return err
	}
	defer resp.Close()

	streamErr := make(chan error, 1)
	go func() {
		s := hijackedIOStreamer{cli: cli, inputStream: in, outputStream: cli.Out(), errorStream: cli.Err(), resp: resp.HijackedResponse, tty: c.Config.Tty, detachKeys: detachKeys}
		streamErr <- s.stream(ctx)
	}()

	statusC := waitExitOrRemoved(ctx, cli, api, c.ID, c.HostConfig.AutoRemove)

	if _, err := api.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		cancel()
		resp.Close()
		<-streamErr
		if c.HostConfig.AutoRemove {
			<-statusC
		}
		return err
	}
	if c.Config.Tty && cli.Out().IsTerminal() {
		if err := monitorTtySize(ctx, cli, containerResizer(api, c.ID)); err != nil {
			fmt.Fprintln(cli.Err(), "Error monitoring TTY size:", err)
		}
	}
	if err := <-streamErr; err != nil {
		if isEscape(err) {
			return nil
		}
		return err
	}
	if status := <-statusC; status != 0 {
		return command.StatusError{StatusCode: status}
	}
	return nil
}
