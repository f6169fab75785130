package formatter

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

// Format is a --format value: "", "table", "table TEMPLATE", "json" or a
// bare TEMPLATE.
type Format string

// Well-known format keys.
const (
	TableKey = "table"
	JSONKey  = "json"
)

// IsTable reports whether the format starts with "table".
func (f Format) IsTable() bool { return strings.HasPrefix(string(f), TableKey) }

// IsJSON reports whether the format is exactly "json".
func (f Format) IsJSON() bool { return strings.TrimSpace(string(f)) == JSONKey }

// template returns the Go template the format stands for.
func (f Format) template() string {
	s := string(f)
	switch {
	case f.IsJSON():
		return "{{json .}}"
	case f.IsTable():
		s = s[len(TableKey):]
	}
	s = strings.Trim(s, " ")
	return strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(s)
}

// Header maps a row's field names to the column titles docker prints.
type Header map[string]string

// Label is the header for {{.Label "name"}}: the last dot-separated part of
// the name with - and _ turned into spaces.
func (h Header) Label(name string) string {
	parts := strings.Split(name, ".")
	return strings.NewReplacer("-", " ", "_", " ").Replace(parts[len(parts)-1])
}

// Context renders rows to Output in the given Format.
type Context struct {
	Output io.Writer
	Format Format
}

// Write executes the format on every row. For table formats the header row
// comes first and columns are aligned with docker's tabwriter settings
// (min width 10, padding 3).
func (c Context) Write(header Header, rows []any) error {
	tmplText := c.Format.template()
	tmpl, err := Parse(tmplText)
	if err != nil {
		return fmt.Errorf("failed to parse template: %w", err)
	}
	var body bytes.Buffer
	for _, r := range rows {
		if err := tmpl.Execute(&body, r); err != nil {
			return fmt.Errorf("failed to execute template: %w", err)
		}
		body.WriteString("\n")
	}
	if !c.Format.IsTable() {
		_, err := body.WriteTo(c.Output)
		return err
	}
	w := tabwriter.NewWriter(c.Output, 10, 1, 3, ' ', 0)
	if htmpl, err := template.New("").Funcs(headerFuncs()).Option("missingkey=zero").Parse(tmplText); err == nil {
		var hb bytes.Buffer
		if htmpl.Execute(&hb, header) == nil {
			hb.WriteString("\n")
			_, _ = hb.WriteTo(w)
		}
	}
	if _, err := body.WriteTo(w); err != nil {
		return err
	}
	return w.Flush()
}
