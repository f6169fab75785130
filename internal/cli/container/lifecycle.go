package container

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"berth/internal/cli/command"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// parallel runs op on every container (at most 50 at a time) and returns
// the errors in argument order.
func parallel(ctx context.Context, ids []string, op func(ctx context.Context, id string) error) []error {
	errs := make([]error, len(ids))
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = op(ctx, id)
		}()
	}
	wg.Wait()
	return errs
}

// reportEach prints each successful name on stdout and joins the errors,
// one per line, as docker does for multi-container commands.
func reportEach(cli *command.Cli, ids []string, errs []error) error {
	var msgs []string
	for i, id := range ids {
		if errs[i] != nil {
			msgs = append(msgs, errs[i].Error())
			continue
		}
		fmt.Fprintln(cli.Out(), id)
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "\n"))
	}
	return nil
}

type stopOptions struct {
	signal     string
	timeout    int
	timeoutSet bool
}

// NewStopCommand returns `stop`.
func NewStopCommand(cli *command.Cli) *cobra.Command {
	var o stopOptions
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.timeoutSet = cmd.Flags().Changed("timeout")
			return runStop(cmd.Context(), cli, &o, args)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container stop, berth stop"},
	}
	cmd.Flags().StringVarP(&o.signal, "signal", "s", "", "Signal to send to the container")
	cmd.Flags().IntVarP(&o.timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().IntVar(&o.timeout, "time", 0, "Seconds to wait before killing the container (deprecated: use --timeout)")
	_ = cmd.Flags().MarkHidden("time")
	return cmd
}

func runStop(ctx context.Context, cli *command.Cli, o *stopOptions, ids []string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	opts := client.ContainerStopOptions{Signal: o.signal}
	if o.timeoutSet {
		t := o.timeout
		opts.Timeout = &t
	}
	errs := parallel(ctx, ids, func(ctx context.Context, id string) error {
		_, err := api.ContainerStop(ctx, id, opts)
		return err
	})
	return reportEach(cli, ids, errs)
}

// NewRestartCommand returns `restart`.
func NewRestartCommand(cli *command.Cli) *cobra.Command {
	var o stopOptions
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.timeoutSet = cmd.Flags().Changed("timeout")
			api, err := cli.Client()
			if err != nil {
				return err
			}
			opts := client.ContainerRestartOptions{Signal: o.signal}
			if o.timeoutSet {
				t := o.timeout
				opts.Timeout = &t
			}
			errs := make([]error, len(args))
			for i, id := range args {
				_, errs[i] = api.ContainerRestart(cmd.Context(), id, opts)
			}
			return reportEach(cli, args, errs)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container restart, berth restart"},
	}
	cmd.Flags().StringVarP(&o.signal, "signal", "s", "", "Signal to send to the container")
	cmd.Flags().IntVarP(&o.timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().IntVar(&o.timeout, "time", 0, "Seconds to wait before killing the container (deprecated: use --timeout)")
	_ = cmd.Flags().MarkHidden("time")
	return cmd
}

// NewKillCommand returns `kill`.
func NewKillCommand(cli *command.Cli) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			errs := parallel(cmd.Context(), args, func(ctx context.Context, id string) error {
				_, err := api.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: signal})
				return err
			})
			return reportEach(cli, args, errs)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container kill, berth kill"},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

type rmOptions struct {
	force, volumes, links bool
}

// NewRmCommand returns `rm`.
func NewRmCommand(cli *command.Cli) *cobra.Command {
	var o rmOptions
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Remove one or more containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRm(cmd.Context(), cli, &o, args)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container rm, berth container remove, berth rm"},
		Aliases:     []string{"remove"},
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&o.volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	cmd.Flags().BoolVarP(&o.links, "link", "l", false, "Remove the specified link")
	return cmd
}

func runRm(ctx context.Context, cli *command.Cli, o *rmOptions, ids []string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	var msgs []string
	errs := parallel(ctx, ids, func(ctx context.Context, id string) error {
		id = strings.Trim(id, "/")
		if id == "" {
			return errors.New("Container name cannot be empty")
		}
		_, err := api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{RemoveVolumes: o.volumes, RemoveLinks: o.links, Force: o.force})
		return err
	})
	for i, id := range ids {
		if err := errs[i]; err != nil {
			if o.force && cerrdefs.IsNotFound(err) {
				fmt.Fprintln(cli.Err(), err)
				continue
			}
			msgs = append(msgs, err.Error())
			continue
		}
		fmt.Fprintln(cli.Out(), id)
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "\n"))
	}
	return nil
}

// NewPauseCommand returns `pause`.
func NewPauseCommand(cli *command.Cli) *cobra.Command {
	return newEachCommand(cli, "pause", "Pause all processes within one or more containers",
		func(ctx context.Context, api client.APIClient, id string) error {
			_, err := api.ContainerPause(ctx, id, client.ContainerPauseOptions{})
			return err
		})
}

// NewUnpauseCommand returns `unpause`.
func NewUnpauseCommand(cli *command.Cli) *cobra.Command {
	return newEachCommand(cli, "unpause", "Unpause all processes within one or more containers",
		func(ctx context.Context, api client.APIClient, id string) error {
			_, err := api.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
			return err
		})
}

// newEachCommand is a `NAME CONTAINER [CONTAINER...]` command that applies
// do to every container in parallel and reports each as docker does.
func newEachCommand(cli *command.Cli, name, short string, do func(ctx context.Context, api client.APIClient, id string) error) *cobra.Command {
	return &cobra.Command{
		Use:   name + " CONTAINER [CONTAINER...]",
		Short: short,
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			errs := parallel(cmd.Context(), args, func(ctx context.Context, id string) error {
				return do(ctx, api, id)
			})
			return reportEach(cli, args, errs)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container " + name + ", berth " + name},
	}
}

// NewWaitCommand returns `wait`.
func NewWaitCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			var msgs []string
			for _, id := range args {
				res := api.ContainerWait(cmd.Context(), id, client.ContainerWaitOptions{})
				select {
				case r := <-res.Result:
					fmt.Fprintf(cli.Out(), "%d\n", r.StatusCode)
				case err := <-res.Error:
					msgs = append(msgs, err.Error())
				}
			}
			if len(msgs) > 0 {
				return errors.New(strings.Join(msgs, "\n"))
			}
			return nil
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container wait, berth wait"},
	}
}

// NewRenameCommand returns `rename`.
func NewRenameCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  command.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			oldName, newName := strings.TrimSpace(args[0]), strings.TrimSpace(args[1])
			if oldName == "" || newName == "" {
				return errors.New("Neither old nor new names may be empty")
			}
			if _, err := api.ContainerRename(cmd.Context(), oldName, client.ContainerRenameOptions{NewName: newName}); err != nil {
				return fmt.Errorf("failed to rename container named %s: %w", oldName, err)
			}
			return nil
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container rename, berth rename"},
	}
}
