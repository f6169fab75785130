package container

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"

	"berth/internal/image"
)

func TestParseSignal(t *testing.T) {
	cases := []struct {
		doc  string
		in   string
		want syscall.Signal
		bad  bool
	}{
		{doc: "full name", in: "SIGTERM", want: syscall.SIGTERM},
		{doc: "short name", in: "USR1", want: syscall.SIGUSR1},
		{doc: "lower case", in: "kill", want: syscall.SIGKILL},
		{doc: "number", in: "9", want: syscall.SIGKILL},
		{doc: "realtime", in: "SIGRTMIN+3", want: syscall.Signal(37)},
		{doc: "unknown", in: "SIGNOPE", bad: true},
		{doc: "zero", in: "0", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			got, err := ParseSignal(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("ParseSignal(%q) = %v, want error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseSignal(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestEscapeReader(t *testing.T) {
	cases := []struct {
		doc      string
		keys     string
		in       string
		want     string
		detached bool
	}{
		{doc: "plain input passes", in: "hello\n", want: "hello\n"},
		{doc: "default keys detach", in: "ab\x10\x11cd", want: "ab", detached: true},
		{doc: "half a sequence is passed on", in: "a\x10b", want: "a\x10b"},
		{doc: "custom keys", keys: "ctrl-x,y", in: "1\x18y2", want: "1", detached: true},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			keys, err := parseDetachKeys(tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(newEscapeReader(strings.NewReader(tc.in), keys))
			if tc.detached != errors.Is(err, ErrDetached) {
				t.Fatalf("err = %v, detached want %v", err, tc.detached)
			}
			if string(got) != tc.want {
				t.Fatalf("read %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := parseDetachKeys("ctrl-1"); err == nil {
		t.Fatal("ctrl-1 accepted")
	}
}

func TestMergeImageConfig(t *testing.T) {
	img := &image.Image{Config: dockerspec.DockerOCIImage{}}
	img.Config.Config.Env = []string{"PATH=/bin", "A=1"}
	img.Config.Config.Entrypoint = []string{"echo", "app"}
	img.Config.Config.Cmd = []string{"--port", "8000"}
	img.Config.Config.WorkingDir = "/srv"
	img.Config.Config.Labels = map[string]string{"from": "image", "keep": "yes"}

	cases := []struct {
		doc            string
		req            container.Config
		wantEntrypoint []string
		wantCmd        []string
		wantEnv        []string
	}{
		{doc: "image defaults", wantEntrypoint: []string{"echo", "app"}, wantCmd: []string{"--port", "8000"}, wantEnv: []string{"PATH=/bin", "A=1"}},
		{doc: "cmd replaces image cmd", req: container.Config{Cmd: []string{"--port", "5000"}}, wantEntrypoint: []string{"echo", "app"}, wantCmd: []string{"--port", "5000"}},
		{doc: "entrypoint drops image cmd", req: container.Config{Entrypoint: []string{"sh"}}, wantEntrypoint: []string{"sh"}},
		{doc: "env merges by key", req: container.Config{Env: []string{"A=2", "B=3"}}, wantEntrypoint: []string{"echo", "app"}, wantCmd: []string{"--port", "8000"}, wantEnv: []string{"PATH=/bin", "A=2", "B=3"}},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			req := tc.req
			got := mergeImageConfig(&req, img)
			if strings.Join(got.Entrypoint, " ") != strings.Join(tc.wantEntrypoint, " ") {
				t.Errorf("entrypoint %q, want %q", got.Entrypoint, tc.wantEntrypoint)
			}
			if strings.Join(got.Cmd, " ") != strings.Join(tc.wantCmd, " ") {
				t.Errorf("cmd %q, want %q", got.Cmd, tc.wantCmd)
			}
			if tc.wantEnv != nil && strings.Join(got.Env, ",") != strings.Join(tc.wantEnv, ",") {
				t.Errorf("env %q, want %q", got.Env, tc.wantEnv)
			}
			if got.WorkingDir != "/srv" || got.Labels["from"] != "image" {
				t.Errorf("workdir %q labels %v", got.WorkingDir, got.Labels)
			}
		})
	}
}

func TestStatusString(t *testing.T) {
	now := time.Now()
	cases := []struct {
		st   State
		want string
	}{
		{State{Status: container.StateCreated}, "Created"},
		{State{Status: container.StateRunning, StartedAt: now.Add(-3 * time.Second)}, "Up 3 seconds"},
		{State{Status: container.StateExited, ExitCode: 2, FinishedAt: now.Add(-2 * time.Minute)}, "Exited (2) 2 minutes ago"},
	}
	for _, tc := range cases {
		if got := statusString(tc.st); got != tc.want {
			t.Errorf("statusString(%v) = %q, want %q", tc.st.Status, got, tc.want)
		}
	}
}

func TestStartExitCode(t *testing.T) {
	cases := map[string]int{
		`exec: "/nope": stat /nope: no such file or directory`: 127,
		`exec: "nope": executable file not found in $PATH`:     127,
		`exec: "/etc": is a directory`:                         126,
		`exec: "/x": permission denied`:                        126,
		`something else`:                                       128,
	}
	for msg, want := range cases {
		if got := startExitCode(msg); got != want {
			t.Errorf("startExitCode(%q) = %d, want %d", msg, got, want)
		}
	}
}
