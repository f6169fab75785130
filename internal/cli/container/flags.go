package container

import (
	"time"

	"berth/internal/cli/opts"

	"github.com/spf13/pflag"
)

// containerOptions holds every flag shared by run and create.
type containerOptions struct {
	attach            *opts.ListOpts
	volumes           *opts.ListOpts
	tmpfs             *opts.ListOpts
	mounts            *opts.ListOpts
	blkioWeightDevice *opts.ListOpts
	deviceReadBps     *opts.ListOpts
	deviceReadIOps    *opts.ListOpts
	deviceWriteBps    *opts.ListOpts
	deviceWriteIOps   *opts.ListOpts
	links             *opts.ListOpts
	aliases           *opts.ListOpts
	linkLocalIPs      *opts.ListOpts
	env               *opts.ListOpts
	labels            *opts.ListOpts
	deviceCgroupRules *opts.ListOpts
	devices           *opts.ListOpts
	gpus              string
	ulimits           *opts.UlimitOpt
	sysctls           *opts.MapOpts
	publish           *opts.ListOpts
	expose            *opts.ListOpts
	dns               *opts.ListOpts
	dnsSearch         *opts.ListOpts
	dnsOptions        *opts.ListOpts
	extraHosts        *opts.ListOpts
	volumesFrom       *opts.ListOpts
	envFile           *opts.ListOpts
	capAdd            *opts.ListOpts
	capDrop           *opts.ListOpts
	groupAdd          *opts.ListOpts
	securityOpt       *opts.ListOpts
	storageOpt        *opts.ListOpts
	labelsFile        *opts.ListOpts
	loggingOpts       *opts.ListOpts
	annotations       *opts.MapOpts
	networks          *opts.ListOpts

	privileged          bool
	pidMode             string
	utsMode             string
	usernsMode          string
	cgroupnsMode        string
	publishAll          bool
	stdin               bool
	tty                 bool
	oomKillDisable      bool
	oomScoreAdj         int
	containerIDFile     string
	entrypoint          string
	hostname            string
	domainname          string
	memory              opts.MemBytes
	memoryReservation   opts.MemBytes
	memorySwap          opts.MemSwapBytes
	kernelMemory        opts.MemBytes
	user                string
	workingDir          string
	cpuCount            int64
	cpuShares           int64
	cpuPercent          int64
	cpuPeriod           int64
	cpuRealtimePeriod   int64
	cpuRealtimeRuntime  int64
	cpuQuota            int64
	cpus                opts.NanoCPUs
	cpusetCpus          string
	cpusetMems          string
	blkioWeight         uint16
	ioMaxBandwidth      opts.MemBytes
	ioMaxIOps           uint64
	swappiness          int64
	netMode             string
	macAddress          string
	ipv4Address         string
	ipv6Address         string
	ipcMode             string
	pidsLimit           int64
	restartPolicy       string
	readonlyRootfs      bool
	loggingDriver       string
	cgroupParent        string
	volumeDriver        string
	stopSignal          string
	stopTimeout         int
	isolation           string
	shmSize             opts.MemBytes
	noHealthcheck       bool
	healthCmd           string
	healthInterval      time.Duration
	healthTimeout       time.Duration
	healthStartPeriod   time.Duration
	healthStartInterval time.Duration
	healthRetries       int
	runtime             string
	autoRemove          bool
	init                bool
	useAPISocket        bool
}

// addFlags registers docker's run/create flags (minus the run-only ones).
func addFlags(flags *pflag.FlagSet) *containerOptions {
	o := &containerOptions{
		aliases:           opts.NewListOpts(nil),
		attach:            opts.NewListOpts(validateAttach),
		blkioWeightDevice: opts.NewListOpts(nil),
		capAdd:            opts.NewListOpts(nil),
		capDrop:           opts.NewListOpts(nil),
		dns:               opts.NewListOpts(nil),
		dnsOptions:        opts.NewListOpts(nil),
		dnsSearch:         opts.NewListOpts(nil),
		deviceCgroupRules: opts.NewListOpts(nil),
		deviceReadBps:     opts.NewListOpts(nil),
		deviceReadIOps:    opts.NewListOpts(nil),
		deviceWriteBps:    opts.NewListOpts(nil),
		deviceWriteIOps:   opts.NewListOpts(nil),
		devices:           opts.NewListOpts(nil),
		env:               opts.NewListOpts(nil),
		envFile:           opts.NewListOpts(nil),
		expose:            opts.NewListOpts(nil),
		extraHosts:        opts.NewListOpts(validateExtraHost),
		groupAdd:          opts.NewListOpts(nil),
		labels:            opts.NewListOpts(nil),
		labelsFile:        opts.NewListOpts(nil),
		linkLocalIPs:      opts.NewListOpts(nil),
		links:             opts.NewListOpts(nil),
		loggingOpts:       opts.NewListOpts(nil),
		publish:           opts.NewListOpts(nil),
		securityOpt:       opts.NewListOpts(nil),
		storageOpt:        opts.NewListOpts(nil),
		sysctls:           opts.NewMapOpts(),
		annotations:       opts.NewMapOpts(),
		tmpfs:             opts.NewListOpts(nil),
		ulimits:           opts.NewUlimitOpt(),
		volumes:           opts.NewListOpts(nil),
		volumesFrom:       opts.NewListOpts(nil),
		mounts:            opts.NewListOpts(nil),
		networks:          opts.NewListOpts(nil),
	}

	// General purpose flags
	flags.VarP(o.attach, "attach", "a", "Attach to STDIN, STDOUT or STDERR")
	flags.Var(o.deviceCgroupRules, "device-cgroup-rule", "Add a rule to the cgroup allowed devices list")
	flags.Var(o.devices, "device", "Add a host device to the container")
	flags.StringVar(&o.gpus, "gpus", "", "GPU devices to add to the container ('all' to pass all GPUs)")
	flags.VarP(o.env, "env", "e", "Set environment variables")
	flags.Var(o.envFile, "env-file", "Read in a file of environment variables")
	flags.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	flags.Var(o.groupAdd, "group-add", "Add additional groups to join")
	flags.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	flags.StringVar(&o.domainname, "domainname", "", "Container NIS domain name")
	flags.BoolVarP(&o.stdin, "interactive", "i", false, "Keep STDIN open even if not attached")
	flags.VarP(o.labels, "label", "l", "Set meta data on a container")
	flags.Var(o.labelsFile, "label-file", "Read in a line delimited file of labels")
	flags.BoolVar(&o.readonlyRootfs, "read-only", false, "Mount the container's root filesystem as read only")
	flags.StringVar(&o.restartPolicy, "restart", "no", "Restart policy to apply when a container exits")
	flags.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	flags.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	flags.Var(o.sysctls, "sysctl", "Sysctl options")
	flags.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	flags.Var(o.ulimits, "ulimit", "Ulimit options")
	flags.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	flags.StringVarP(&o.workingDir, "workdir", "w", "", "Working directory inside the container")
	flags.BoolVar(&o.autoRemove, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")

	// Security
	flags.Var(o.capAdd, "cap-add", "Add Linux capabilities")
	flags.Var(o.capDrop, "cap-drop", "Drop Linux capabilities")
	flags.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to this container")
	flags.Var(o.securityOpt, "security-opt", "Security Options")
	flags.StringVar(&o.usernsMode, "userns", "", "User namespace to use")
	flags.StringVar(&o.cgroupnsMode, "cgroupns", "", "Cgroup namespace to use (host|private)\n'host':    Run the container in the Docker host's cgroup namespace\n'private': Run the container in its own private cgroup namespace\n'':        Use the cgroup namespace as configured by the\n           default-cgroupns-mode option on the daemon (default)")

	// Network and port publishing
	flags.Var(o.extraHosts, "add-host", "Add a custom host-to-IP mapping (host:ip)")
	flags.Var(o.dns, "dns", "Set custom DNS servers")
	flags.Var(o.dnsOptions, "dns-option", "Set DNS options")
	flags.Var(o.dnsSearch, "dns-search", "Set custom DNS search domains")
	flags.Var(o.expose, "expose", "Expose a port or a range of ports")
	flags.StringVar(&o.ipv4Address, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	flags.StringVar(&o.ipv6Address, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	flags.Var(o.links, "link", "Add link to another container")
	flags.Var(o.linkLocalIPs, "link-local-ip", "Container IPv4/IPv6 link-local addresses")
	flags.StringVar(&o.macAddress, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	flags.VarP(o.publish, "publish", "p", "Publish a container's port(s) to the host")
	flags.BoolVarP(&o.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	flags.Var(&networkValue{o.networks}, "network", "Connect a container to a network")
	flags.Var(&networkValue{o.networks}, "net", "Connect a container to a network")
	_ = flags.MarkHidden("net")
	flags.Var(o.aliases, "network-alias", "Add network-scoped alias for the container")
	flags.Var(o.aliases, "net-alias", "Add network-scoped alias for the container")
	_ = flags.MarkHidden("net-alias")

	// Logging and storage
	flags.StringVar(&o.loggingDriver, "log-driver", "", "Logging driver for the container")
	flags.StringVar(&o.volumeDriver, "volume-driver", "", "Optional volume driver for the container")
	flags.Var(o.loggingOpts, "log-opt", "Log driver options")
	flags.Var(o.storageOpt, "storage-opt", "Storage driver options for the container")
	flags.Var(o.tmpfs, "tmpfs", "Mount a tmpfs directory")
	flags.Var(o.volumesFrom, "volumes-from", "Mount volumes from the specified container(s)")
	flags.VarP(o.volumes, "volume", "v", "Bind mount a volume")
	flags.Var(&mountValue{o.mounts}, "mount", "Attach a filesystem mount to the container")

	// Health-checking
	flags.StringVar(&o.healthCmd, "health-cmd", "", "Command to run to check health")
	flags.DurationVar(&o.healthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	flags.IntVar(&o.healthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	flags.DurationVar(&o.healthTimeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	flags.DurationVar(&o.healthStartPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	flags.DurationVar(&o.healthStartInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	flags.BoolVar(&o.noHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")

	// Resource management
	flags.Uint16Var(&o.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	flags.Var(o.blkioWeightDevice, "blkio-weight-device", "Block IO weight (relative device weight)")
	flags.StringVar(&o.containerIDFile, "cidfile", "", "Write the container ID to the file")
	flags.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	flags.StringVar(&o.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	flags.Int64Var(&o.cpuCount, "cpu-count", 0, "CPU count (Windows only)")
	flags.Int64Var(&o.cpuPercent, "cpu-percent", 0, "CPU percent (Windows only)")
	flags.Int64Var(&o.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	flags.Int64Var(&o.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	flags.Int64Var(&o.cpuRealtimePeriod, "cpu-rt-period", 0, "Limit CPU real-time period in microseconds")
	flags.Int64Var(&o.cpuRealtimeRuntime, "cpu-rt-runtime", 0, "Limit CPU real-time runtime in microseconds")
	flags.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	flags.Var(&o.cpus, "cpus", "Number of CPUs")
	flags.Var(o.deviceReadBps, "device-read-bps", "Limit read rate (bytes per second) from a device")
	flags.Var(o.deviceReadIOps, "device-read-iops", "Limit read rate (IO per second) from a device")
	flags.Var(o.deviceWriteBps, "device-write-bps", "Limit write rate (bytes per second) to a device")
	flags.Var(o.deviceWriteIOps, "device-write-iops", "Limit write rate (IO per second) to a device")
	flags.Var(&o.ioMaxBandwidth, "io-maxbandwidth", "Maximum IO bandwidth limit for the system drive (Windows only)")
	flags.Uint64Var(&o.ioMaxIOps, "io-maxiops", 0, "Maximum IOps limit for the system drive (Windows only)")
	flags.Var(&o.kernelMemory, "kernel-memory", "Kernel memory limit")
	flags.VarP(&o.memory, "memory", "m", "Memory limit")
	flags.Var(&o.memoryReservation, "memory-reservation", "Memory soft limit")
	flags.Var(&o.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	flags.Int64Var(&o.swappiness, "memory-swappiness", -1, "Tune container memory swappiness (0 to 100)")
	flags.BoolVar(&o.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer")
	flags.IntVar(&o.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000)")
	flags.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")

	// Low-level execution (cgroups, namespaces, ...)
	flags.StringVar(&o.cgroupParent, "cgroup-parent", "", "Optional parent cgroup for the container")
	flags.StringVar(&o.ipcMode, "ipc", "", "IPC mode to use")
	flags.StringVar(&o.isolation, "isolation", "", "Container isolation technology")
	flags.StringVar(&o.pidMode, "pid", "", "PID namespace to use")
	flags.Var(&o.shmSize, "shm-size", "Size of /dev/shm")
	flags.StringVar(&o.utsMode, "uts", "", "UTS namespace to use")
	flags.StringVar(&o.runtime, "runtime", "", "Runtime to use for this container")
	flags.BoolVar(&o.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	flags.Var(o.annotations, "annotation", "Add an annotation to the container (passed through to the OCI runtime)")
	flags.BoolVar(&o.useAPISocket, "use-api-socket", false, "Bind mount Docker API socket and required auth")
	return o
}

// networkValue is --network ("network" in help).
type networkValue struct{ l *opts.ListOpts }

func (n *networkValue) String() string     { return n.l.String() }
func (n *networkValue) Set(v string) error { return n.l.Set(v) }
func (n *networkValue) Type() string       { return "network" }

// mountValue is --mount ("mount" in help).
type mountValue struct{ l *opts.ListOpts }

func (m *mountValue) String() string { return m.l.String() }
func (m *mountValue) Set(v string) error {
	if _, err := parseMount(v); err != nil {
		return err
	}
	return m.l.Set(v)
}
func (m *mountValue) Type() string { return "mount" }
