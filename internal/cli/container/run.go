package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/trust"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type runOptions struct {
	createOptions
	detach     bool
	sigProxy   bool
	detachKeys string
}

// NewRunCommand returns `run`.
func NewRunCommand(cli *command.Cli) *cobra.Command {
	var o runOptions
	var copts *containerOptions
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), cli, cmd, &o, copts, args)
		},
		Annotations: map[string]string{
			command.AnnotationAliases: "berth container run, berth run",
			command.AnnotationTop:     "1",
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.BoolVarP(&o.detach, "detach", "d", false, "Run container in background and print container ID")
	flags.BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	flags.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	addCreateFlags(flags, &o.createOptions, "running", trust.Enabled(cli))
	copts = addFlags(flags)
	return cmd
}

// exitStatusError maps a failed create/start to docker's exit codes: 127
// when the command was not found, 126 when it could not be executed, 125
// for everything else.
func exitStatusError(cli *command.Cli, cmd *cobra.Command, err error) error {
	err = cli.DescribeError(err)
	msg := err.Error()
	code := 125
	switch {
	case strings.Contains(msg, "executable file not found"),
		strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "system cannot find the file specified"):
		code = 127
	case strings.Contains(msg, "permission denied"),
		strings.Contains(msg, "is a directory"):
		code = 126
	}
	return command.StatusError{Cause: err, Status: command.WithHelp(cmd, err), StatusCode: code}
}

func runRun(ctx context.Context, cli *command.Cli, cmd *cobra.Command, o *runOptions, copts *containerOptions, args []string) error {
	if err := validatePullOpt(o.pull); err != nil {
		return command.StatusError{Cause: err, Status: command.WithHelp(cmd, err), StatusCode: 125}
	}
	cfg, err := parse(cmd.Flags(), copts, args[0], args[1:], cli.LookupEnv)
	if err != nil {
		return command.StatusError{Cause: err, Status: command.WithHelp(cmd, err), StatusCode: 125}
	}
	if copts.tty {
		// With a TTY the terminal delivers signals to the container itself.
		o.sigProxy = false
	}
	return runContainer(ctx, cli, cmd, o, copts, cfg)
}

func runContainer(ctx context.Context, cli *command.Cli, cmd *cobra.Command, o *runOptions, copts *containerOptions, cfg *containerConfig) error {
	config := cfg.Config
	if !o.detach {
		if err := cli.In().CheckTty(config.AttachStdin, config.Tty); err != nil {
			return err
		}
	} else {
		if copts.attach.Len() != 0 {
			return command.StatusError{Status: command.WithHelp(cmd, errors.New("conflicting options: cannot specify both --attach and --detach")), StatusCode: 125}
		}
		config.AttachStdin, config.AttachStdout, config.AttachStderr, config.StdinOnce = false, false, false, false
	}

	api, err := cli.Client()
	if err != nil {
		return exitStatusError(cli, cmd, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	id, err := createContainer(ctx, cli, cfg, &o.createOptions)
	if err != nil {
		return exitStatusError(cli, cmd, err)
	}

	if o.sigProxy {
		stop := forwardSignals(ctx, api, id)
		defer stop()
	}

	attach := config.AttachStdin || config.AttachStdout || config.AttachStderr
	var (
		errCh       chan error
		closeAttach = func() {}
	)
	if attach {
		detachKeys := o.detachKeys
		if detachKeys == "" {
			detachKeys = cli.ConfigFile().DetachKeys
		}
		closeFn, ch, err := attachContainer(context.WithoutCancel(ctx), cli, api, id, config, client.ContainerAttachOptions{
			Stream:     true,
			Stdin:      config.AttachStdin,
			Stdout:     config.AttachStdout,
			Stderr:     config.AttachStderr,
			DetachKeys: detachKeys,
		})
		if err != nil {
			return exitStatusError(cli, cmd, err)
		}
		errCh, closeAttach = ch, closeFn
		defer closeFn()
	}

	// Wait is requested before start so that a fast exit (or --rm removal)
	// cannot be missed.
	statusCtx, cancelStatus := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStatus()
	statusC := waitExitOrRemoved(statusCtx, cli, api, id, copts.autoRemove)

	if !attach {
		// docker prints the ID as soon as the container exists.
		fmt.Fprintln(cli.Out(), id)
	}

	if _, err := api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		if attach {
			// The container never ran: end the attach stream ourselves
			// rather than rely on the daemon closing it.
			cancel()
			closeAttach()
			<-errCh
		}
		if copts.autoRemove {
			<-statusC
		}
		return exitStatusError(cli, cmd, err)
	}

	if !attach {
		return nil
	}

	if config.Tty && cli.Out().IsTerminal() {
		if err := monitorTtySize(ctx, cli, containerResizer(api, id)); err != nil {
			fmt.Fprintln(cli.Err(), "Error monitoring TTY size:", err)
		}
	}

	select {
	case err := <-errCh:
		if err != nil {
			if isEscape(err) {
				return nil
			}
			return err
		}
		if status := <-statusC; status != 0 {
			return command.StatusError{StatusCode: status}
		}
	case status := <-statusC:
		if !config.AttachStdout && !config.AttachStderr {
			cancel()
		}
		<-errCh
		if status != 0 {
			return command.StatusError{StatusCode: status}
		}
	}
	return nil
}

// attachContainer opens the hijacked attach stream and starts copying in
// the background; the returned channel reports when streaming ends.
func attachContainer(ctx context.Context, cli *command.Cli, api client.APIClient, id string, config *container.Config, opts client.ContainerAttachOptions) (func(), chan error, error) {
	resp, err := api.ContainerAttach(ctx, id, opts)
	if err != nil {
		return nil, nil, err
	}
	var (
		in        io.ReadCloser
		out, cerr io.Writer
	)
	if opts.Stdin {
		in = cli.In()
	}
	if opts.Stdout {
		out = cli.Out()
	}
	if opts.Stderr {
		if config.Tty {
			cerr = cli.Out()
		} else {
			cerr = cli.Err()
		}
	}
	ch := make(chan error, 1)
	go func() {
		s := hijackedIOStreamer{cli: cli, inputStream: in, outputStream: out, errorStream: cerr, resp: resp.HijackedResponse, tty: config.Tty, detachKeys: opts.DetachKeys}
		ch <- s.stream(ctx)
	}()
	return resp.Close, ch, nil
}

// waitExitOrRemoved asks the daemon to report the next exit (or the
// removal, with --rm) and returns the exit status; 125 when waiting fails.
func waitExitOrRemoved(ctx context.Context, cli *command.Cli, api client.APIClient, id string, waitRemove bool) <-chan int {
	cond := container.WaitConditionNextExit
	if waitRemove {
		cond = container.WaitConditionRemoved
	}
	res := api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
	statusC := make(chan int, 1)
	go func() {
		select {
		case r := <-res.Result:
			if r.Error != nil {
				cli.LogError("Error waiting for container: " + r.Error.Message)
				statusC <- 125
				return
			}
			statusC <- int(r.StatusCode)
		case err := <-res.Error:
			if !errors.Is(err, context.Canceled) {
				cli.LogError(fmt.Sprintf("error waiting for container: %v", err))
			}
			statusC <- 125
		}
	}()
	return statusC
}
