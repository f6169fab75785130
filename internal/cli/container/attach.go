package container

import (
	"context"
	"errors"
	"fmt"
	"io"

	"berth/internal/cli/command"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type attachOptions struct {
	noStdin    bool
	proxy      bool
	detachKeys string
}

// NewAttachCommand returns `attach`.
func NewAttachCommand(cli *command.Cli) *cobra.Command {
	var o attachOptions
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAttach(cmd.Context(), cli, &o, args[0])
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container attach, berth attach"},
	}
	flags := cmd.Flags()
	flags.BoolVar(&o.noStdin, "no-stdin", false, "Do not attach STDIN")
	flags.BoolVar(&o.proxy, "sig-proxy", true, "Proxy all received signals to the process")
	flags.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

func inspectRunning(ctx context.Context, api client.APIClient, ref string) (container.InspectResponse, error) {
	res, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{})
	if err != nil {
		return container.InspectResponse{}, err
	}
	c := res.Container
	switch {
	case c.State == nil || !c.State.Running:
		return c, errors.New("You cannot attach to a stopped container, start it first")
	case c.State.Paused:
		return c, errors.New("You cannot attach to a paused container, unpause it first")
	case c.State.Restarting:
		return c, errors.New("You cannot attach to a restarting container, wait until it is running")
	}
	return c, nil
}

func runAttach(ctx context.Context, cli *command.Cli, o *attachOptions, ref string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	c, err := inspectRunning(ctx, api, ref)
	if err != nil {
		return err
	}
	if c.Config == nil {
		return fmt.Errorf("incomplete inspect response for %s", ref)
	}
	if err := cli.In().CheckTty(!o.noStdin, c.Config.Tty); err != nil {
		return err
	}
	detachKeys := o.detachKeys
	if detachKeys == "" {
		detachKeys = cli.ConfigFile().DetachKeys
	}
	opts := client.ContainerAttachOptions{
		Stream:     true,
		Stdin:      !o.noStdin && c.Config.OpenStdin,
		Stdout:     true,
		Stderr:     true,
		DetachKeys: detachKeys,
	}
	var in io.ReadCloser
	if opts.Stdin {
		in = cli.In()
	}
	if o.proxy && !c.Config.Tty {
		stop := forwardSignals(ctx, api, c.ID)
		defer stop()
	}

	// Ask for the exit status before attaching so it cannot be missed.
	wait := api.ContainerWait(ctx, c.ID, client.ContainerWaitOptions{})

	resp, err := api.ContainerAttach(ctx, c.ID, opts)
	if err != nil {
		return err
	}
	defer resp.Close()

	// The container may have stopped between the inspect and the attach.
	if _, err := inspectRunning(ctx, api, c.ID); err != nil {
		return err
	}
	if c.Config.Tty && cli.Out().IsTerminal() {
		_ = monitorTtySize(ctx, cli, containerResizer(api, c.ID))
	}
	s := hijackedIOStreamer{cli: cli, inputStream: in, outputStream: cli.Out(), errorStream: cli.Err(), resp: resp.HijackedResponse, tty: c.Config.Tty, detachKeys: detachKeys}
	if err := s.stream(ctx); err != nil {
		// Detaching returns term.EscapeError, which docker v28 prints as
		// "read escape sequence" and exits 1; berth does the same.
		return err
	}
	select {
	case r := <-wait.Result:
		if r.Error != nil {
			return errors.New(r.Error.Message)
		}
		if r.StatusCode != 0 {
			return command.StatusError{StatusCode: int(r.StatusCode)}
		}
	case err := <-wait.Error:
		return err
	}
	return nil
}
