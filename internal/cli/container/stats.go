package container

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"
)

// defaultStatsFormat is docker's stats table.
const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

// statsRedraw is how often a streaming table is redrawn, as docker does.
const statsRedraw = 500 * time.Millisecond

type statsOptions struct {
	all, noStream, noTrunc bool
	format                 string
}

// NewStatsCommand returns `stats`: a live table of the resource use of
// the running containers (or all of them, or the named ones), redrawn
// every half second, or one table with --no-stream.
func NewStatsCommand(cli *command.Cli) *cobra.Command {
	var o statsOptions
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runStats(cmd.Context(), api, cli.Out(), &o, args)
		},
		Annotations:           map[string]string{command.AnnotationAliases: "berth container stats, berth stats"},
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	flags.BoolVar(&o.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	flags.BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate output")
	flags.StringVar(&o.format, "format", "", FormatHelp)
	return cmd
}

// runStats collects every container's stats concurrently, one request
// each, and prints them. Without names it follows container events, so
// containers that start (or, with -a, are created) join the table and
// those that die (with -a: are destroyed) leave it.
func runStats(ctx context.Context, api client.APIClient, out io.Writer, o *statsOptions, names []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	format := o.format
	if format == "" || format == formatter.TableKey {
		format = defaultStatsFormat
	}
	// Check the template before asking the daemon anything.
	if err := (formatter.Context{Output: io.Discard, Format: formatter.Format(format)}).Write(statsHeader(), nil); err != nil {
		return err
	}

	set := &statsSet{}
	var firsts sync.WaitGroup
	add := func(ref string) {
		if e := set.add(ref); e != nil {
			firsts.Add(1)
			go e.collect(ctx, api, !o.noStream, firsts.Done)
		}
	}
	streamErr := make(chan error, 1)
	showAll := len(names) == 0
	if showAll {
		if !o.noStream {
			follow := followContainers(ctx, api, o.all, add, set.remove)
			go func() {
				if err := <-follow; err != nil {
					streamErr <- err
				}
			}()
		}
		res, err := api.ContainerList(ctx, client.ContainerListOptions{All: o.all})
		if err != nil {
			return err
		}
		for _, c := range res.Items {
			add(c.ID)
		}
		firsts.Wait()
	} else {
		for _, n := range names {
			add(n)
		}
		firsts.Wait()
		var errs []error
		for _, e := range set.list() {
			if err := e.error(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}

	var frame, table bytes.Buffer
	render := func() error {
		table.Reset()
		rows := set.rows(!o.noTrunc)
		fctx := formatter.Context{Output: &table, Format: formatter.Format(format)}
		return fctx.Write(statsHeader(), rows)
	}
	if o.noStream {
		if len(set.list()) == 0 {
			return nil
		}
		if err := render(); err != nil {
			return err
		}
		_, err := out.Write(table.Bytes())
		return err
	}

	tick := time.NewTicker(statsRedraw)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if len(set.list()) == 0 && !showAll {
				_, err := io.WriteString(out, "\033[H\033[J")
				return err
			}
			if err := render(); err != nil {
				return err
			}
			frame.Reset()
			// Home the cursor, end each line by clearing what an older,
			// longer frame left, and clear below for a shorter one.
			frame.WriteString("\033[H")
			for line := range bytes.SplitSeq(table.Bytes(), []byte{'\n'}) {
				frame.Write(line)
				frame.WriteString("\033[K\n")
			}
			frame.WriteString("\033[J")
			if _, err := out.Write(frame.Bytes()); err != nil {
				return err
			}
		case err := <-streamErr:
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil // the daemon went away: end quietly, as docker does
			}
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

// followContainers subscribes to container events and calls add for each
// container that starts (and with all, is created) and remove for each
// that dies (with all: only when destroyed). The returned channel yields
// the stream's end: at once if the subscription failed.
func followContainers(ctx context.Context, api client.APIClient, all bool, add, remove func(string)) <-chan error {
	res := api.Events(ctx, client.EventsListOptions{Filters: make(client.Filters).Add("type", string(events.ContainerEventType))})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case ev := <-res.Messages:
				if ev.Actor.ID == "" {
					continue
				}
				switch ev.Action {
				case events.ActionStart:
					add(ev.Actor.ID)
				case events.ActionCreate:
					if all {
						add(ev.Actor.ID)
					}
				case events.ActionDestroy:
					remove(ev.Actor.ID)
				case events.ActionDie:
					if !all {
						remove(ev.Actor.ID)
					}
				}
			case err := <-res.Err:
				if ctx.Err() != nil {
					err = nil
				}
				done <- err
				return
			case <-ctx.Done():
				done <- nil
				return
			}
		}
	}()
	return done
}
