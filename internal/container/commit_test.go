package container

import (
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// TestImageConfig checks that a commit's image config is a copy: the
// changes applied to it must not reach the container's own config.
func TestImageConfig(t *testing.T) {
	c := &container.Config{
		Hostname:     "abc",
		User:         "app",
		Env:          []string{"A=1"},
		Cmd:          []string{"sh"},
		Labels:       map[string]string{"l": "1"},
		Volumes:      map[string]struct{}{"/data": {}},
		ExposedPorts: network.PortSet{network.MustParsePort("80/tcp"): {}},
		Healthcheck:  &container.HealthConfig{Test: []string{"CMD", "true"}, Retries: 3},
		StopSignal:   "SIGINT",
		WorkingDir:   "/srv",
	}
	got := imageConfig(c)
	if got.User != "app" || got.WorkingDir != "/srv" || got.StopSignal != "SIGINT" || got.Healthcheck.Retries != 3 {
		t.Errorf("config %+v", got)
	}
	if _, ok := got.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("ports %v", got.ExposedPorts)
	}
	got.Env[0] = "A=2"
	got.Cmd[0] = "cat"
	got.Labels["l"] = "2"
	got.Volumes["/other"] = struct{}{}
	got.Healthcheck.Test[0] = "NONE"
	if c.Env[0] != "A=1" || c.Cmd[0] != "sh" || c.Labels["l"] != "1" || len(c.Volumes) != 1 || c.Healthcheck.Test[0] != "CMD" {
		t.Errorf("container config changed through the image's: %+v", c)
	}
}

func TestFamiliarRef(t *testing.T) {
	cases := map[[2]string]string{
		{"", ""}:                        "",
		{"mine", ""}:                    "mine:latest",
		{"mine", "v1"}:                  "mine:v1",
		{"docker.io/library/x", "t"}:    "x:t",
		{"registry:5000/team/app", "2"}: "registry:5000/team/app:2",
	}
	for in, want := range cases {
		if got := familiarRef(in[0], in[1]); got != want {
			t.Errorf("familiarRef(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}
