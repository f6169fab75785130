package system

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"text/tabwriter"
	"text/template"
	"time"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const versionTemplate = `{{with .Client -}}
Client:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 Version:	{{.Version}}
 API version:	{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Go version:	{{.GoVersion}}
 Git commit:	{{.GitCommit}}
 Built:	{{.BuildTime}}
 OS/Arch:	{{.Os}}/{{.Arch}}
 Context:	{{.Context}}
{{- end}}

{{- if ne .Server nil}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:	{{.Version}}
  API version:	{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:	{{index .Details "GoVersion"}}
  Git commit:	{{index .Details "GitCommit"}}
  Built:	{{index .Details "BuildTime"}}
  OS/Arch:	{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:	{{index .Details "Experimental"}}
  {{- else }}
  Version:	{{$component.Version}}
  {{- range $key := detailsOrder $component}}
  {{$key}}:	{{index $component.Details $key}}
  {{- end}}
  {{- end}}
 {{- end}}
{{- end}}{{- end}}`

// ClientVersion is the "Client" half of `version`.
type ClientVersion struct {
	Platform          struct{ Name string } `json:",omitempty"`
	Version           string
	APIVersion        string `json:"ApiVersion"`
	DefaultAPIVersion string `json:"DefaultAPIVersion,omitempty"`
	GitCommit         string
	GoVersion         string
	Os                string
	Arch              string
	BuildTime         string `json:",omitempty"`
	Context           string
}

// ServerVersion is the "Server" half of `version`.
type ServerVersion struct {
	Platform      struct{ Name string }
	Version       string
	APIVersion    string `json:"ApiVersion"`
	MinAPIVersion string `json:"MinAPIVersion,omitempty"`
	Os            string
	Arch          string
	Experimental  bool `json:",omitempty"`
	Components    []system.ComponentVersion
}

// VersionInfo is what `version --format` templates see.
type VersionInfo struct {
	Client ClientVersion
	Server *ServerVersion
}

// NewVersionCommand returns `version`.
func NewVersionCommand(cli *command.Cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Docker version information",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd.Context(), cli, format)
		},
		Annotations: map[string]string{command.AnnotationTop: "11"},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

const inspectFormatHelp = `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`

func runVersion(ctx context.Context, cli *command.Cli, format string) error {
	tmplText := versionTemplate
	if format != "" {
		tmplText = format
		if format == formatter.JSONKey {
			tmplText = "{{json .}}"
		}
	}
	funcs := formatter.Funcs()
	funcs["detailsOrder"] = func(c system.ComponentVersion) []string {
		keys := make([]string, 0, len(c.Details))
		for k := range c.Details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return keys
	}
	tmpl, err := template.New("").Funcs(funcs).Parse(tmplText)
	if err != nil {
		return command.StatusError{Status: "template parsing error: " + err.Error(), StatusCode: 64}
	}
	v := VersionInfo{Client: ClientVersion{
		Version:           cli.Version,
		APIVersion:        client.MaxAPIVersion,
		DefaultAPIVersion: client.MaxAPIVersion,
		GoVersion:         runtime.Version(),
		GitCommit:         cli.Commit,
		BuildTime:         reformatDate(cli.BuildTime),
		Os:                runtime.GOOS,
		Arch:              runtime.GOARCH,
		Context:           cli.CurrentContext(),
	}}
	v.Client.Platform.Name = ""

	var serverErr error
	api, err := cli.Client()
	if err != nil {
		serverErr = err
	} else {
		sv, err := api.ServerVersion(ctx, client.ServerVersionOptions{})
		if err != nil {
			serverErr = err
		} else {
			v.Client.APIVersion = api.ClientVersion()
			s := &ServerVersion{
				Version:       sv.Version,
				APIVersion:    sv.APIVersion,
				MinAPIVersion: sv.MinAPIVersion,
				Os:            sv.Os,
				Arch:          sv.Arch,
				Experimental:  sv.Experimental,
				Components:    sv.Components,
			}
			s.Platform.Name = sv.Platform.Name
			found := false
			for i, c := range s.Components {
				if c.Name == "Engine" {
					found = true
					d := make(map[string]string, len(c.Details))
					for k, v := range c.Details {
						d[k] = v
					}
					d["BuildTime"] = reformatDate(d["BuildTime"])
					s.Components[i].Details = d
				}
			}
			if !found {
				s.Components = append(s.Components, system.ComponentVersion{
					Name:    "Engine",
					Version: sv.Version,
					Details: map[string]string{
						"ApiVersion":    sv.APIVersion,
						"MinAPIVersion": sv.MinAPIVersion,
						"Os":            sv.Os,
						"Arch":          sv.Arch,
						"Experimental":  fmt.Sprintf("%t", sv.Experimental),
					},
				})
			}
			v.Server = s
		}
	}
	w := tabwriter.NewWriter(cli.Out(), 20, 1, 1, ' ', 0)
	if err := tmpl.Execute(w, v); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := w.Flush(); err != nil {
		return err
	}
	return serverErr
}

// reformatDate renders an RFC 3339 build time as docker does (ANSI C).
func reformatDate(s string) string {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.Format(time.ANSIC)
	}
	return s
}
