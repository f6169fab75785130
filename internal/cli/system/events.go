package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/template"
	"time"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"
	"berth/internal/cli/opts"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// rfc3339NanoFixed keeps trailing zeros so event lines align.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

type eventsOptions struct {
	since, until, format string
	filter               *opts.FilterOpt
}

// NewEventsCommand returns `events` (and `system events`).
func NewEventsCommand(cli *command.Cli) *cobra.Command {
	o := eventsOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvents(cmd.Context(), cli, &o)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth system events, berth events"},
	}
	flags := cmd.Flags()
	flags.StringVar(&o.since, "since", "", "Show all events created since timestamp")
	flags.StringVar(&o.until, "until", "", "Stream events until this timestamp")
	flags.VarP(o.filter, "filter", "f", "Filter output based on conditions provided")
	flags.StringVar(&o.format, "format", "", inspectFormatHelp)
	return cmd
}

func runEvents(ctx context.Context, cli *command.Cli, o *eventsOptions) error {
	var tmpl *template.Template
	if o.format != "" {
		text := o.format
		if formatter.Format(o.format).IsJSON() {
			text = "{{json .}}"
		}
		t, err := formatter.Parse(text)
		if err != nil {
			return command.StatusError{Status: "Error parsing format: " + err.Error(), StatusCode: 64}
		}
		tmpl = t
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := api.Events(ctx, client.EventsListOptions{Since: o.since, Until: o.until, Filters: o.filter.Value()})
	for {
		select {
		case ev := <-res.Messages:
			if err := printEvent(cli.Out(), ev, tmpl); err != nil {
				return err
			}
		case err := <-res.Err:
			if err == nil || errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
	}
}

func printEvent(w io.Writer, ev events.Message, tmpl *template.Template) error {
	if tmpl != nil {
		if err := tmpl.Execute(w, ev); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w)
		return err
	}
	_, err := io.WriteString(w, FormatEvent(ev, time.Local))
	return err
}

// FormatEvent renders one event in docker's default line format:
//
//	2026-11-22T23:45:39.123456789Z container start <id> (image=busybox, name=x)
func FormatEvent(ev events.Message, loc *time.Location) string {
	var b strings.Builder
	switch {
	case ev.TimeNano != 0:
		b.WriteString(time.Unix(0, ev.TimeNano).In(loc).Format(rfc3339NanoFixed) + " ")
	case ev.Time != 0:
		b.WriteString(time.Unix(ev.Time, 0).In(loc).Format(rfc3339NanoFixed) + " ")
	}
	fmt.Fprintf(&b, "%s %s %s", ev.Type, ev.Action, ev.Actor.ID)
	if len(ev.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(ev.Actor.Attributes))
		for k := range ev.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]string, len(keys))
		for i, k := range keys {
			attrs[i] = k + "=" + ev.Actor.Attributes[k]
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(attrs, ", "))
	}
	b.WriteString("\n")
	return b.String()
}
