package runtime

import (
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// hostWithoutSysResource is this machine's bounding set: every capability
// but CAP_SYS_RESOURCE.
func hostWithoutSysResource() []string {
	var out []string
	for _, c := range linuxCapabilities {
		if c != "CAP_SYS_RESOURCE" {
			out = append(out, c)
		}
	}
	return out
}

func without(list []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(c string) bool { return slices.Contains(drop, c) })
}

// baseOpts is a minimal valid container: busybox-like, command "true".
func baseOpts(t *testing.T) SpecOptions {
	t.Helper()
	return SpecOptions{
		ID:               "0123456789abcdef",
		Rootfs:           newRootfs(t),
		Config:           &container.Config{Hostname: "0123456789ab", Cmd: []string{"true"}},
		HostConfig:       &container.HostConfig{},
		CgroupsPath:      "/berth/0123456789abcdef",
		HostCapabilities: hostWithoutSysResource(),
	}
}

func TestGenerateSpecCapabilities(t *testing.T) {
	host := hostWithoutSysResource()
	tests := []struct {
		doc     string
		host    []string
		user    string
		add     []string
		drop    []string
		priv    bool
		want    []string
		nonRoot bool
		wantErr string
	}{
		{doc: "Docker's 14 defaults", host: host, want: defaultCapabilities()},
		{doc: "a default the host lacks is left out", host: without(host, "CAP_MKNOD"), want: without(defaultCapabilities(), "CAP_MKNOD")},
		{doc: "add without prefix, lower case", host: host, add: []string{"net_admin"}, want: append(defaultCapabilities(), "CAP_NET_ADMIN")},
		{doc: "drop with and without prefix", host: host, drop: []string{"CAP_CHOWN", "kill"}, want: without(defaultCapabilities(), "CAP_CHOWN", "CAP_KILL")},
		{doc: "drop ALL then add one", host: host, drop: []string{"ALL"}, add: []string{"CHOWN"}, want: []string{"CAP_CHOWN"}},
		{doc: "add ALL minus a drop", host: host, add: []string{"ALL"}, drop: []string{"MKNOD"}, want: without(host, "CAP_MKNOD")},
		{doc: "privileged is the host's whole set", host: host, priv: true, want: host},
		{doc: "privileged ignores cap-drop", host: host, priv: true, drop: []string{"ALL"}, want: host},
		{doc: "dropping what the host lacks is fine", host: host, drop: []string{"SYS_RESOURCE"}, want: defaultCapabilities()},
		{doc: "non-root gets only the bounding set", host: host, user: "app", want: defaultCapabilities(), nonRoot: true},
		{doc: "unknown capability", host: host, add: []string{"FOO"}, wantErr: `unknown capability: "CAP_FOO"`},
		{doc: "capability the host cannot grant", host: host, add: []string{"SYS_RESOURCE"}, wantErr: `capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"`},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			o := baseOpts(t)
			o.HostCapabilities = tc.host
			o.Config.User = tc.user
			o.HostConfig.CapAdd, o.HostConfig.CapDrop, o.HostConfig.Privileged = tc.add, tc.drop, tc.priv
			s, err := GenerateSpec(o)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errdefs.IsInvalid(err) {
					t.Fatalf("err = %v, want invalid %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := s.Process.Capabilities
			if !slices.Equal(c.Bounding, tc.want) {
				t.Fatalf("bounding = %v\nwant %v", c.Bounding, tc.want)
			}
			wantEP := tc.want
			if tc.nonRoot {
				wantEP = nil
			}
			if !slices.Equal(c.Effective, wantEP) || !slices.Equal(c.Permitted, wantEP) {
				t.Fatalf("effective = %v, permitted = %v, want %v", c.Effective, c.Permitted, wantEP)
			}
			if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
				t.Fatalf("inheritable %v / ambient %v should be empty", c.Inheritable, c.Ambient)
			}
		})
	}
}

func TestHostCapabilities(t *testing.T) {
	caps, err := HostCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(caps, "CAP_CHOWN") {
		t.Fatalf("host caps %v lack CAP_CHOWN; tests run as root", caps)
	}
	for _, c := range caps {
		if !slices.Contains(linuxCapabilities[:], c) {
			t.Fatalf("unknown name %q", c)
		}
	}
}

func TestGenerateSpecProcess(t *testing.T) {
	tests := []struct {
		doc        string
		config     container.Config
		hostConfig container.HostConfig
		initPath   bool
		wantArgs   []string
		wantEnv    []string
		wantCwd    string
		wantErr    string
	}{
		{
			doc:      "defaults: PATH, HOSTNAME, HOME of root",
			config:   container.Config{Hostname: "abc", Cmd: []string{"sh"}},
			wantArgs: []string{"sh"},
			wantEnv:  []string{"PATH=" + DefaultPathEnv, "HOSTNAME=abc", "HOME=/root"},
			wantCwd:  "/",
		},
		{
			doc:      "entrypoint then cmd; Env overrides PATH in place",
			config:   container.Config{Hostname: "abc", Entrypoint: []string{"echo", "app"}, Cmd: []string{"--port", "8000"}, Env: []string{"A=1", "PATH=/x"}, WorkingDir: "/srv"},
			wantArgs: []string{"echo", "app", "--port", "8000"},
			wantEnv:  []string{"PATH=/x", "HOSTNAME=abc", "A=1", "HOME=/root"},
			wantCwd:  "/srv",
		},
		{
			doc:      "TTY adds TERM; user's HOME from passwd",
			config:   container.Config{Hostname: "h", Tty: true, User: "app", Cmd: []string{"sh"}},
			wantArgs: []string{"sh"},
			wantEnv:  []string{"PATH=" + DefaultPathEnv, "HOSTNAME=h", "TERM=xterm", "HOME=/home/app"},
			wantCwd:  "/",
		},
		{
			doc:      "Env's HOME wins; unknown uid gets /",
			config:   container.Config{Hostname: "h", User: "4242", Cmd: []string{"sh"}, Env: []string{"HOME=/data"}},
			wantArgs: []string{"sh"},
			wantEnv:  []string{"PATH=" + DefaultPathEnv, "HOSTNAME=h", "HOME=/data"},
			wantCwd:  "/",
		},
		{
			doc:        "--init puts docker-init first",
			config:     container.Config{Hostname: "h", Cmd: []string{"sleep", "1"}},
			hostConfig: container.HostConfig{Init: ptr(true)},
			initPath:   true,
			wantArgs:   []string{"/sbin/docker-init", "--", "sleep", "1"},
			wantEnv:    []string{"PATH=" + DefaultPathEnv, "HOSTNAME=h", "HOME=/root"},
			wantCwd:    "/",
		},
		{
			doc:        "--init is not used with --pid host",
			config:     container.Config{Hostname: "h", Cmd: []string{"sleep", "1"}},
			hostConfig: container.HostConfig{Init: ptr(true), PidMode: "host"},
			initPath:   true,
			wantArgs:   []string{"sleep", "1"},
			wantEnv:    []string{"PATH=" + DefaultPathEnv, "HOSTNAME=h", "HOME=/root"},
			wantCwd:    "/",
		},
		{doc: "no command at all", config: container.Config{Hostname: "h"}, wantErr: "no command specified"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			o := baseOpts(t)
			o.Config, o.HostConfig = &tc.config, &tc.hostConfig
			if tc.initPath {
				o.InitPath = "/bin/true"
			}
			s, err := GenerateSpec(o)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errdefs.IsInvalid(err) {
					t.Fatalf("err = %v, want invalid %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := s.Process
			if !slices.Equal(p.Args, tc.wantArgs) {
				t.Errorf("args = %q, want %q", p.Args, tc.wantArgs)
			}
			if !slices.Equal(p.Env, tc.wantEnv) {
				t.Errorf("env = %q, want %q", p.Env, tc.wantEnv)
			}
			if p.Cwd != tc.wantCwd || p.Terminal != tc.config.Tty {
				t.Errorf("cwd = %q terminal = %v", p.Cwd, p.Terminal)
			}
			if p.NoNewPrivileges {
				t.Error("no-new-privileges is on by default")
			}
			initMount := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == InitPathInContainer })
			if wantInit := tc.wantArgs[0] == InitPathInContainer; wantInit != (initMount >= 0) {
				t.Errorf("init mount present = %v, want %v", initMount >= 0, wantInit)
			} else if wantInit && (s.Mounts[initMount].Source != "/bin/true" || !slices.Contains(s.Mounts[initMount].Options, "ro")) {
				t.Errorf("init mount = %+v", s.Mounts[initMount])
			}
		})
	}
}

func nsTypes(s *specs.Spec) []specs.LinuxNamespaceType {
	var out []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		out = append(out, n.Type)
	}
	return out
}

func TestGenerateSpecNamespaces(t *testing.T) {
	cg := []specs.LinuxNamespaceType(nil)
	if cgroupV2() {
		cg = []specs.LinuxNamespaceType{specs.CgroupNamespace}
	}
	all := []specs.LinuxNamespaceType{specs.MountNamespace, specs.NetworkNamespace, specs.UTSNamespace, specs.PIDNamespace, specs.IPCNamespace}
	tests := []struct {
		doc          string
		hc           container.HostConfig
		netns        string
		want         []specs.LinuxNamespaceType
		wantHostname string
		wantNetPath  string
	}{
		{doc: "default: all private (cgroup per the host's version)", want: append(all, cg...), wantHostname: "0123456789ab"},
		{doc: "joins the given network namespace", netns: "/run/berth/netns/x", want: append(all, cg...), wantHostname: "0123456789ab", wantNetPath: "/run/berth/netns/x"},
		{doc: "--network none is a private namespace too", hc: container.HostConfig{NetworkMode: "none"}, want: append(all, cg...), wantHostname: "0123456789ab"},
		{doc: "--network host: no network or UTS namespace, no hostname", hc: container.HostConfig{NetworkMode: "host"}, netns: "/ignored",
			want: append([]specs.LinuxNamespaceType{specs.MountNamespace, specs.PIDNamespace, specs.IPCNamespace}, cg...)},
		{doc: "--pid host and --ipc host", hc: container.HostConfig{PidMode: "host", IpcMode: "host"},
			want: append([]specs.LinuxNamespaceType{specs.MountNamespace, specs.NetworkNamespace, specs.UTSNamespace}, cg...), wantHostname: "0123456789ab"},
		{doc: "--cgroupns private", hc: container.HostConfig{CgroupnsMode: "private"}, want: append(slices.Clone(all), specs.CgroupNamespace), wantHostname: "0123456789ab"},
		{doc: "--cgroupns host", hc: container.HostConfig{CgroupnsMode: "host"}, want: all, wantHostname: "0123456789ab"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			o := baseOpts(t)
			o.HostConfig = &tc.hc
			o.NetNSPath = tc.netns
			s, err := GenerateSpec(o)
			if err != nil {
				t.Fatal(err)
			}
			if got := nsTypes(s); !slices.Equal(got, tc.want) {
				t.Fatalf("namespaces = %v, want %v", got, tc.want)
			}
			if s.Hostname != tc.wantHostname {
				t.Fatalf("hostname = %q, want %q", s.Hostname, tc.wantHostname)
			}
			for _, n := range s.Linux.Namespaces {
				if n.Type == specs.NetworkNamespace && n.Path != tc.wantNetPath {
					t.Fatalf("netns path = %q, want %q", n.Path, tc.wantNetPath)
				}
			}
			if tc.hc.NetworkMode == "host" && s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "" {
				t.Fatal("network sysctls set for the host's namespace")
			}
		})
	}
}

func findMount(s *specs.Spec, dest string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dest {
			return &s.Mounts[i]
		}
	}
	return nil
}

func TestGenerateSpecMounts(t *testing.T) {
	tests := []struct {
		doc   string
		hc    container.HostConfig
		extra []specs.Mount
		check func(t *testing.T, s *specs.Spec)
	}{
		{
			doc: "Docker's defaults with a 64m /dev/shm and the network files",
			check: func(t *testing.T, s *specs.Spec) {
				var dests []string
				for _, m := range s.Mounts {
					dests = append(dests, m.Destination)
				}
				want := []string{"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm", "/etc/resolv.conf", "/etc/hostname", "/etc/hosts"}
				if !slices.Equal(dests, want) {
					t.Fatalf("mounts = %v, want %v", dests, want)
				}
				if shm := findMount(s, "/dev/shm"); !slices.Equal(shm.Options, []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}) {
					t.Fatalf("/dev/shm options = %v", shm.Options)
				}
				if h := findMount(s, "/etc/hosts"); h.Source != "/var/lib/berth/containers/x/hosts" || !slices.Equal(h.Options, []string{"rbind", "rprivate"}) {
					t.Fatalf("/etc/hosts = %+v", h)
				}
				if s.Root.Readonly || !slices.Contains(findMount(s, "/sys").Options, "ro") {
					t.Fatal("root must be writable and /sys read-only")
				}
				if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") || s.Linux.Seccomp == nil {
					t.Fatalf("masked %v readonly %v seccomp %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Linux.Seccomp != nil)
				}
			},
		},
		{
			doc: "--read-only: root and non-special defaults ro, network files ro",
			hc:  container.HostConfig{ReadonlyRootfs: true},
			check: func(t *testing.T, s *specs.Spec) {
				if !s.Root.Readonly {
					t.Fatal("root not read-only")
				}
				for _, d := range []string{"/sys", "/sys/fs/cgroup", "/etc/hosts", "/etc/resolv.conf"} {
					if !slices.Contains(findMount(s, d).Options, "ro") {
						t.Errorf("%s not ro: %v", d, findMount(s, d).Options)
					}
				}
				for _, d := range []string{"/proc", "/dev", "/dev/shm", "/dev/pts", "/dev/mqueue"} {
					if slices.Contains(findMount(s, d).Options, "ro") {
						t.Errorf("%s is ro", d)
					}
				}
			},
		},
		{
			doc: "--tmpfs with options overriding the defaults",
			hc:  container.HostConfig{Tmpfs: map[string]string{"/run": "size=1m,exec", "/tmp": ""}},
			check: func(t *testing.T, s *specs.Spec) {
				if m := findMount(s, "/run"); m == nil || m.Type != "tmpfs" || !slices.Equal(m.Options, []string{"nosuid", "nodev", "rprivate", "size=1m", "exec"}) {
					t.Fatalf("/run = %+v", m)
				}
				if m := findMount(s, "/tmp"); m == nil || !slices.Equal(m.Options, []string{"noexec", "nosuid", "nodev", "rprivate"}) {
					t.Fatalf("/tmp = %+v", m)
				}
			},
		},
		{
			doc: "--shm-size",
			hc:  container.HostConfig{ShmSize: 128 << 20},
			check: func(t *testing.T, s *specs.Spec) {
				if !slices.Contains(findMount(s, "/dev/shm").Options, "size=134217728") {
					t.Fatalf("/dev/shm = %v", findMount(s, "/dev/shm").Options)
				}
			},
		},
		{
			doc: "--ipc none has no /dev/shm",
			hc:  container.HostConfig{IpcMode: "none"},
			check: func(t *testing.T, s *specs.Spec) {
				if findMount(s, "/dev/shm") != nil {
					t.Fatal("/dev/shm mounted with --ipc none")
				}
			},
		},
		{
			doc:   "a volume replaces the default at its destination, parents first",
			extra: []specs.Mount{{Destination: "/data/sub/x", Type: "bind", Source: "/b"}, {Destination: "/dev/shm", Type: "bind", Source: "/a"}},
			check: func(t *testing.T, s *specs.Spec) {
				if m := findMount(s, "/dev/shm"); m.Source != "/a" {
					t.Fatalf("/dev/shm = %+v", m)
				}
				n := len(s.Mounts)
				if s.Mounts[n-1].Destination != "/data/sub/x" {
					t.Fatalf("deeper mount not last: %v", s.Mounts[n-1])
				}
			},
		},
		{
			doc: "--privileged: /sys rw, no masks, all devices, no seccomp",
			hc:  container.HostConfig{Privileged: true},
			check: func(t *testing.T, s *specs.Spec) {
				if slices.Contains(findMount(s, "/sys").Options, "ro") || slices.Contains(findMount(s, "/sys/fs/cgroup").Options, "ro") {
					t.Fatal("/sys is ro")
				}
				if s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil || s.Linux.Seccomp != nil {
					t.Fatal("privileged container is confined")
				}
				d := s.Linux.Resources.Devices
				if len(d) != 1 || !d[0].Allow || d[0].Access != "rwm" || len(s.Linux.Devices) == 0 {
					t.Fatalf("devices = %+v (%d nodes)", d, len(s.Linux.Devices))
				}
			},
		},
		{
			doc: "seccomp=unconfined and no-new-privileges",
			hc:  container.HostConfig{SecurityOpt: []string{"seccomp=unconfined", "no-new-privileges"}},
			check: func(t *testing.T, s *specs.Spec) {
				if s.Linux.Seccomp != nil || !s.Process.NoNewPrivileges {
					t.Fatal("security options not applied")
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			o := baseOpts(t)
			o.HostConfig = &tc.hc
			o.Mounts = tc.extra
			o.HostsPath = "/var/lib/berth/containers/x/hosts"
			o.HostnamePath = "/var/lib/berth/containers/x/hostname"
			o.ResolvConfPath = "/var/lib/berth/containers/x/resolv.conf"
			s, err := GenerateSpec(o)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestGenerateSpecRlimits(t *testing.T) {
	var host unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &host); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		doc     string
		caps    []string
		ulimits []*container.Ulimit
		want    []specs.POSIXRlimit
		wantErr string
	}{
		{doc: "Docker's nofile clamped to the host's hard limit", caps: hostWithoutSysResource(),
			want: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: min(defaultNofile, host.Max), Hard: min(defaultNofile, host.Max)}}},
		{doc: "with CAP_SYS_RESOURCE Docker's value stands", caps: linuxCapabilities[:],
			want: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: defaultNofile, Hard: defaultNofile}}},
		{doc: "--ulimit replaces nofile and adds nproc", caps: hostWithoutSysResource(),
			ulimits: []*container.Ulimit{{Name: "nofile", Soft: 100, Hard: 200}, {Name: "nproc", Soft: 50, Hard: 60}},
			want:    []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200}, {Type: "RLIMIT_NPROC", Soft: 50, Hard: 60}}},
		{doc: "--ulimit above the host is clamped", caps: hostWithoutSysResource(),
			ulimits: []*container.Ulimit{{Name: "nofile", Soft: 1 << 40, Hard: 1 << 40}},
			want:    []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: host.Max, Hard: host.Max}}},
		{doc: "unknown ulimit", caps: hostWithoutSysResource(), ulimits: []*container.Ulimit{{Name: "bogus", Soft: 1, Hard: 1}}, wantErr: "invalid ulimit type: bogus"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			o := baseOpts(t)
			o.HostCapabilities = tc.caps
			o.HostConfig.Ulimits = tc.ulimits
			s, err := GenerateSpec(o)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Process.Rlimits, tc.want) {
				t.Fatalf("rlimits = %+v, want %+v", s.Process.Rlimits, tc.want)
			}
		})
	}
}

func TestGenerateSpecResources(t *testing.T) {
	o := baseOpts(t)
	o.HostConfig.Resources = container.Resources{
		Memory: 64 << 20, MemorySwap: 128 << 20, CPUShares: 512, NanoCPUs: 1_500_000_000,
		CpusetCpus: "0", PidsLimit: ptr(int64(0)), BlkioWeight: 300, OomKillDisable: ptr(true),
	}
	o.HostConfig.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
	o.HostConfig.OomScoreAdj = 500
	s, err := GenerateSpec(o)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Linux.Resources
	switch {
	case *r.Memory.Limit != 64<<20 || *r.Memory.Swap != 128<<20 || !*r.Memory.DisableOOMKiller:
		t.Fatalf("memory = %+v", r.Memory)
	case *r.CPU.Shares != 512 || *r.CPU.Period != 100000 || *r.CPU.Quota != 150000 || r.CPU.Cpus != "0":
		t.Fatalf("cpu = %+v", r.CPU)
	case *r.Pids.Limit != -1:
		t.Fatalf("pids = %d, want -1 (unlimited)", *r.Pids.Limit)
	case *r.BlockIO.Weight != 300:
		t.Fatalf("blkio = %+v", r.BlockIO)
	case s.Linux.Sysctl["net.ipv4.ip_forward"] != "1" || *s.Process.OOMScoreAdj != 500:
		t.Fatalf("sysctl %v oom %d", s.Linux.Sysctl, *s.Process.OOMScoreAdj)
	case s.Linux.CgroupsPath != "/berth/0123456789abcdef":
		t.Fatalf("cgroupsPath = %q", s.Linux.CgroupsPath)
	case !slices.ContainsFunc(r.Devices, func(d specs.LinuxDeviceCgroup) bool {
		return d.Allow && d.Type == "c" && d.Major != nil && *d.Major == 1 && *d.Minor == 3
	}):
		t.Fatalf("/dev/null not allowed: %+v", r.Devices)
	}
}

func TestGenerateSpecSecurityOptErrors(t *testing.T) {
	for _, opt := range []string{"bogus", "foo=bar", "no-new-privileges=maybe"} {
		o := baseOpts(t)
		o.HostConfig.SecurityOpt = []string{opt}
		if _, err := GenerateSpec(o); !errdefs.IsInvalid(err) {
			t.Errorf("%q: err = %v, want invalid", opt, err)
		}
	}
}

func TestExecProcess(t *testing.T) {
	o := baseOpts(t)
	o.Config.Env = []string{"A=1"}
	o.HostConfig.SecurityOpt = []string{"no-new-privileges"}
	base, err := GenerateSpec(o)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		doc   string
		cfg   ExecOptions
		check func(t *testing.T, p *specs.Process)
	}{
		{
			doc: "inherits the container's process settings",
			cfg: ExecOptions{Cmd: []string{"ls"}},
			check: func(t *testing.T, p *specs.Process) {
				if !slices.Equal(p.Env, base.Process.Env) || p.Cwd != "/" || p.User.UID != 0 || !p.NoNewPrivileges ||
					!slices.Equal(p.Capabilities.Effective, defaultCapabilities()) || !slices.Equal(p.Rlimits, base.Process.Rlimits) {
					t.Fatalf("process = %+v", p)
				}
			},
		},
		{
			doc: "user, env, workdir and tty of the exec",
			cfg: ExecOptions{Cmd: []string{"sh"}, User: "app", Env: []string{"A=2", "B=3"}, WorkingDir: "/tmp", Tty: true},
			check: func(t *testing.T, p *specs.Process) {
				want := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=0123456789ab", "A=2", "HOME=/home/app", "TERM=xterm", "B=3"}
				if !slices.Equal(p.Env, want) {
					t.Fatalf("env = %q, want %q", p.Env, want)
				}
				if p.User.UID != 1000 || p.Cwd != "/tmp" || !p.Terminal || len(p.Capabilities.Effective) != 0 {
					t.Fatalf("process = %+v caps %+v", p, p.Capabilities)
				}
			},
		},
		{
			doc: "--privileged gets every host capability",
			cfg: ExecOptions{Cmd: []string{"sh"}, Privileged: true, HostCapabilities: hostWithoutSysResource()},
			check: func(t *testing.T, p *specs.Process) {
				if !slices.Equal(p.Capabilities.Bounding, hostWithoutSysResource()) || !slices.Equal(p.Capabilities.Effective, hostWithoutSysResource()) {
					t.Fatalf("caps = %+v", p.Capabilities)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			p, err := ExecProcess(base, o.Rootfs, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
	if _, err := ExecProcess(base, o.Rootfs, ExecOptions{}); !errdefs.IsInvalid(err) {
		t.Fatalf("empty exec: err = %v", err)
	}
	if _, err := ExecProcess(base, o.Rootfs, ExecOptions{Cmd: []string{"x"}, User: "nope"}); err == nil || !strings.Contains(err.Error(), "unable to find user nope") {
		t.Fatalf("unknown exec user: err = %v", err)
	}
	// The base spec is not modified by an exec.
	if hasEnv(base.Process.Env, "TERM") {
		t.Fatal("exec changed the container's env")
	}
}

func TestNoX32(t *testing.T) {
	for _, noX32 := range []bool{false, true} {
		s, err := GenerateSpec(SpecOptions{
			ID: "x", Rootfs: t.TempDir(), NoX32: noX32, HostCapabilities: []string{"CAP_CHOWN"},
			Config: &container.Config{Cmd: []string{"true"}}, HostConfig: &container.HostConfig{},
		})
		if err != nil {
			t.Fatal(err)
		}
		hasX32 := false
		for _, a := range s.Linux.Seccomp.Architectures {
			hasX32 = hasX32 || a == specs.ArchX32
		}
		if hasX32 == noX32 {
			t.Errorf("NoX32=%v: architectures %v", noX32, s.Linux.Seccomp.Architectures)
		}
	}
	// This host's kernel either serves x32 or not; the probe must not crash
	// and must agree with a second look.
	if KernelHasX32() != KernelHasX32() {
		t.Fatal("probe is not stable")
	}
}

func TestUserDevices(t *testing.T) {
	cases := []struct {
		doc   string
		hc    container.HostConfig
		check func(t *testing.T, s *specs.Spec)
		bad   bool
	}{
		{doc: "--device /dev/null:/dev/mynull:r", hc: container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "r"}}}},
			check: func(t *testing.T, s *specs.Spec) {
				var found bool
				for _, d := range s.Linux.Devices {
					found = found || (d.Path == "/dev/mynull" && d.Type == "c" && d.Major == 1 && d.Minor == 3)
				}
				last := s.Linux.Resources.Devices[len(s.Linux.Resources.Devices)-1]
				if !found || !last.Allow || last.Access != "r" || *last.Major != 1 || *last.Minor != 3 {
					t.Fatalf("devices %+v, last rule %+v", s.Linux.Devices, last)
				}
			}},
		{doc: "missing host device", hc: container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/nope"}}}}, bad: true},
		{doc: "not a device", hc: container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/etc/hostname"}}}}, bad: true},
		{doc: "bad mode", hc: container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/null", CgroupPermissions: "x"}}}}, bad: true},
		{doc: "cgroup rule", hc: container.HostConfig{Resources: container.Resources{DeviceCgroupRules: []string{"c 42:* rmw"}}},
			check: func(t *testing.T, s *specs.Spec) {
				last := s.Linux.Resources.Devices[len(s.Linux.Resources.Devices)-1]
				if last.Type != "c" || *last.Major != 42 || last.Minor != nil || last.Access != "rmw" {
					t.Fatalf("last rule %+v", last)
				}
			}},
		{doc: "bad cgroup rule", hc: container.HostConfig{Resources: container.Resources{DeviceCgroupRules: []string{"c 42 rmw"}}}, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			hc := tc.hc
			s, err := GenerateSpec(SpecOptions{ID: "x", Rootfs: t.TempDir(), HostCapabilities: []string{"CAP_CHOWN"},
				Config: &container.Config{Cmd: []string{"true"}}, HostConfig: &hc})
			if tc.bad {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}
