package volume

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"
	"berth/internal/cli/opts"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const formatHelp = `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`

const inspectFormatHelp = `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`

// NewVolumeCommand returns the `volume` management command.
func NewVolumeCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume",
		Short: "Manage volumes",
		Args:  command.NoArgs,
		RunE:  command.ShowHelp(cli.Err()),
	}
	cmd.AddCommand(newCreateCommand(cli), newInspectCommand(cli), newListCommand(cli), newPruneCommand(cli), newRemoveCommand(cli))
	return cmd
}

func newListCommand(cli *command.Cli) *cobra.Command {
	var quiet bool
	var format string
	filter := opts.NewFilterOpt()
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			res, err := api.VolumeList(cmd.Context(), client.VolumeListOptions{Filters: filter.Value()})
			if err != nil {
				return err
			}
			items := res.Items
			sort.SliceStable(items, func(i, j int) bool { return items[i].Name < items[j].Name })
			f := formatter.Format(format)
			if format == "" || format == formatter.TableKey {
				f = formatter.DefaultVolumeTableFormat
				if quiet {
					f = formatter.VolumeQuietFormat
				}
			}
			return formatter.Context{Output: cli.Out(), Format: f}.Write(formatter.VolumeHeader(), formatter.VolumeRows(items))
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth volume ls, berth volume list"},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	flags.StringVar(&format, "format", "", formatHelp)
	flags.VarP(filter, "filter", "f", `Provide filter values (e.g. "dangling=true")`)
	return cmd
}

func newCreateCommand(cli *command.Cli) *cobra.Command {
	var name, driver string
	driverOpts, labels := opts.NewMapOpts(), opts.NewListOpts(nil)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  command.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if name != "" {
					return errors.New("conflicting options: cannot specify a volume-name through both --name and as a positional arg")
				}
				name = args[0]
			}
			api, err := cli.Client()
			if err != nil {
				return err
			}
			res, err := api.VolumeCreate(cmd.Context(), client.VolumeCreateOptions{Name: name, Driver: driver, DriverOpts: driverOpts.GetAll(), Labels: opts.ConvertKVStringsToMap(labels.GetSlice())})
			if err != nil {
				return err
			}
			fmt.Fprintln(cli.Out(), res.Volume.Name)
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	flags.StringVar(&name, "name", "", "Specify volume name")
	_ = flags.MarkHidden("name")
	flags.VarP(driverOpts, "opt", "o", "Set driver specific options")
	flags.Var(labels, "label", "Set metadata for a volume")
	return cmd
}

func newInspectCommand(cli *command.Cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			ins, err := formatter.NewInspector(cli.Out(), format)
			if err != nil {
				return command.StatusError{Status: err.Error(), StatusCode: 64}
			}
			var msgs []string
			for _, ref := range args {
				r, err := api.VolumeInspect(cmd.Context(), ref, client.VolumeInspectOptions{})
				if err != nil {
					msgs = append(msgs, err.Error())
					continue
				}
				raw, _ := jsonMarshal(r.Volume)
				if err := ins.Inspect(formatter.InspectItem{Raw: raw, Typed: r.Volume}); err != nil {
					msgs = append(msgs, err.Error())
				}
			}
			if err := ins.Flush(); err != nil {
				return err
			}
			if len(msgs) > 0 {
				return command.StatusError{Status: strings.Join(msgs, "\n"), StatusCode: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

func newRemoveCommand(cli *command.Cli) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Long:    "Remove one or more volumes. You cannot remove a volume that is in use by a container.",
		Args:    command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			var msgs []string
			for _, v := range args {
				if _, err := api.VolumeRemove(cmd.Context(), v, client.VolumeRemoveOptions{Force: force}); err != nil {
					msgs = append(msgs, err.Error())
					continue
				}
				fmt.Fprintln(cli.Out(), v)
			}
			if len(msgs) > 0 {
				return errors.New(strings.Join(msgs, "\n"))
			}
			return nil
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth volume rm, berth volume remove"},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

func newPruneCommand(cli *command.Cli) *cobra.Command {
	var force, all bool
	filter := opts.NewFilterOpt()
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			warning := "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
			filters := filter.Value().Clone()
			if all {
				filters.Add("all", "true")
				warning = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
			}
			if !force {
				ok, err := command.PromptForConfirmation(cmd.Context(), cli.In(), cli.Out(), warning)
				if err != nil || !ok {
					return err
				}
			}
			api, err := cli.Client()
			if err != nil {
				return err
			}
			res, err := api.VolumePrune(cmd.Context(), client.VolumePruneOptions{Filters: filters})
			if err != nil {
				return err
			}
			if len(res.Report.VolumesDeleted) > 0 {
				fmt.Fprintln(cli.Out(), "Deleted Volumes:")
				for _, v := range res.Report.VolumesDeleted {
					fmt.Fprintln(cli.Out(), v)
				}
				fmt.Fprintln(cli.Out())
			}
			fmt.Fprintln(cli.Out(), "Total reclaimed space:", units.HumanSize(float64(res.Report.SpaceReclaimed)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().Var(filter, "filter", `Provide filter values (e.g. "label=<label>")`)
	return cmd
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
