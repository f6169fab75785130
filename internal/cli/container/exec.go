package container

import (
	"context"
	"fmt"
	"io"

	"berth/internal/cli/command"
	"berth/internal/cli/opts"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type execOptions struct {
	detachKeys  string
	interactive bool
	tty         bool
	detach      bool
	user        string
	privileged  bool
	env         *opts.ListOpts
	envFile     *opts.ListOpts
	workdir     string
}

// NewExecCommand returns `exec`.
func NewExecCommand(cli *command.Cli) *cobra.Command {
	o := execOptions{env: opts.NewListOpts(nil), envFile: opts.NewListOpts(nil)}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  command.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), cli, &o, args[0], args[1:])
		},
		Annotations: map[string]string{
			command.AnnotationAliases: "berth container exec, berth exec",
			command.AnnotationTop:     "2",
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.StringVarP(&o.detachKeys, "detach-keys", "", "", "Override the key sequence for detaching a container")
	flags.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	flags.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	flags.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: run command in the background")
	flags.StringVarP(&o.user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	flags.BoolVarP(&o.privileged, "privileged", "", false, "Give extended privileges to the command")
	flags.VarP(o.env, "env", "e", "Set environment variables")
	flags.Var(o.envFile, "env-file", "Read in a file of environment variables")
	flags.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	return cmd
}

func runExec(ctx context.Context, cli *command.Cli, o *execOptions, ref string, cmdArgs []string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	var env []string
	for _, f := range o.envFile.GetSlice() {
		lines, err := opts.ParseEnvFile(f, cli.LookupEnv)
		if err != nil {
			return err
		}
		env = append(env, lines...)
	}
	e, err := opts.ExpandEnv(o.env.GetSlice(), cli.LookupEnv)
	if err != nil {
		return err
	}
	env = append(env, e...)
	detachKeys := o.detachKeys
	if detachKeys == "" {
		detachKeys = cli.ConfigFile().DetachKeys
	}
	create := client.ExecCreateOptions{
		User:         o.user,
		Privileged:   o.privileged,
		TTY:          o.tty,
		AttachStdin:  o.interactive && !o.detach,
		AttachStdout: !o.detach,
		AttachStderr: !o.detach,
		DetachKeys:   detachKeys,
		Env:          env,
		WorkingDir:   o.workdir,
		Cmd:          cmdArgs,
	}

	// Inspect first so that "No such container" wins over TTY errors and
	// no exec is leaked on the daemon.
	if _, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{}); err != nil {
		return err
	}
	if !o.detach {
		if err := cli.In().CheckTty(create.AttachStdin, create.TTY); err != nil {
			return err
		}
	}
	if o.tty {
		h, w := cli.Out().TtySize()
		create.ConsoleSize = client.ConsoleSize{Height: h, Width: w}
	}
	resp, err := api.ExecCreate(ctx, ref, create)
	if err != nil {
		return err
	}
	if resp.ID == "" {
		return fmt.Errorf("exec ID empty")
	}
	if o.detach {
		_, err := api.ExecStart(ctx, resp.ID, client.ExecStartOptions{Detach: true, TTY: o.tty, ConsoleSize: create.ConsoleSize})
		return err
	}
	return interactiveExec(ctx, cli, api, resp.ID, &create)
}

func interactiveExec(ctx context.Context, cli *command.Cli, api client.APIClient, execID string, create *client.ExecCreateOptions) error {
	var (
		in          io.ReadCloser
		out, stderr io.Writer
	)
	if create.AttachStdin {
		in = cli.In()
	}
	if create.AttachStdout {
		out = cli.Out()
	}
	if create.AttachStderr {
		if create.TTY {
			stderr = cli.Out()
		} else {
			stderr = cli.Err()
		}
	}
	resp, err := api.ExecAttach(ctx, execID, client.ExecAttachOptions{TTY: create.TTY, ConsoleSize: create.ConsoleSize})
	if err != nil {
		return err
	}
	defer resp.Close()

	errCh := make(chan error, 1)
	go func() {
		s := hijackedIOStreamer{cli: cli, inputStream: in, outputStream: out, errorStream: stderr, resp: resp.HijackedResponse, tty: create.TTY, detachKeys: create.DetachKeys}
		errCh <- s.stream(ctx)
	}()
	if create.TTY && cli.In().IsTerminal() {
		if err := monitorTtySize(ctx, cli, execResizer(api, execID)); err != nil {
			fmt.Fprintln(cli.Err(), "Error monitoring TTY size:", err)
		}
	}
	if err := <-errCh; err != nil {
		return err
	}
	res, err := api.ExecInspect(ctx, execID, client.ExecInspectOptions{})
	if err != nil {
		if client.IsErrConnectionFailed(err) {
			return command.StatusError{StatusCode: -1}
		}
		return err
	}
	if res.ExitCode != 0 {
		return command.StatusError{StatusCode: res.ExitCode}
	}
	return nil
}
