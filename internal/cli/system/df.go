package system

import (
	"context"
	"fmt"
	"time"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const defaultDiskUsageFormat = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"

func diskUsageHeader() formatter.Header {
	return formatter.Header{
		"Type":        "TYPE",
		"TotalCount":  "TOTAL",
		"Active":      "ACTIVE",
		"Size":        "SIZE",
		"Reclaimable": "RECLAIMABLE",
	}
}

// diskUsageRow is one line of `system df`.
type diskUsageRow struct {
	Type        string
	TotalCount  string
	Active      string
	Size        string
	Reclaimable string
}

func newDiskUsageRow(typ string, total, active, size, reclaimable int64) *diskUsageRow {
	r := formatter.HumanSize(reclaimable)
	if size > 0 {
		r = fmt.Sprintf("%s (%d%%)", r, int(float64(reclaimable)*100/float64(size)))
	}
	return &diskUsageRow{
		Type:        typ,
		TotalCount:  fmt.Sprintf("%d", total),
		Active:      fmt.Sprintf("%d", active),
		Size:        formatter.HumanSize(size),
		Reclaimable: r,
	}
}

func newDiskUsageCommand(cli *command.Cli) *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show docker disk usage",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiskUsage(cmd.Context(), cli, format, verbose)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`)
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Show detailed information on space usage")
	return cmd
}

func runDiskUsage(ctx context.Context, cli *command.Cli, format string, verbose bool) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	du, err := api.DiskUsage(ctx, client.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true, Verbose: verbose})
	if err != nil {
		return err
	}
	if verbose && (format == "" || format == formatter.TableKey) {
		return writeVerboseDiskUsage(cli.Out(), du, time.Now())
	}
	if format == "" || format == formatter.TableKey {
		format = defaultDiskUsageFormat
	}
	rows := []any{
		newDiskUsageRow("Images", du.Images.TotalCount, du.Images.ActiveCount, du.Images.TotalSize, du.Images.Reclaimable),
		newDiskUsageRow("Containers", du.Containers.TotalCount, du.Containers.ActiveCount, du.Containers.TotalSize, du.Containers.Reclaimable),
		newDiskUsageRow("Local Volumes", du.Volumes.TotalCount, du.Volumes.ActiveCount, du.Volumes.TotalSize, du.Volumes.Reclaimable),
		newDiskUsageRow("Build Cache", du.BuildCache.TotalCount, du.BuildCache.ActiveCount, du.BuildCache.TotalSize, du.BuildCache.Reclaimable),
	}
	f := formatter.Context{Output: cli.Out(), Format: formatter.Format(format)}
	return f.Write(diskUsageHeader(), rows)
}
