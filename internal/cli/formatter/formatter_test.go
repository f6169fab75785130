package formatter

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
)

func TestTemplateFuncs(t *testing.T) {
	tests := []struct {
		doc, format string
		data        any
		want        string
	}{
		{doc: "json", format: `{{json .}}`, data: map[string]string{"a": "<b>"}, want: `{"a":"<b>"}`},
		{doc: "join", format: `{{join . ","}}`, data: []string{"a", "b"}, want: "a,b"},
		{doc: "split", format: `{{index (split . ":") 1}}`, data: "a:b:c", want: "b"},
		{doc: "upper", format: `{{upper .}}`, data: "abc", want: "ABC"},
		{doc: "lower", format: `{{lower .}}`, data: "ABC", want: "abc"},
		{doc: "title", format: `{{title .}}`, data: "hello big world", want: "Hello Big World"},
		{doc: "truncate", format: `{{truncate . 3}}`, data: "abcdef", want: "abc"},
		{doc: "truncate short", format: `{{truncate . 10}}`, data: "abc", want: "abc"},
		{doc: "pad", format: `[{{pad . 1 2}}]`, data: "x", want: "[ x  ]"},
		{doc: "pad empty", format: `[{{pad . 1 2}}]`, data: "", want: "[]"},
		{doc: "println", format: `{{println .}}`, data: "x", want: "x\n"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			got, err := Execute(tc.format, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := Execute("{{.X}", nil); err == nil || !strings.HasPrefix(err.Error(), "template parsing error:") {
		t.Errorf("bad template error %v", err)
	}
}

func TestHumanAgo(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{500 * time.Millisecond, "Less than a second ago"},
		{1 * time.Second, "1 second ago"},
		{45 * time.Second, "45 seconds ago"},
		{90 * time.Second, "About a minute ago"},
		{5 * time.Minute, "5 minutes ago"},
		{65 * time.Minute, "About an hour ago"},
		{5 * time.Hour, "5 hours ago"},
		{3 * 24 * time.Hour, "3 days ago"},
		{15 * 24 * time.Hour, "2 weeks ago"},
		{90 * 24 * time.Hour, "3 months ago"},
		{3 * 365 * 24 * time.Hour, "3 years ago"},
	}
	for _, tc := range tests {
		if got := HumanAgo(now, now.Add(-tc.ago)); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.ago, got, tc.want)
		}
	}
}

func TestTruncation(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sha256:0123456789abcdef0123", "0123456789ab"},
		{"0123456789abcdef", "0123456789ab"},
		{"short", "short"},
		{"<missing>", "<missing>"},
	}
	for _, tc := range tests {
		if got := TruncateID(tc.in); got != tc.want {
			t.Errorf("TruncateID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Ellipsis("sleep 1000000 && echo done", 20); got != "sleep 1000000 && ec…" {
		t.Errorf("Ellipsis = %q", got)
	}
	if got := Ellipsis("échoé", 20); got != "échoé" {
		t.Errorf("Ellipsis short = %q", got)
	}
	if got := Ellipsis("ééééé", 3); got != "éé…" {
		t.Errorf("Ellipsis runes = %q", got)
	}
}

func TestTableHeaders(t *testing.T) {
	tests := []struct {
		doc    string
		format string
		header Header
		rows   []any
		want   string
	}{
		{
			doc:    "ps columns",
			format: "table {{.ID}}\t{{.Names}}\t{{.CreatedAt}}\t{{.RunningFor}}\t{{.LocalVolumes}}",
			header: ContainerHeader(),
			want:   "CONTAINER ID   NAMES     CREATED AT   CREATED   LOCAL VOLUMES\n",
		},
		{
			doc:    "label header and funcs",
			format: `table {{.Label "com.example.my-label"}}\t{{upper .Names}}\t{{json .Labels}}`,
			header: ContainerHeader(),
			want:   "my label   NAMES     LABELS\n",
		},
		{
			doc:    "images columns",
			format: "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Digest}}\t{{.CreatedSince}}\t{{.Size}}",
			header: ImageHeader(),
			want:   "REPOSITORY   TAG       IMAGE ID   DIGEST    CREATED   SIZE\n",
		},
		{
			doc:    "network columns",
			format: DefaultNetworkTableFormat,
			header: NetworkHeader(),
			want:   "NETWORK ID   NAME      DRIVER    SCOPE\n",
		},
		{
			doc:    "non-table has no header",
			format: "{{.ID}}",
			header: ContainerHeader(),
			want:   "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			var buf bytes.Buffer
			if err := (Context{Output: &buf, Format: Format(tc.format)}).Write(tc.header, tc.rows); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Errorf("got %q, want %q", buf.String(), tc.want)
			}
		})
	}
}

func TestContainerFields(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c := container.Summary{
		ID:      "4c5d6e7f8a9b0c1d2e3f",
		Names:   []string{"/web", "/other/link"},
		Image:   "docker.io/library/busybox:latest",
		ImageID: "sha256:abc",
		Command: "echo hello world from a long command",
		Created: now.Add(-10 * time.Second).Unix(),
		State:   container.StateExited,
		Status:  "Exited (0) 2 seconds ago",
		Labels:  map[string]string{"b": "2", "a": "1"},
		Ports: []container.PortSummary{
			{PrivatePort: 80, Type: "tcp"},
			{PrivatePort: 81, Type: "tcp"},
			{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 443, PublicPort: 8443, Type: "tcp"},
		},
		Mounts: []container.MountPoint{{Name: "averyveryverylongvolumename", Driver: "local"}, {Source: "/host"}},
		SizeRw: 1500, SizeRootFs: 4_000_000,
	}
	tests := []struct {
		field   string
		trunc   bool
		want    string
		noTrunc string
	}{
		{field: "ID", want: "4c5d6e7f8a9b", noTrunc: "4c5d6e7f8a9b0c1d2e3f"},
		{field: "Names", want: "web", noTrunc: "web,other/link"},
		{field: "Image", want: "busybox:latest", noTrunc: "docker.io/library/busybox:latest"},
		{field: "Command", want: `"echo hello world fr…"`, noTrunc: `"echo hello world from a long command"`},
		{field: "RunningFor", want: "10 seconds ago", noTrunc: "10 seconds ago"},
		{field: "Status", want: "Exited (0) 2 seconds ago", noTrunc: "Exited (0) 2 seconds ago"},
		{field: "State", want: "exited", noTrunc: "exited"},
		{field: "Labels", want: "a=1,b=2", noTrunc: "a=1,b=2"},
		{field: "Ports", want: "80-81/tcp, 0.0.0.0:8443->443/tcp", noTrunc: "80-81/tcp, 0.0.0.0:8443->443/tcp"},
		{field: "Size", want: "1.5kB (virtual 4MB)", noTrunc: "1.5kB (virtual 4MB)"},
		{field: "Mounts", want: "averyveryveryl…,/host", noTrunc: "averyveryverylongvolumename,/host"},
		{field: "LocalVolumes", want: "1", noTrunc: "1"},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			for _, trunc := range []bool{true, false} {
				got, err := Execute("{{."+tc.field+"}}", NewContainerContext(c, trunc, now))
				if err != nil {
					t.Fatal(err)
				}
				want := tc.want
				if !trunc {
					want = tc.noTrunc
				}
				if got != want {
					t.Errorf("trunc=%v: got %q, want %q", trunc, got, want)
				}
			}
		})
	}
}

func TestImageRows(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	imgs := []image.Summary{
		{ID: "sha256:0123456789abcdef", RepoTags: []string{"busybox:latest", "registry.example.com/team/app:v2"}, RepoDigests: []string{"busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111"}, Created: now.Add(-49 * time.Hour).Unix(), Size: 4_261_550},
		{ID: "sha256:fedcba9876543210", Created: now.Unix(), Size: 0},
		{ID: "sha256:aaaaaaaaaaaaaaaa", RepoDigests: []string{"alpine@sha256:2222222222222222222222222222222222222222222222222222222222222222"}, Created: now.Unix()},
	}
	var buf bytes.Buffer
	if err := (Context{Output: &buf, Format: DefaultImageTableFormatWithDigest}).Write(ImageHeader(), ImageRows(imgs, true, true, now)); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"REPOSITORY                      TAG       DIGEST                                                                    IMAGE ID       CREATED                  SIZE",
		"busybox                         latest    sha256:1111111111111111111111111111111111111111111111111111111111111111   0123456789ab   2 days ago               4.26MB",
		"registry.example.com/team/app   v2        <none>                                                                    0123456789ab   2 days ago               4.26MB",
		"<none>                          <none>    <none>                                                                    fedcba987654   Less than a second ago   0B",
		"alpine                          <none>    sha256:2222222222222222222222222222222222222222222222222222222222222222   aaaaaaaaaaaa   Less than a second ago   0B",
	}, "\n") + "\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	rows := ImageRows(imgs[2:], true, false, now)
	if len(rows) != 1 || rows[0].(*ImageContext).Digest() != "" || rows[0].(*ImageContext).Tag() != "<none>" {
		t.Errorf("digest-only image without --digests: %+v", rows)
	}
}

func TestInspectorTemplateUsesRawAndTypedZeroValues(t *testing.T) {
	raw := []byte(`{"Id":"abc","State":{"ExitCode":137,"Running":false},"HostConfig":{"Memory":1073741824},"Config":{"Entrypoint":null,"Cmd":["sh"]},"NetworkSettings":{"Networks":{}}}`)
	typed := container.InspectResponse{}
	tests := []struct{ format, want string }{
		{"{{.State.ExitCode}}", "137"},
		{"{{.HostConfig.Memory}}", "1073741824"},
		{"{{.Config.Entrypoint}}", "[]"},
		{"{{.Config.Cmd}}", "[sh]"},
		{"{{json .Config.Cmd}}", `["sh"]`},
		{"{{.State.Running}}", "false"},
		{"[{{.NetworkSettings.IPAddress}}]", "[]"},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		ins, err := NewInspector(&buf, tc.format)
		if err != nil {
			t.Fatal(err)
		}
		if err := ins.Inspect(InspectItem{Raw: raw, Typed: typed}); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(buf.String(), "\n"); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.format, got, tc.want)
		}
	}
	var buf bytes.Buffer
	ins, _ := NewInspector(&buf, "")
	_ = ins.Inspect(InspectItem{Raw: []byte(`{"a":1}`)})
	_ = ins.Flush()
	if buf.String() != "[\n    {\n        \"a\": 1\n    }\n]\n" {
		t.Errorf("indented output %q", buf.String())
	}
	buf.Reset()
	ins, _ = NewInspector(&buf, "")
	_ = ins.Flush()
	if buf.String() != "[]\n" {
		t.Errorf("empty output %q", buf.String())
	}
}
