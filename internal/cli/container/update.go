package container

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/opts"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// updateOptions are `update`'s flags.
type updateOptions struct {
	blkioWeight        uint16
	cpuPeriod          int64
	cpuQuota           int64
	cpuRealtimePeriod  int64
	cpuRealtimeRuntime int64
	cpusetCpus         string
	cpusetMems         string
	cpuShares          int64
	memory             opts.MemBytes
	memoryReservation  opts.MemBytes
	memorySwap         opts.MemSwapBytes
	restartPolicy      string
	pidsLimit          int64
	cpus               opts.NanoCPUs

	nFlag int
}

// NewUpdateCommand returns `update`.
func NewUpdateCommand(cli *command.Cli) *cobra.Command {
	var o updateOptions
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.nFlag = cmd.Flags().NFlag()
			return runUpdate(cmd.Context(), cli, &o, args)
		},
		Annotations:           map[string]string{command.AnnotationAliases: "berth container update, berth update"},
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.Uint16Var(&o.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	flags.Int64Var(&o.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	flags.Int64Var(&o.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	flags.Int64Var(&o.cpuRealtimePeriod, "cpu-rt-period", 0, "Limit the CPU real-time period in microseconds")
	flags.Int64Var(&o.cpuRealtimeRuntime, "cpu-rt-runtime", 0, "Limit the CPU real-time runtime in microseconds")
	flags.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	flags.StringVar(&o.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	flags.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	flags.VarP(&o.memory, "memory", "m", "Memory limit")
	flags.Var(&o.memoryReservation, "memory-reservation", "Memory soft limit")
	flags.Var(&o.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	flags.StringVar(&o.restartPolicy, "restart", "", "Restart policy to apply when a container exits")
	flags.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	flags.Var(&o.cpus, "cpus", "Number of CPUs")
	return cmd
}

// runUpdate sends one update per container, printing each name that was
// updated, then the daemon's warnings, and returns the errors joined, as
// docker does.
func runUpdate(ctx context.Context, cli *command.Cli, o *updateOptions, refs []string) error {
	if o.nFlag == 0 {
		return errors.New("you must provide one or more flags when using this command")
	}
	var restart container.RestartPolicy
	if o.restartPolicy != "" {
		var err error
		if restart, err = parseRestartPolicy(o.restartPolicy); err != nil {
			return err
		}
	}
	var pidsLimit *int64
	if o.pidsLimit != 0 {
		pidsLimit = &o.pidsLimit
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	options := client.ContainerUpdateOptions{
		Resources: &container.Resources{
			BlkioWeight:        o.blkioWeight,
			CpusetCpus:         o.cpusetCpus,
			CpusetMems:         o.cpusetMems,
			CPUShares:          o.cpuShares,
			Memory:             o.memory.Value(),
			MemoryReservation:  o.memoryReservation.Value(),
			MemorySwap:         o.memorySwap.Value(),
			CPUPeriod:          o.cpuPeriod,
			CPUQuota:           o.cpuQuota,
			CPURealtimePeriod:  o.cpuRealtimePeriod,
			CPURealtimeRuntime: o.cpuRealtimeRuntime,
			NanoCPUs:           o.cpus.Value(),
			PidsLimit:          pidsLimit,
		},
		RestartPolicy: &restart,
	}
	var warnings []string
	var errs []error
	for _, ref := range refs {
		res, err := api.ContainerUpdate(ctx, ref, options)
		if err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintln(cli.Out(), ref)
		}
		warnings = append(warnings, res.Warnings...)
	}
	if len(warnings) > 0 {
		fmt.Fprintln(cli.Out(), strings.Join(warnings, "\n"))
	}
	return errors.Join(errs...)
}
