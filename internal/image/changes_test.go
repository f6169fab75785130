package image

import (
	"reflect"
	"strings"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

func TestApplyChanges(t *testing.T) {
	cases := []struct {
		name    string
		changes []string
		check   func(c dockerspec.DockerOCIImageConfig) bool
		err     string
	}{
		{"cmd exec", []string{`CMD ["a","b"]`}, func(c dockerspec.DockerOCIImageConfig) bool { return reflect.DeepEqual(c.Cmd, []string{"a", "b"}) }, ""},
		{"cmd shell", []string{`CMD echo hi $HOME`}, func(c dockerspec.DockerOCIImageConfig) bool {
			return reflect.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", "echo hi $HOME"})
		}, ""},
		{"entrypoint shell", []string{`entrypoint /app --x`}, func(c dockerspec.DockerOCIImageConfig) bool {
			return reflect.DeepEqual(c.Entrypoint, []string{"/bin/sh", "-c", "/app --x"})
		}, ""},
		{"env forms", []string{`ENV A=1 B="x y" C=a\ b`, `ENV D legacy value`, `ENV A=2`}, func(c dockerspec.DockerOCIImageConfig) bool {
			return reflect.DeepEqual(c.Env, []string{"A=2", "B=x y", "C=a b", "D=legacy value"})
		}, ""},
		{"label", []string{`LABEL a=b "c d"=e`}, func(c dockerspec.DockerOCIImageConfig) bool { return c.Labels["a"] == "b" && c.Labels["c d"] == "e" }, ""},
		{"expose", []string{`EXPOSE 80 53/udp 8000-8001`}, func(c dockerspec.DockerOCIImageConfig) bool {
			return len(c.ExposedPorts) == 4 && hasKey(c.ExposedPorts, "53/udp") && hasKey(c.ExposedPorts, "8001/tcp")
		}, ""},
		{"volume json and words", []string{`VOLUME ["/data"]`, `VOLUME /a /b`}, func(c dockerspec.DockerOCIImageConfig) bool {
			return len(c.Volumes) == 3 && hasKey(c.Volumes, "/data") && hasKey(c.Volumes, "/b")
		}, ""},
		{"workdir relative", []string{`WORKDIR /srv`, `WORKDIR app`}, func(c dockerspec.DockerOCIImageConfig) bool { return c.WorkingDir == "/srv/app" }, ""},
		{"user stopsignal onbuild", []string{`USER nobody:nogroup`, `STOPSIGNAL SIGQUIT`, `ONBUILD run echo hi`}, func(c dockerspec.DockerOCIImageConfig) bool {
			return c.User == "nobody:nogroup" && c.StopSignal == "SIGQUIT" && reflect.DeepEqual(c.OnBuild, []string{"RUN echo hi"})
		}, ""},
		{"run refused", []string{`RUN echo hi`}, nil, "run is not a valid change command"},
		{"onbuild chain", []string{`ONBUILD ONBUILD RUN x`}, nil, "Chaining ONBUILD"},
		{"bad port", []string{`EXPOSE abc`}, nil, "invalid containerPort: abc"},
		{"env unterminated", []string{`ENV A="x`}, nil, "unexpected end of statement"},
		{"env empty", []string{`ENV`}, nil, "ENV requires at least one argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c dockerspec.DockerOCIImageConfig
			err := applyChanges(&c, tc.changes)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func hasKey(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }
