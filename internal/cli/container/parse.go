package container

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"berth/internal/cli/opts"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
)

// containerConfig is what create sends to the daemon.
type containerConfig struct {
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

func validateAttach(v string) (string, error) {
	l := strings.ToLower(v)
	for _, s := range []string{"stdin", "stdout", "stderr"} {
		if l == s {
			return l, nil
		}
	}
	return v, errors.New("valid streams are STDIN, STDOUT and STDERR")
}

// validateExtraHost accepts host:ip and host=ip and returns host:ip.
func validateExtraHost(v string) (string, error) {
	name, ip, ok := strings.Cut(v, "=")
	if !ok {
		name, ip, ok = strings.Cut(v, ":")
	}
	if !ok || name == "" || ip == "" {
		return "", fmt.Errorf("bad format for add-host: %q", v)
	}
	if ip != "host-gateway" {
		ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
		if _, err := netip.ParseAddr(ip); err != nil {
			return "", fmt.Errorf("invalid IP address in add-host: %q", ip)
		}
	}
	return name + ":" + ip, nil
}

// parseRestartPolicy parses --restart as docker does.
func parseRestartPolicy(policy string) (container.RestartPolicy, error) {
	var p container.RestartPolicy
	if policy == "" {
		return container.RestartPolicy{Name: container.RestartPolicyDisabled}, nil
	}
	k, v, _ := strings.Cut(policy, ":")
	if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, errors.New("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	p.Name = container.RestartPolicyMode(k)
	switch p.Name {
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped, container.RestartPolicyDisabled:
		if p.MaximumRetryCount != 0 {
			return p, errors.New("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
	case container.RestartPolicyOnFailure:
		if p.MaximumRetryCount < 0 {
			return p, errors.New("invalid restart policy: maximum retry count cannot be negative")
		}
	case "":
		return p, errors.New("invalid restart policy format: no policy provided before colon")
	default:
		return p, fmt.Errorf("invalid restart policy: unknown policy '%s'; use one of '%s', '%s', '%s', or '%s'", p.Name,
			container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyOnFailure, container.RestartPolicyUnlessStopped)
	}
	return p, nil
}

// parsePlatform parses os[/arch[/variant]].
func parsePlatform(s string) (*ocispec.Platform, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) > 3 || parts[0] == "" {
		return nil, fmt.Errorf("%q: unknown operating system or architecture: invalid argument", s)
	}
	p := &ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p, nil
}

// parse turns the flags into the create request, following docker's
// cli/command/container/opts.go.
func parse(flags *pflag.FlagSet, o *containerOptions, image string, args []string, lookup opts.LookupFunc) (*containerConfig, error) {
	var (
		attachStdin  = contains(o.attach.GetSlice(), "stdin")
		attachStdout = contains(o.attach.GetSlice(), "stdout")
		attachStderr = contains(o.attach.GetSlice(), "stderr")
	)
	if o.stdin {
		attachStdin = true
	}
	if o.attach.Len() == 0 {
		attachStdout = true
		attachStderr = true
	}

	if o.swappiness != -1 && (o.swappiness < 0 || o.swappiness > 100) {
		return nil, fmt.Errorf("invalid value: %d. Valid memory swappiness range is 0-100", o.swappiness)
	}

	var binds []string
	volumes := map[string]struct{}{}
	for _, v := range o.volumes.GetSlice() {
		if strings.TrimSpace(v) == "" {
			return nil, errors.New("invalid empty volume spec")
		}
		src, dst, ok := strings.Cut(v, ":")
		if !ok || dst == "" {
			volumes[v] = struct{}{}
			continue
		}
		if !filepath.IsAbs(src) && strings.HasPrefix(src, ".") {
			if abs, err := filepath.Abs(src); err == nil {
				src = abs
			}
		}
		binds = append(binds, src+":"+dst)
	}
	if len(volumes) == 0 {
		volumes = nil
	}

	tmpfs := map[string]string{}
	for _, t := range o.tmpfs.GetSlice() {
		// The daemon checks the target, as the Docker CLI leaves it to.
		dst, options, _ := strings.Cut(t, ":")
		tmpfs[dst] = options
	}
	if len(tmpfs) == 0 {
		tmpfs = nil
	}

	var mounts []mount.Mount
	for _, m := range o.mounts.GetSlice() {
		mt, err := parseMount(m)
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, mt)
	}

	var runCmd []string
	if len(args) > 0 {
		runCmd = args
	}
	var entrypoint []string
	if o.entrypoint != "" {
		entrypoint = []string{o.entrypoint}
	} else if flags.Changed("entrypoint") {
		entrypoint = []string{""}
	}

	exposed, bindings, err := parsePorts(o.publish.GetSlice())
	if err != nil {
		return nil, err
	}
	for _, e := range o.expose.GetSlice() {
		pr, err := network.ParsePortRange(withProto(e))
		if err != nil {
			return nil, fmt.Errorf("invalid range format for --expose: %s, error: %w", e, err)
		}
		for p := range pr.All() {
			if exposed == nil {
				exposed = network.PortSet{}
			}
			exposed[p] = struct{}{}
		}
	}

	var devices []container.DeviceMapping
	for _, d := range o.devices.GetSlice() {
		dm, err := parseDevice(d)
		if err != nil {
			return nil, err
		}
		devices = append(devices, dm)
	}

	// Environment: env files first, then -e, as docker does.
	var env []string
	for _, f := range o.envFile.GetSlice() {
		lines, err := opts.ParseEnvFile(f, lookup)
		if err != nil {
			return nil, err
		}
		env = append(env, lines...)
	}
	eflags, err := opts.ExpandEnv(o.env.GetSlice(), lookup)
	if err != nil {
		return nil, err
	}
	env = append(env, eflags...)

	var labels []string
	for _, f := range o.labelsFile.GetSlice() {
		lines, err := opts.ParseLabelFile(f)
		if err != nil {
			return nil, err
		}
		labels = append(labels, lines...)
	}
	labels = append(labels, o.labels.GetSlice()...)

	restart, err := parseRestartPolicy(o.restartPolicy)
	if err != nil {
		return nil, err
	}
	if o.autoRemove && restart.Name != container.RestartPolicyDisabled && restart.Name != "" {
		return nil, errors.New("conflicting options: cannot specify both --restart and --rm")
	}

	logOpts := map[string]string{}
	for _, l := range o.loggingOpts.GetSlice() {
		k, v, _ := strings.Cut(l, "=")
		logOpts[k] = v
	}
	if len(logOpts) == 0 {
		logOpts = nil
	}

	securityOpts, err := parseSecurityOpts(o.securityOpt.GetSlice())
	if err != nil {
		return nil, err
	}

	storageOpts := map[string]string{}
	for _, s := range o.storageOpt.GetSlice() {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, errors.New("invalid storage option")
		}
		storageOpts[k] = v
	}
	if len(storageOpts) == 0 {
		storageOpts = nil
	}

	var dns []netip.Addr
	for _, d := range o.dns.GetSlice() {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, fmt.Errorf("%s is not an ip address", d)
		}
		dns = append(dns, a)
	}

	var health *container.HealthConfig
	haveHealth := o.healthCmd != "" || o.healthInterval != 0 || o.healthTimeout != 0 || o.healthStartPeriod != 0 || o.healthRetries != 0 || o.healthStartInterval != 0
	if o.noHealthcheck {
		if haveHealth {
			return nil, errors.New("--no-healthcheck conflicts with --health-* options")
		}
		health = &container.HealthConfig{Test: []string{"NONE"}}
	} else if haveHealth {
		var test []string
		if o.healthCmd != "" {
			test = []string{"CMD-SHELL", o.healthCmd}
		}
		if o.healthRetries < 0 {
			return nil, errors.New("--health-retries cannot be negative")
		}
		health = &container.HealthConfig{
			Test:          test,
			Interval:      o.healthInterval,
			Timeout:       o.healthTimeout,
			StartPeriod:   o.healthStartPeriod,
			StartInterval: o.healthStartInterval,
			Retries:       o.healthRetries,
		}
	}

	throttle := func(l *opts.ListOpts, iops bool) ([]*blkiodev.ThrottleDevice, error) {
		var out []*blkiodev.ThrottleDevice
		for _, v := range l.GetSlice() {
			p, rate, ok := strings.Cut(v, ":")
			if !ok || !strings.HasPrefix(p, "/dev/") {
				return nil, fmt.Errorf("bad format: %s", v)
			}
			var n uint64
			if iops {
				r, err := strconv.ParseUint(rate, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("invalid rate for device: %s. The correct format is <device-path>:<number>. Number must be a positive integer", v)
				}
				n = r
			} else {
				var mb opts.MemBytes
				if err := mb.Set(rate); err != nil || mb < 0 {
					return nil, fmt.Errorf("invalid rate for device: %s. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb", v)
				}
				n = uint64(mb)
			}
			out = append(out, &blkiodev.ThrottleDevice{Path: p, Rate: n})
		}
		return out, nil
	}
	readBps, err := throttle(o.deviceReadBps, false)
	if err != nil {
		return nil, err
	}
	writeBps, err := throttle(o.deviceWriteBps, false)
	if err != nil {
		return nil, err
	}
	readIOps, err := throttle(o.deviceReadIOps, true)
	if err != nil {
		return nil, err
	}
	writeIOps, err := throttle(o.deviceWriteIOps, true)
	if err != nil {
		return nil, err
	}
	var weightDevices []*blkiodev.WeightDevice
	for _, v := range o.blkioWeightDevice.GetSlice() {
		p, w, ok := strings.Cut(v, ":")
		if !ok || !strings.HasPrefix(p, "/dev/") {
			return nil, fmt.Errorf("bad format: %s", v)
		}
		n, err := strconv.ParseUint(w, 10, 16)
		if err != nil || (n != 0 && (n < 10 || n > 1000)) {
			return nil, fmt.Errorf("invalid weight for device: %s", v)
		}
		weightDevices = append(weightDevices, &blkiodev.WeightDevice{Path: p, Weight: uint16(n)})
	}

	resources := container.Resources{
		CgroupParent:         o.cgroupParent,
		Memory:               o.memory.Value(),
		MemoryReservation:    o.memoryReservation.Value(),
		MemorySwap:           o.memorySwap.Value(),
		NanoCPUs:             o.cpus.Value(),
		CPUCount:             o.cpuCount,
		CPUPercent:           o.cpuPercent,
		CPUShares:            o.cpuShares,
		CPUPeriod:            o.cpuPeriod,
		CpusetCpus:           o.cpusetCpus,
		CpusetMems:           o.cpusetMems,
		CPUQuota:             o.cpuQuota,
		CPURealtimePeriod:    o.cpuRealtimePeriod,
		CPURealtimeRuntime:   o.cpuRealtimeRuntime,
		BlkioWeight:          o.blkioWeight,
		BlkioWeightDevice:    weightDevices,
		BlkioDeviceReadBps:   readBps,
		BlkioDeviceWriteBps:  writeBps,
		BlkioDeviceReadIOps:  readIOps,
		BlkioDeviceWriteIOps: writeIOps,
		Ulimits:              o.ulimits.GetList(),
		Devices:              devices,
		DeviceCgroupRules:    o.deviceCgroupRules.GetSlice(),
		IOMaximumIOps:        o.ioMaxIOps,
		IOMaximumBandwidth:   uint64(o.ioMaxBandwidth),
	}
	if o.swappiness != -1 {
		s := o.swappiness
		resources.MemorySwappiness = &s
	}
	if flags.Changed("oom-kill-disable") {
		b := o.oomKillDisable
		resources.OomKillDisable = &b
	}
	if flags.Changed("pids-limit") {
		n := o.pidsLimit
		resources.PidsLimit = &n
	}

	cfg := &container.Config{
		Hostname:     o.hostname,
		Domainname:   o.domainname,
		ExposedPorts: exposed,
		User:         o.user,
		Tty:          o.tty,
		OpenStdin:    o.stdin,
		StdinOnce:    o.stdin && attachStdin,
		AttachStdin:  attachStdin,
		AttachStdout: attachStdout,
		AttachStderr: attachStderr,
		Env:          env,
		Cmd:          runCmd,
		Image:        image,
		Volumes:      volumes,
		Entrypoint:   entrypoint,
		WorkingDir:   o.workingDir,
		Labels:       opts.ConvertKVStringsToMap(labels),
		StopSignal:   o.stopSignal,
		Healthcheck:  health,
	}
	if flags.Changed("stop-timeout") {
		t := o.stopTimeout
		cfg.StopTimeout = &t
	}

	hc := &container.HostConfig{
		Binds:           binds,
		ContainerIDFile: o.containerIDFile,
		OomScoreAdj:     o.oomScoreAdj,
		AutoRemove:      o.autoRemove,
		Privileged:      o.privileged,
		PortBindings:    bindings,
		Links:           o.links.GetSlice(),
		PublishAllPorts: o.publishAll,
		DNS:             dns,
		DNSSearch:       o.dnsSearch.GetSlice(),
		DNSOptions:      o.dnsOptions.GetSlice(),
		ExtraHosts:      o.extraHosts.GetSlice(),
		VolumesFrom:     o.volumesFrom.GetSlice(),
		IpcMode:         container.IpcMode(o.ipcMode),
		NetworkMode:     container.NetworkMode(networkMode(o.networks.GetSlice())),
		PidMode:         container.PidMode(o.pidMode),
		UTSMode:         container.UTSMode(o.utsMode),
		UsernsMode:      container.UsernsMode(o.usernsMode),
		CgroupnsMode:    container.CgroupnsMode(o.cgroupnsMode),
		CapAdd:          o.capAdd.GetSlice(),
		CapDrop:         o.capDrop.GetSlice(),
		GroupAdd:        o.groupAdd.GetSlice(),
		RestartPolicy:   restart,
		SecurityOpt:     securityOpts,
		StorageOpt:      storageOpts,
		ReadonlyRootfs:  o.readonlyRootfs,
		LogConfig:       container.LogConfig{Type: o.loggingDriver, Config: logOpts},
		VolumeDriver:    o.volumeDriver,
		Isolation:       container.Isolation(o.isolation),
		ShmSize:         o.shmSize.Value(),
		Resources:       resources,
		Tmpfs:           tmpfs,
		Sysctls:         nilIfEmpty(o.sysctls.GetAll()),
		Runtime:         o.runtime,
		Mounts:          mounts,
		Annotations:     nilIfEmpty(o.annotations.GetAll()),
	}
	if flags.Changed("init") {
		b := o.init
		hc.Init = &b
	}

	nc, err := networkingConfig(o)
	if err != nil {
		return nil, err
	}
	return &containerConfig{Config: cfg, HostConfig: hc, NetworkingConfig: nc}, nil
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// networkMode is the first --network, or "default" (the daemon's default
// network, bridge on Linux).
func networkMode(networks []string) string {
	if len(networks) == 0 {
		return "default"
	}
	name, _, _ := strings.Cut(networks[0], ",")
	if strings.HasPrefix(name, "name=") {
		name = strings.TrimPrefix(name, "name=")
	}
	return name
}

// networkingConfig attaches per-network settings (--ip, --ip6, aliases,
// link-local IPs) to the first user-chosen network.
func networkingConfig(o *containerOptions) (*network.NetworkingConfig, error) {
	name := networkMode(o.networks.GetSlice())
	mode := container.NetworkMode(name)
	hasEPSettings := o.ipv4Address != "" || o.ipv6Address != "" || o.aliases.Len() > 0 || o.linkLocalIPs.Len() > 0
	if !hasEPSettings {
		return &network.NetworkingConfig{}, nil
	}
	if mode.IsHost() || mode.IsNone() || mode.IsContainer() {
		return nil, errors.New("conflicting options: cannot specify both --network=" + name + " and per-network endpoint options")
	}
	ep := &network.EndpointSettings{Aliases: o.aliases.GetSlice()}
	if o.ipv4Address != "" || o.ipv6Address != "" || o.linkLocalIPs.Len() > 0 {
		ep.IPAMConfig = &network.EndpointIPAMConfig{}
		if o.ipv4Address != "" {
			a, err := netip.ParseAddr(o.ipv4Address)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("invalid IPv4 address: %s", o.ipv4Address)
			}
			ep.IPAMConfig.IPv4Address = a
		}
		if o.ipv6Address != "" {
			a, err := netip.ParseAddr(o.ipv6Address)
			if err != nil || !a.Is6() {
				return nil, fmt.Errorf("invalid IPv6 address: %s", o.ipv6Address)
			}
			ep.IPAMConfig.IPv6Address = a
		}
		for _, l := range o.linkLocalIPs.GetSlice() {
			a, err := netip.ParseAddr(l)
			if err != nil {
				return nil, fmt.Errorf("invalid link-local IP address: %s", l)
			}
			ep.IPAMConfig.LinkLocalIPs = append(ep.IPAMConfig.LinkLocalIPs, a)
		}
	}
	return &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{name: ep}}, nil
}

// parseSecurityOpts reads seccomp profiles from disk as docker does and
// normalises "label:x" to "label=x".
func parseSecurityOpts(in []string) ([]string, error) {
	var out []string
	for _, opt := range in {
		if strings.TrimSpace(opt) == "" {
			continue
		}
		if opt == "systempaths=unconfined" || opt == "no-new-privileges" {
			out = append(out, opt)
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			k, v, ok = strings.Cut(opt, ":")
			if !ok {
				return nil, fmt.Errorf("Invalid --security-opt: %q", opt)
			}
		}
		if k == "seccomp" && v != "unconfined" && v != "builtin" {
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %w", v, err)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, b); err != nil {
				return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %w", v, err)
			}
			v = buf.String()
		}
		out = append(out, k+"="+v)
	}
	return out, nil
}

// parseDevice parses host[:container[:perms]].
func parseDevice(d string) (container.DeviceMapping, error) {
	parts := strings.Split(d, ":")
	dm := container.DeviceMapping{CgroupPermissions: "rwm"}
	validPerms := func(s string) bool {
		if s == "" {
			return false
		}
		for _, c := range s {
			if c != 'r' && c != 'w' && c != 'm' {
				return false
			}
		}
		return true
	}
	switch len(parts) {
	case 1:
		dm.PathOnHost = parts[0]
	case 2:
		dm.PathOnHost = parts[0]
		if validPerms(parts[1]) {
			dm.CgroupPermissions = parts[1]
		} else {
			dm.PathInContainer = parts[1]
		}
	case 3:
		if !validPerms(parts[2]) {
			return dm, fmt.Errorf("invalid device mode: %s", parts[2])
		}
		dm.PathOnHost, dm.PathInContainer, dm.CgroupPermissions = parts[0], parts[1], parts[2]
	default:
		return dm, fmt.Errorf("invalid device specification: %s", d)
	}
	if dm.PathInContainer == "" {
		dm.PathInContainer = dm.PathOnHost
	}
	if !path.IsAbs(dm.PathInContainer) {
		return dm, fmt.Errorf("%s is not an absolute path", dm.PathInContainer)
	}
	return dm, nil
}
