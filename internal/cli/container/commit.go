package container

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"berth/internal/cli/command"
	"berth/internal/cli/opts"
)

type commitOptions struct {
	container, reference string
	pause                bool
	comment, author      string
	changes              *opts.ListOpts
}

// NewCommitCommand returns `commit`.
func NewCommitCommand(cli *command.Cli) *cobra.Command {
	o := commitOptions{changes: opts.NewListOpts(nil)}
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args:  command.RequiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.container = args[0]
			if len(args) > 1 {
				o.reference = args[1]
			}
			return runCommit(cmd.Context(), cli, &o)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container commit, berth commit"},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.StringVarP(&o.author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	flags.VarP(o.changes, "change", "c", "Apply Dockerfile instruction to the created image")
	flags.StringVarP(&o.comment, "message", "m", "", "Commit message")
	flags.BoolVarP(&o.pause, "pause", "p", true, "Pause container during commit")
	return cmd
}

func runCommit(ctx context.Context, cli *command.Cli, o *commitOptions) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	res, err := api.ContainerCommit(ctx, o.container, client.ContainerCommitOptions{
		Reference: o.reference,
		Comment:   o.comment,
		Author:    o.author,
		Changes:   o.changes.GetSlice(),
		NoPause:   !o.pause,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(cli.Out(), res.ID)
	return nil
}
