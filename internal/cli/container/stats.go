package container

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type statsOptions struct {
	all, noStream, noTrunc bool
	format                 string
}

// NewStatsCommand returns `stats`. Only --no-stream snapshots are
// rendered; without it berth also prints one snapshot.
func NewStatsCommand(cli *command.Cli) *cobra.Command {
	var o statsOptions
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStats(cmd.Context(), cli, &o, args)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container stats, berth stats"},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	flags.BoolVar(&o.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	flags.BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate output")
	flags.StringVar(&o.format, "format", "", FormatHelp)
	return cmd
}

func runStats(ctx context.Context, cli *command.Cli, o *statsOptions, ids []string) error {
	api, err := cli.Client()
	if err != nil {
		return err
	}
	type target struct{ id, name string }
	var targets []target
	if len(ids) == 0 {
		res, err := api.ContainerList(ctx, client.ContainerListOptions{All: o.all})
		if err != nil {
			return err
		}
		for _, c := range res.Items {
			name := ""
			if len(c.Names) > 0 {
				name = strings.TrimPrefix(c.Names[0], "/")
			}
			targets = append(targets, target{c.ID, name})
		}
	} else {
		for _, id := range ids {
			targets = append(targets, target{id, ""})
		}
	}
	w := tabwriter.NewWriter(cli.Out(), 10, 1, 3, ' ', 0)
	fmt.Fprintln(w, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
	var msgs []string
	for _, t := range targets {
		res, err := api.ContainerStats(ctx, t.id, client.ContainerStatsOptions{Stream: false, IncludePreviousSample: true})
		if err != nil {
			msgs = append(msgs, err.Error())
			continue
		}
		var s container.StatsResponse
		err = json.NewDecoder(res.Body).Decode(&s)
		res.Body.Close()
		if err != nil {
			msgs = append(msgs, err.Error())
			continue
		}
		id := s.ID
		if id == "" {
			id = t.id
		}
		if !o.noTrunc {
			id = formatter.TruncateID(id)
		}
		name := strings.TrimPrefix(s.Name, "/")
		if name == "" {
			name = t.name
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", id, name, cpuPercent(s), memUsage(s), memPercent(s), netIO(s), blockIO(s), s.PidsStats.Current)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s", strings.Join(msgs, "\n"))
	}
	return nil
}

func cpuPercent(s container.StatsResponse) string {
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	n := float64(s.CPUStats.OnlineCPUs)
	if n == 0 {
		n = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	p := 0.0
	if sysDelta > 0 && cpuDelta > 0 {
		p = cpuDelta / sysDelta * n * 100
	}
	return fmt.Sprintf("%.2f%%", p)
}

func memUsed(s container.StatsResponse) float64 {
	used := float64(s.MemoryStats.Usage)
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := s.MemoryStats.Stats[k]; ok && float64(v) < used {
			return used - float64(v)
		}
	}
	return used
}

func memUsage(s container.StatsResponse) string {
	return fmt.Sprintf("%s / %s", binSize(memUsed(s)), binSize(float64(s.MemoryStats.Limit)))
}

func memPercent(s container.StatsResponse) string {
	if s.MemoryStats.Limit == 0 {
		return "0.00%"
	}
	return fmt.Sprintf("%.2f%%", memUsed(s)/float64(s.MemoryStats.Limit)*100)
}

func netIO(s container.StatsResponse) string {
	var rx, tx float64
	for _, n := range s.Networks {
		rx += float64(n.RxBytes)
		tx += float64(n.TxBytes)
	}
	return fmt.Sprintf("%s / %s", formatter.HumanSize(int64(rx)), formatter.HumanSize(int64(tx)))
}

func blockIO(s container.StatsResponse) string {
	var r, w float64
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			r += float64(e.Value)
		case "write":
			w += float64(e.Value)
		}
	}
	return fmt.Sprintf("%s / %s", formatter.HumanSize(int64(r)), formatter.HumanSize(int64(w)))
}

func binSize(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", n, units[i])
}
