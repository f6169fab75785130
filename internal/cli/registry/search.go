package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"
	"berth/internal/cli/opts"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// defaultSearchFormat is docker's search table.
const defaultSearchFormat = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"

type searchOptions struct {
	term    string
	format  string
	noTrunc bool
	limit   int
	filter  *opts.FilterOpt
}

// NewSearchCommand returns `search`.
func NewSearchCommand(cli *command.Cli) *cobra.Command {
	o := searchOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:   "search [OPTIONS] TERM",
		Short: "Search Docker Hub for images",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.term = args[0]
			return runSearch(cmd.Context(), cli, &o)
		},
		Annotations: map[string]string{command.AnnotationTop: "10"},
	}
	flags := cmd.Flags()
	flags.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.VarP(o.filter, "filter", "f", "Filter output based on conditions provided")
	flags.IntVar(&o.limit, "limit", 0, "Max number of search results")
	flags.StringVar(&o.format, "format", "", "Pretty-print search using a Go template")
	return cmd
}

func runSearch(ctx context.Context, cli *command.Cli, o *searchOptions) error {
	if _, ok := o.filter.Value()["is-automated"]; ok {
		fmt.Fprintln(cli.Err(), `WARNING: the "is-automated" filter is deprecated, and searching for "is-automated=true" will not yield any results in future.`)
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	res, err := api.ImageSearch(ctx, o.term, client.ImageSearchOptions{
		RegistryAuth: searchAuth(cli, o.term),
		Filters:      o.filter.Value(),
		Limit:        o.limit,
	})
	if err != nil {
		return err
	}
	format := o.format
	if format == "" || format == formatter.TableKey {
		format = defaultSearchFormat
	}
	rows := make([]any, 0, len(res.Items))
	for _, r := range res.Items {
		rows = append(rows, &searchRow{r: r, trunc: !o.noTrunc})
	}
	fctx := formatter.Context{Output: cli.Out(), Format: formatter.Format(format)}
	return fctx.Write(formatter.Header{"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL"}, rows)
}

// searchAuth is the X-Registry-Auth the Docker CLI sends with a search:
// the stored credentials of the registry the term names, an empty
// configuration when there are none.
func searchAuth(cli *command.Cli, term string) string {
	if enc := encodedAuth(cli, searchServer(term)); enc != "" {
		return enc
	}
	return "e30=" // base64 of {}
}

// searchRow is one line of `search`.
type searchRow struct {
	r     registry.SearchResult
	trunc bool
	json  bool
}

// Name is the repository name.
func (c *searchRow) Name() string { return c.r.Name }

// Description is the description on one line, cut to 45 characters
// unless --no-trunc.
func (c *searchRow) Description() string {
	d := strings.NewReplacer("\n", " ", "\r", " ").Replace(c.r.Description)
	if c.trunc {
		d = formatter.Ellipsis(d, 45)
	}
	return d
}

// StarCount is the number of stars.
func (c *searchRow) StarCount() string { return strconv.Itoa(c.r.StarCount) }

// IsOfficial is "[OK]" for official images ("true"/"false" in JSON).
func (c *searchRow) IsOfficial() string {
	switch {
	case c.json:
		return strconv.FormatBool(c.r.IsOfficial)
	case c.r.IsOfficial:
		return "[OK]"
	}
	return ""
}

// MarshalJSON renders the fields as docker's {{json .}} does.
func (c *searchRow) MarshalJSON() ([]byte, error) {
	j := *c
	j.json = true
	return json.Marshal(map[string]string{
		"Name":        j.Name(),
		"Description": j.Description(),
		"StarCount":   j.StarCount(),
		"IsOfficial":  j.IsOfficial(),
	})
}
