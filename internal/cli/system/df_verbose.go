package system

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"

	"berth/internal/cli/formatter"
)

// writeVerboseDiskUsage prints `system df -v`: the images, containers,
// volumes and build cache sections, laid out as docker's CLI lays them out.
func writeVerboseDiskUsage(out io.Writer, du client.DiskUsageResult, now time.Time) error {
	w := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
	fmt.Fprintf(w, "Images space usage:\n\n")
	fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS")
	for _, img := range du.Images.Items {
		repo, tag := "<none>", "<none>"
		if len(img.RepoTags) > 0 {
			if named, err := reference.ParseNormalizedNamed(img.RepoTags[0]); err == nil {
				repo = reference.FamiliarName(named)
				if t, ok := named.(reference.Tagged); ok {
					tag = t.Tag()
				}
			}
		}
		shared := "N/A"
		unique := "N/A"
		if img.SharedSize >= 0 {
			shared = formatter.HumanSize(img.SharedSize)
			unique = formatter.HumanSize(img.Size - img.SharedSize)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", repo, tag, formatter.TruncateID(img.ID),
			formatter.HumanAgo(now, time.Unix(img.Created, 0)), formatter.HumanSize(img.Size), shared, unique, img.Containers)
	}
	fmt.Fprintf(w, "\nContainers space usage:\n\n")
	fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES")
	for _, c := range du.Containers.Items {
		cc := formatter.NewContainerContext(c, true, now)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cc.ID(), cc.Image(), cc.Command(), cc.LocalVolumes(),
			formatter.HumanSize(c.SizeRw), cc.RunningFor(), c.Status, cc.Names())
	}
	fmt.Fprintf(w, "\nLocal Volumes space usage:\n\n")
	fmt.Fprintln(w, "VOLUME NAME\tLINKS\tSIZE")
	for _, v := range du.Volumes.Items {
		links, size := "N/A", "N/A"
		if v.UsageData != nil {
			links = fmt.Sprintf("%d", v.UsageData.RefCount)
			if v.UsageData.Size >= 0 {
				size = formatter.HumanSize(v.UsageData.Size)
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", v.Name, links, size)
	}
	fmt.Fprintf(w, "\nBuild cache usage: %s\n\n", formatter.HumanSize(du.BuildCache.TotalSize))
	fmt.Fprintln(w, "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED")
	for _, b := range du.BuildCache.Items {
		last := ""
		if b.LastUsedAt != nil {
			last = formatter.HumanAgo(now, *b.LastUsedAt)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", formatter.TruncateID(b.ID), b.Type, formatter.HumanSize(b.Size),
			formatter.HumanAgo(now, b.CreatedAt), last, b.UsageCount, strings.ToLower(fmt.Sprint(b.Shared)))
	}
	return w.Flush()
}
