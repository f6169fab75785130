package container

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"berth/internal/cli/command"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// parseArgs runs the run/create flag set over args as cobra would.
func parseArgs(t *testing.T, env map[string]string, args ...string) (*containerConfig, error) {
	t.Helper()
	flags := pflag.NewFlagSet("run", pflag.ContinueOnError)
	flags.SetInterspersed(false)
	copts := addFlags(flags)
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	rest := flags.Args()
	if len(rest) == 0 {
		t.Fatal("no image in args")
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	return parse(flags, copts, rest[0], rest[1:], lookup)
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseEnv(t *testing.T) {
	envFile := writeFile(t, "# comment\n\nFROM_FILE=1\n  INDENTED=x y\nQUOTED=\"q\"\nHOME_VAR\nMISSING_VAR\n")
	cfg, err := parseArgs(t, map[string]string{"HOME_VAR": "/home/u", "CALLER": "c", "EMPTY": ""},
		"--env-file", envFile, "-e", "A=1", "-e", "CALLER", "-e", "NOT_SET", "-e", "EMPTY", "busybox")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"FROM_FILE=1", "INDENTED=x y", `QUOTED="q"`, "HOME_VAR=/home/u", "A=1", "CALLER=c", "EMPTY="}
	if !reflect.DeepEqual(cfg.Config.Env, want) {
		t.Errorf("env %q, want %q", cfg.Config.Env, want)
	}
	bad := writeFile(t, "BAD VAR=1\n")
	if _, err := parseArgs(t, nil, "--env-file", bad, "busybox"); err == nil || !strings.Contains(err.Error(), "contains whitespaces") {
		t.Errorf("bad env file error %v", err)
	}
	if _, err := parseArgs(t, nil, "--env-file", "/nonexistent/env", "busybox"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing env file error %v", err)
	}
}

func TestParseLabels(t *testing.T) {
	lf := writeFile(t, "# labels\nfrom.file=yes\nbare\n")
	cfg, err := parseArgs(t, nil, "--label-file", lf, "-l", "a=b", "--label", "c", "busybox")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"from.file": "yes", "bare": "", "a": "b", "c": ""}
	if !reflect.DeepEqual(cfg.Config.Labels, want) {
		t.Errorf("labels %v, want %v", cfg.Config.Labels, want)
	}
}

func TestParseBasics(t *testing.T) {
	tests := []struct {
		doc   string
		args  []string
		check func(t *testing.T, c *containerConfig)
	}{
		{doc: "user and workdir", args: []string{"-u", "1000:1000", "-w", "/app", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if c.Config.User != "1000:1000" || c.Config.WorkingDir != "/app" {
				t.Errorf("user %q workdir %q", c.Config.User, c.Config.WorkingDir)
			}
		}},
		{doc: "entrypoint", args: []string{"--entrypoint", "/bin/echo", "busybox", "a", "b"}, check: func(t *testing.T, c *containerConfig) {
			if !reflect.DeepEqual(c.Config.Entrypoint, []string{"/bin/echo"}) || !reflect.DeepEqual(c.Config.Cmd, []string{"a", "b"}) {
				t.Errorf("entrypoint %q cmd %q", c.Config.Entrypoint, c.Config.Cmd)
			}
		}},
		{doc: "empty entrypoint resets", args: []string{"--entrypoint", "", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if !reflect.DeepEqual(c.Config.Entrypoint, []string{""}) || c.Config.Cmd != nil {
				t.Errorf("entrypoint %q cmd %q", c.Config.Entrypoint, c.Config.Cmd)
			}
		}},
		{doc: "no entrypoint", args: []string{"busybox"}, check: func(t *testing.T, c *containerConfig) {
			if c.Config.Entrypoint != nil {
				t.Errorf("entrypoint %q", c.Config.Entrypoint)
			}
		}},
		{doc: "default attach", args: []string{"busybox"}, check: func(t *testing.T, c *containerConfig) {
			if c.Config.AttachStdin || !c.Config.AttachStdout || !c.Config.AttachStderr || c.Config.OpenStdin {
				t.Errorf("attach %+v", c.Config)
			}
		}},
		{doc: "interactive tty", args: []string{"-it", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if !c.Config.AttachStdin || !c.Config.OpenStdin || !c.Config.StdinOnce || !c.Config.Tty {
				t.Errorf("attach %+v", c.Config)
			}
		}},
		{doc: "attach stdout only", args: []string{"-a", "STDOUT", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if c.Config.AttachStdin || !c.Config.AttachStdout || c.Config.AttachStderr {
				t.Errorf("attach %+v", c.Config)
			}
		}},
		{doc: "hostname stop settings init", args: []string{"-h", "box", "--stop-signal", "SIGUSR1", "--stop-timeout", "3", "--init", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if c.Config.Hostname != "box" || c.Config.StopSignal != "SIGUSR1" || c.Config.StopTimeout == nil || *c.Config.StopTimeout != 3 {
				t.Errorf("config %+v", c.Config)
			}
			if c.HostConfig.Init == nil || !*c.HostConfig.Init {
				t.Errorf("init %v", c.HostConfig.Init)
			}
		}},
		{doc: "stop-timeout and init unset", args: []string{"busybox"}, check: func(t *testing.T, c *containerConfig) {
			if c.Config.StopTimeout != nil || c.HostConfig.Init != nil {
				t.Errorf("unset values leaked: %v %v", c.Config.StopTimeout, c.HostConfig.Init)
			}
			if c.HostConfig.NetworkMode != "default" || c.HostConfig.RestartPolicy.Name != container.RestartPolicyDisabled {
				t.Errorf("defaults: %q %q", c.HostConfig.NetworkMode, c.HostConfig.RestartPolicy.Name)
			}
		}},
		{doc: "network none", args: []string{"--network", "none", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if c.HostConfig.NetworkMode != "none" {
				t.Errorf("network %q", c.HostConfig.NetworkMode)
			}
		}},
		{doc: "net alias", args: []string{"--net", "host", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if c.HostConfig.NetworkMode != "host" {
				t.Errorf("network %q", c.HostConfig.NetworkMode)
			}
		}},
		{doc: "resources", args: []string{"-m", "512m", "--cpus", "1.5", "--shm-size", "64m", "--pids-limit", "100", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if c.HostConfig.Memory != 512<<20 || c.HostConfig.NanoCPUs != 1_500_000_000 || c.HostConfig.ShmSize != 64<<20 {
				t.Errorf("resources %d %d %d", c.HostConfig.Memory, c.HostConfig.NanoCPUs, c.HostConfig.ShmSize)
			}
			if c.HostConfig.PidsLimit == nil || *c.HostConfig.PidsLimit != 100 {
				t.Errorf("pids %v", c.HostConfig.PidsLimit)
			}
		}},
		{doc: "volumes and tmpfs", args: []string{"-v", "/data", "-v", "/host:/ctr:ro", "--tmpfs", "/run:size=1m", "--read-only", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if _, ok := c.Config.Volumes["/data"]; !ok || len(c.Config.Volumes) != 1 {
				t.Errorf("volumes %v", c.Config.Volumes)
			}
			if !reflect.DeepEqual(c.HostConfig.Binds, []string{"/host:/ctr:ro"}) || c.HostConfig.Tmpfs["/run"] != "size=1m" || !c.HostConfig.ReadonlyRootfs {
				t.Errorf("binds %v tmpfs %v ro %v", c.HostConfig.Binds, c.HostConfig.Tmpfs, c.HostConfig.ReadonlyRootfs)
			}
		}},
		{doc: "mount", args: []string{"--mount", "type=bind,source=/src,target=/dst,readonly", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if len(c.HostConfig.Mounts) != 1 || c.HostConfig.Mounts[0].Source != "/src" || c.HostConfig.Mounts[0].Target != "/dst" || !c.HostConfig.Mounts[0].ReadOnly {
				t.Errorf("mounts %+v", c.HostConfig.Mounts)
			}
		}},
		{doc: "ports", args: []string{"-p", "8080:80", "-p", "127.0.0.1:5353:53/udp", "-p", "9000-9001:9000-9001", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			p80 := network.MustParsePort("80/tcp")
			p53 := network.MustParsePort("53/udp")
			p9001 := network.MustParsePort("9001/tcp")
			if b := c.HostConfig.PortBindings[p80]; len(b) != 1 || b[0].HostPort != "8080" || b[0].HostIP.IsValid() {
				t.Errorf("80: %+v", b)
			}
			if b := c.HostConfig.PortBindings[p53]; len(b) != 1 || b[0].HostPort != "5353" || b[0].HostIP.String() != "127.0.0.1" {
				t.Errorf("53: %+v", b)
			}
			if b := c.HostConfig.PortBindings[p9001]; len(b) != 1 || b[0].HostPort != "9001" {
				t.Errorf("9001: %+v", b)
			}
			if len(c.Config.ExposedPorts) != 4 {
				t.Errorf("exposed %v", c.Config.ExposedPorts)
			}
		}},
		{doc: "security and caps", args: []string{"--privileged", "--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--ulimit", "nofile=1024:2048", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if !c.HostConfig.Privileged || c.HostConfig.CapAdd[0] != "NET_ADMIN" || c.HostConfig.CapDrop[0] != "ALL" || c.HostConfig.SecurityOpt[0] != "no-new-privileges" {
				t.Errorf("host config %+v", c.HostConfig)
			}
			if len(c.HostConfig.Ulimits) != 1 || c.HostConfig.Ulimits[0].Soft != 1024 || c.HostConfig.Ulimits[0].Hard != 2048 {
				t.Errorf("ulimits %+v", c.HostConfig.Ulimits)
			}
		}},
		{doc: "dns hosts logging", args: []string{"--dns", "1.1.1.1", "--add-host", "db=10.0.0.2", "--log-driver", "json-file", "--log-opt", "max-size=1m", "--device", "/dev/fuse", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if len(c.HostConfig.DNS) != 1 || c.HostConfig.DNS[0].String() != "1.1.1.1" || c.HostConfig.ExtraHosts[0] != "db:10.0.0.2" {
				t.Errorf("dns %v hosts %v", c.HostConfig.DNS, c.HostConfig.ExtraHosts)
			}
			if c.HostConfig.LogConfig.Type != "json-file" || c.HostConfig.LogConfig.Config["max-size"] != "1m" {
				t.Errorf("log %+v", c.HostConfig.LogConfig)
			}
			if d := c.HostConfig.Devices; len(d) != 1 || d[0].PathInContainer != "/dev/fuse" || d[0].CgroupPermissions != "rwm" {
				t.Errorf("devices %+v", d)
			}
		}},
		{doc: "restart on-failure", args: []string{"--restart", "on-failure:3", "busybox"}, check: func(t *testing.T, c *containerConfig) {
			if c.HostConfig.RestartPolicy.Name != container.RestartPolicyOnFailure || c.HostConfig.RestartPolicy.MaximumRetryCount != 3 {
				t.Errorf("restart %+v", c.HostConfig.RestartPolicy)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			cfg, err := parseArgs(t, nil, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		doc  string
		args []string
		want string
	}{
		{doc: "unknown restart", args: []string{"--restart", "sometimes", "busybox"}, want: "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"},
		{doc: "count on always", args: []string{"--restart", "always:3", "busybox"}, want: "invalid restart policy: maximum retry count can only be used with 'on-failure'"},
		{doc: "bad count", args: []string{"--restart", "on-failure:x", "busybox"}, want: "invalid restart policy format: maximum retry count must be an integer"},
		{doc: "rm with restart", args: []string{"--rm", "--restart", "always", "busybox"}, want: "conflicting options: cannot specify both --restart and --rm"},
		{doc: "bad attach", args: []string{"-a", "stdfoo", "busybox"}, want: "valid streams are STDIN, STDOUT and STDERR"},
		{doc: "bad dns", args: []string{"--dns", "nope", "busybox"}, want: "nope is not an ip address"},
		{doc: "bad swappiness", args: []string{"--memory-swappiness", "200", "busybox"}, want: "invalid value: 200. Valid memory swappiness range is 0-100"},
		{doc: "bad memory", args: []string{"-m", "lots", "busybox"}, want: "invalid size: 'lots'"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			_, err := parseArgs(t, nil, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestExitStatusError(t *testing.T) {
	cmd := &cobra.Command{Use: "run"}
	root := &cobra.Command{Use: "berth"}
	root.AddCommand(cmd)
	cli := command.NewCli(nil, os.Stdout, os.Stderr, nil)
	tests := []struct {
		msg  string
		code int
	}{
		{`Error response from daemon: failed to create task: exec: "/nope": stat /nope: no such file or directory`, 127},
		{`exec: "nope": executable file not found in $PATH`, 127},
		{`exec: "/etc": is a directory`, 126},
		{`exec: "/bin/x": permission denied`, 126},
		{`Error response from daemon: Conflict. The container name "/x" is already in use`, 125},
	}
	for _, tc := range tests {
		err := exitStatusError(cli, cmd, errors.New(tc.msg))
		var se command.StatusError
		if !errors.As(err, &se) || se.StatusCode != tc.code {
			t.Errorf("%q: got %v, want code %d", tc.msg, err, tc.code)
			continue
		}
		if want := "berth: " + tc.msg + "\n\nRun 'berth run --help' for more information"; se.Status != want {
			t.Errorf("status %q, want %q", se.Status, want)
		}
	}
}
