package runtime

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// OCIVersion is the runtime-spec version berth's specs declare. It is not
// the Go module's (specs.Version, 1.3.0): Debian 12's crun 1.8, the runtime
// berth picks on cgroup v2 hosts, refuses every spec past 1.1 with
// "unknown version specified", and berth uses no field added since.
const OCIVersion = "1.1.0"

// DefaultPathEnv is the PATH a container gets when its configuration sets
// none, as Docker's oci.DefaultPathEnv on Linux.
const DefaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// InitPathInContainer is where --init's binary is bind-mounted; it becomes
// argv[0] of the container's process (Docker's /sbin/docker-init).
const InitPathInContainer = "/sbin/docker-init"

// SpecOptions is everything needed to turn a container's configuration into
// an OCI runtime spec.
type SpecOptions struct {
	ID string
	// Rootfs is the host path of the mounted root file system.
	Rootfs string
	// Config is the container's configuration, already merged with the
	// image's (Env, Cmd, Entrypoint, WorkingDir, User, ...) by the caller,
	// with Hostname set (Docker's default is the first 12 hex digits of
	// the ID, or the host's name with --network host).
	Config     *container.Config
	HostConfig *container.HostConfig
	// HostnamePath, HostsPath and ResolvConfPath are bind-mounted at
	// /etc/hostname, /etc/hosts and /etc/resolv.conf when set.
	HostnamePath, HostsPath, ResolvConfPath string
	// NetNSPath is the network namespace to join; "" gives the container
	// a new one with only loopback. Ignored for --network host, which
	// shares the host's network and UTS namespaces.
	NetNSPath string
	// CgroupsPath goes to linux.cgroupsPath as is, e.g. "/berth/<id>".
	CgroupsPath string
	// InitPath is the host path of the init binary used for --init
	// (tini-static); required when HostConfig.Init is true.
	InitPath string
	// HostCapabilities is the host's capability bounding set (see
	// HostCapabilities); nil means read it now.
	HostCapabilities []string
	// PidNSPath and IPCNSPath are the namespaces to join for
	// --pid/--ipc container:NAME (/proc/<that container's pid>/ns/…).
	PidNSPath, IPCNSPath string
	// NoX32 says the kernel has no x32 ABI (KernelHasX32 is false): the
	// seccomp filter then leaves SCMP_ARCH_X32 out. An x32 system call
	// cannot reach such a kernel's syscall table anyway, and compiling the
	// third architecture costs runc about 10 ms on every start.
	NoX32 bool
	// PrecompileSeccomp hands the runtime the default profile's filter
	// compiled (crun's SeccompBPFAnnotation), sparing it the compilation
	// on every start.
	PrecompileSeccomp bool
	// Mounts are the container's volumes and binds, as the volume service
	// resolved them. They follow Docker's default mounts; one whose
	// destination equals a default mount's replaces it, and one at /dev
	// replaces everything under /dev.
	Mounts []specs.Mount
}

// GenerateSpec builds the OCI runtime spec Docker's daemon would give this
// container (moby daemon/oci_linux.go and daemon/pkg/oci/defaults.go): the
// process (args, env, user, capabilities, rlimits), namespaces, default and
// requested mounts, masked and read-only paths, device rules, the default
// seccomp profile, sysctls and cgroup resources.
func GenerateSpec(opts SpecOptions) (*specs.Spec, error) {
	cfg, hc := opts.Config, opts.HostConfig
	if cfg == nil || hc == nil {
		return nil, errors.New("generate spec: Config and HostConfig are required")
	}
	if opts.Rootfs == "" {
		return nil, errors.New("generate spec: Rootfs is required")
	}
	hostCaps := opts.HostCapabilities
	if hostCaps == nil {
		var err error
		if hostCaps, err = HostCapabilities(); err != nil {
			return nil, err
		}
	}
	sec, err := parseSecurityOpts(hc.SecurityOpt)
	if err != nil {
		return nil, err
	}

	args := append(append([]string(nil), cfg.Entrypoint...), cfg.Cmd...)
	if len(args) == 0 {
		return nil, errdefs.Invalid(errors.New("no command specified"))
	}
	if wantsInit(hc) {
		if opts.InitPath == "" {
			return nil, errors.New("--init requested but no init binary is configured")
		}
		args = append([]string{InitPathInContainer, "--"}, args...)
	}

	usr, err := resolveUser(opts.Rootfs, cfg.User, hc.GroupAdd)
	if err != nil {
		return nil, err
	}
	if hc.Umask != nil {
		umask := *hc.Umask
		usr.umask = &umask
	}

	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	oomScore := hc.OomScoreAdj
	s := &specs.Spec{
		Version: OCIVersion,
		Process: &specs.Process{
			Terminal: cfg.Tty,
			User: specs.User{
				UID:            usr.uid,
				GID:            usr.gid,
				AdditionalGids: usr.additionalGids,
				Umask:          usr.umask,
			},
			Args:            args,
			Env:             containerEnv(cfg, usr.home),
			Cwd:             cwd,
			NoNewPrivileges: sec.noNewPrivileges,
			OOMScoreAdj:     &oomScore,
		},
		Root:       &specs.Root{Path: opts.Rootfs, Readonly: hc.ReadonlyRootfs},
		Hostname:   cfg.Hostname,
		Domainname: cfg.Domainname,
		Linux: &specs.Linux{
			CgroupsPath: opts.CgroupsPath,
			Sysctl:      map[string]string{},
		},
	}
	if cfg.Tty && hc.ConsoleSize[0] > 0 && hc.ConsoleSize[1] > 0 {
		s.Process.ConsoleSize = &specs.Box{Height: hc.ConsoleSize[0], Width: hc.ConsoleSize[1]}
	}
	if sec.apparmor != "" && apparmorEnabled() {
		s.Process.ApparmorProfile = sec.apparmor
	}

	if s.Process.Rlimits, err = containerRlimits(hc.Ulimits, hostCaps); err != nil {
		return nil, err
	}

	caps, err := containerCapabilities(hc.CapAdd, hc.CapDrop, hc.Privileged, hostCaps)
	if err != nil {
		return nil, err
	}
	if usr.uid == 0 {
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	} else {
		// Docker (oci.SetCapabilities): a non-root process holds only the
		// bounding set, as after an execve.
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps}
	}

	if err := setNamespaces(s, opts); err != nil {
		return nil, err
	}
	if err := setMounts(s, opts); err != nil {
		return nil, err
	}

	s.Linux.MaskedPaths = defaultMaskedPaths()
	s.Linux.ReadonlyPaths = defaultReadonlyPaths()
	if hc.MaskedPaths != nil {
		s.Linux.MaskedPaths = hc.MaskedPaths
	}
	if hc.ReadonlyPaths != nil {
		s.Linux.ReadonlyPaths = hc.ReadonlyPaths
	}
	if hc.Privileged || sec.unconfinedPaths {
		s.Linux.MaskedPaths = nil
		s.Linux.ReadonlyPaths = nil
	}

	if s.Linux.Resources, err = containerResources(hc.Resources); err != nil {
		return nil, err
	}
	if hc.Privileged {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		if s.Linux.Devices, err = hostDevices(); err != nil {
			return nil, err
		}
	} else {
		s.Linux.Resources.Devices = defaultDeviceRules()
		nodes, rules, err := userDevices(hc.Devices)
		if err != nil {
			return nil, err
		}
		extra, err := deviceCgroupRules(hc.DeviceCgroupRules)
		if err != nil {
			return nil, err
		}
		s.Linux.Devices = append(s.Linux.Devices, nodes...)
		s.Linux.Resources.Devices = append(append(s.Linux.Resources.Devices, rules...), extra...)
	}

	// Docker's default sysctls for a network namespace of the container's
	// own: ping without CAP_NET_RAW and low ports without
	// CAP_NET_BIND_SERVICE. Not for host or another container's network.
	if !hc.NetworkMode.IsHost() && !hc.NetworkMode.IsContainer() {
		if sysctlExists("net.ipv4.ping_group_range") {
			s.Linux.Sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
		}
		if sysctlExists("net.ipv4.ip_unprivileged_port_start") {
			s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
		}
	}
	for k, v := range hc.Sysctls {
		s.Linux.Sysctl[k] = v
	}

	// The seccomp profile depends on the bounding set (some syscalls are
	// allowed only with CAP_SYS_ADMIN and the like), so it comes last.
	if !hc.Privileged && sec.seccomp != "unconfined" {
		if sec.seccomp == "" || sec.seccomp == "builtin" {
			s.Linux.Seccomp, err = seccomp.GetDefaultProfile(s)
		} else {
			s.Linux.Seccomp, err = seccomp.LoadProfile(sec.seccomp, s)
		}
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("seccomp profile: %w", err))
		}
		if opts.NoX32 && s.Linux.Seccomp != nil {
			archs := s.Linux.Seccomp.Architectures[:0]
			for _, a := range s.Linux.Seccomp.Architectures {
				if a != specs.ArchX32 {
					archs = append(archs, a)
				}
			}
			s.Linux.Seccomp.Architectures = archs
		}
		builtin := sec.seccomp == "" || sec.seccomp == "builtin"
		if opts.PrecompileSeccomp && builtin && s.Linux.Seccomp != nil {
			if err := precompileSeccomp(s); err != nil {
				return nil, fmt.Errorf("seccomp profile: %w", err)
			}
		}
	}
	return s, nil
}

// wantsInit reports whether --init applies: Docker adds the init only in a
// PID namespace of the container's own, where nothing else reaps zombies.
func wantsInit(hc *container.HostConfig) bool {
	return hc.Init != nil && *hc.Init && !hc.PidMode.IsHost() && !hc.PidMode.IsContainer()
}

// containerEnv is Docker's CreateDaemonEnvironment: PATH, HOSTNAME and
// (with a TTY) TERM, overridden or extended by the configuration's Env, plus
// HOME from the user's passwd entry when Env does not set it (runc does the
// same at exec time; writing it here makes exec and inspect agree).
func containerEnv(cfg *container.Config, home string) []string {
	env := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + cfg.Hostname}
	if cfg.Tty {
		env = append(env, "TERM=xterm")
	}
	env = replaceOrAppendEnv(env, cfg.Env)
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+home)
	}
	return env
}

// replaceOrAppendEnv overlays overrides on defaults by key, as Docker's
// ReplaceOrAppendEnvValues: KEY=VALUE replaces or appends, a bare KEY
// removes the default.
func replaceOrAppendEnv(defaults, overrides []string) []string {
	out := append([]string(nil), defaults...)
	for _, o := range overrides {
		key, _, hasValue := strings.Cut(o, "=")
		idx := -1
		for i, d := range out {
			if k, _, _ := strings.Cut(d, "="); k == key {
				idx = i
				break
			}
		}
		switch {
		case idx >= 0 && hasValue:
			out[idx] = o
		case idx >= 0:
			out = append(out[:idx], out[idx+1:]...)
		case hasValue:
			out = append(out, o)
		}
	}
	return out
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			return true
		}
	}
	return false
}

// setNamespaces picks the namespaces as Docker's WithNamespaces does: mount,
// network, uts, pid and ipc of the container's own, minus those the
// configuration shares with the host, plus a cgroup namespace where Docker
// makes one (private by default on cgroup v2, host on v1).
func setNamespaces(s *specs.Spec, opts SpecOptions) error {
	hc := opts.HostConfig
	if !hc.PidMode.Valid() {
		return errdefs.Invalid(fmt.Errorf("invalid PID mode: %v", hc.PidMode))
	}
	if !hc.IpcMode.Valid() {
		return errdefs.Invalid(fmt.Errorf("invalid IPC mode: %v", hc.IpcMode))
	}
	if !hc.UTSMode.Valid() {
		return errdefs.Invalid(fmt.Errorf("invalid UTS mode: %v", hc.UTSMode))
	}
	if !hc.CgroupnsMode.Valid() {
		return errdefs.Invalid(fmt.Errorf("invalid cgroup namespace mode: %v", hc.CgroupnsMode))
	}
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}

	switch {
	case hc.NetworkMode.IsHost():
	case hc.NetworkMode.IsContainer() && opts.NetNSPath == "":
		return errdefs.NotImplemented(fmt.Errorf("network mode %s needs the other container's namespace path", hc.NetworkMode))
	default:
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: opts.NetNSPath})
	}

	if hc.NetworkMode.IsHost() || hc.UTSMode.IsHost() {
		// The host's UTS namespace: the runtime refuses to set a hostname
		// there, and the caller already put the host's name in HOSTNAME.
		s.Hostname = ""
		s.Domainname = ""
	} else {
		ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace})
	}

	switch {
	case hc.PidMode.IsHost():
	case hc.PidMode.IsContainer():
		if opts.PidNSPath == "" {
			return errdefs.Invalid(fmt.Errorf("PID mode %s needs the other container's namespace path", hc.PidMode))
		}
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: opts.PidNSPath})
	default:
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}

	switch {
	case hc.IpcMode.IsHost():
	case hc.IpcMode.IsContainer():
		if opts.IPCNSPath == "" {
			return errdefs.Invalid(fmt.Errorf("IPC mode %s needs the other container's namespace path", hc.IpcMode))
		}
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: opts.IPCNSPath})
	default:
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
	}

	switch {
	case hc.CgroupnsMode.IsPrivate():
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	case hc.CgroupnsMode.IsEmpty() && cgroupV2():
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	s.Linux.Namespaces = ns
	return nil
}

// cgroupV2 reports whether /sys/fs/cgroup is the unified hierarchy.
func cgroupV2() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return false
	}
	return st.Type == unix.CGROUP2_SUPER_MAGIC
}

// securityOpts is HostConfig.SecurityOpt parsed.
type securityOpts struct {
	noNewPrivileges bool
	seccomp         string // "", "unconfined", "builtin" or a JSON profile
	apparmor        string
	unconfinedPaths bool // systempaths=unconfined
}

// parseSecurityOpts reads --security-opt values in Docker's forms
// ("key=value", the legacy "key:value", and the bare "no-new-privileges"),
// rejecting what Docker rejects with its messages.
func parseSecurityOpts(in []string) (securityOpts, error) {
	var out securityOpts
	for _, opt := range in {
		if opt == "no-new-privileges" {
			out.noNewPrivileges = true
			continue
		}
		if opt == "disable" { // SELinux labels off: nothing to do without SELinux
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			if k, v, ok = strings.Cut(opt, ":"); !ok {
				return out, errdefs.Invalid(fmt.Errorf("invalid --security-opt 1: %q", opt))
			}
		}
		switch k {
		case "label":
		case "apparmor":
			out.apparmor = v
		case "seccomp":
			out.seccomp = v
		case "no-new-privileges":
			switch v {
			case "true":
				out.noNewPrivileges = true
			case "false":
				out.noNewPrivileges = false
			default:
				return out, errdefs.Invalid(fmt.Errorf("invalid --security-opt 2: %q", opt))
			}
		case "systempaths":
			if v != "unconfined" {
				return out, errdefs.Invalid(fmt.Errorf("invalid --security-opt 2: %q", opt))
			}
			out.unconfinedPaths = true
		default:
			return out, errdefs.Invalid(fmt.Errorf("invalid --security-opt 2: %q", opt))
		}
	}
	return out, nil
}
