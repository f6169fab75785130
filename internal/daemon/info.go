package daemon

import (
	"bufio"
	"context"
	"net/netip"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"

	"berth/internal/api/server"
)

// Info is GET /info: real figures from this host and daemon.
func (d *Daemon) Info(ctx context.Context) (*system.Info, error) {
	running, paused, stopped := d.containers.Counts()
	images, err := d.images.Count(ctx)
	if err != nil {
		return nil, err
	}
	var uts syscall.Utsname
	_ = syscall.Uname(&uts)
	hostname, _ := os.Hostname()
	cgVersion := "1"
	var st syscall.Statfs_t
	if syscall.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == 0x63677270 {
		cgVersion = "2"
	}
	driver := d.cfg.StorageDriver
	if driver == "overlay" {
		driver = "overlay2"
	}
	if driver == "native" {
		driver = "vfs"
	}
	rts := map[string]system.RuntimeWithStatus{}
	for name, rt := range d.runtimes {
		rts[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: rt.Path, Args: rt.Args}}
	}
	security := []string{"name=seccomp,profile=builtin"}
	if cgVersion == "2" {
		security = append(security, "name=cgroupns")
	}
	info := &system.Info{
		ID:                 d.id,
		Containers:         running + paused + stopped,
		ContainersRunning:  running,
		ContainersPaused:   paused,
		ContainersStopped:  stopped,
		Images:             images,
		Driver:             driver,
		DriverStatus:       [][2]string{{"Backing Filesystem", backingFS(d.cfg.DataRoot)}, {"Supports d_type", "true"}, {"Using metacopy", "false"}, {"Native Overlay Diff", "true"}, {"userxattr", "false"}},
		Plugins:            system.PluginsInfo{Volume: []string{"local"}, Network: []string{"bridge", "host", "null"}, Log: []string{"json-file", "none"}},
		MemoryLimit:        true,
		SwapLimit:          fileExists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") || cgVersion == "2",
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		CPUSet:             true,
		PidsLimit:          true,
		IPv4Forwarding:     readTrim("/proc/sys/net/ipv4/ip_forward") == "1",
		Debug:              d.cfg.Debug,
		NFd:                countFDs(),
		OomKillDisable:     cgVersion == "1",
		NGoroutines:        goruntime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      d.cfg.LogDriver,
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      cgVersion,
		KernelVersion:      utsString(uts.Release[:]),
		OperatingSystem:    osRelease("PRETTY_NAME"),
		OSVersion:          osRelease("VERSION_ID"),
		OSType:             "linux",
		Architecture:       utsString(uts.Machine[:]),
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     d.registryConfig(),
		NCPU:               goruntime.NumCPU(),
		MemTotal:           memTotal(),
		DockerRootDir:      d.cfg.DataRoot,
		HTTPProxy:          os.Getenv("HTTP_PROXY"),
		HTTPSProxy:         os.Getenv("HTTPS_PROXY"),
		NoProxy:            os.Getenv("NO_PROXY"),
		Name:               hostname,
		Labels:             []string{},
		ExperimentalBuild:  d.cfg.Experimental,
		ServerVersion:      d.build.Version,
		Runtimes:           rts,
		DefaultRuntime:     d.defaultRT,
		Swarm:              swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
		LiveRestoreEnabled: d.cfg.LiveRestore,
		InitBinary:         "docker-init",
		ContainerdCommit:   system.Commit{ID: "embedded"},
		RuncCommit:         system.Commit{ID: runtimeVersion(d.runtimes[d.defaultRT].Path)},
		InitCommit:         system.Commit{ID: "tini"},
		SecurityOptions:    security,
		CDISpecDirs:        []string{},
		Warnings:           append([]string{}, d.warnings...),
	}
	return info, nil
}

func (d *Daemon) registryConfig() *registry.ServiceConfig {
	rc := &registry.ServiceConfig{
		InsecureRegistryCIDRs: []netip.Prefix{netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("127.0.0.0/8")},
		IndexConfigs: map[string]*registry.IndexInfo{
			"docker.io": {Name: "docker.io", Mirrors: d.cfg.RegistryMirrors, Secure: true, Official: true},
		},
		Mirrors: d.cfg.RegistryMirrors,
	}
	if rc.Mirrors == nil {
		rc.Mirrors = []string{}
		rc.IndexConfigs["docker.io"].Mirrors = []string{}
	}
	for _, r := range d.cfg.InsecureRegistries {
		if p, err := netip.ParsePrefix(r); err == nil {
			rc.InsecureRegistryCIDRs = append(rc.InsecureRegistryCIDRs, p)
			continue
		}
		rc.IndexConfigs[r] = &registry.IndexInfo{Name: r, Mirrors: []string{}, Secure: false}
	}
	return rc
}

// Version is GET /version.
func (d *Daemon) Version(ctx context.Context) system.VersionResponse {
	var uts syscall.Utsname
	_ = syscall.Uname(&uts)
	kernel := utsString(uts.Release[:])
	rtPath := d.runtimes[d.defaultRT].Path
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "berth"},
		Version:       d.build.Version,
		APIVersion:    server.MaxAPIVersion,
		MinAPIVersion: server.MinAPIVersion,
		Os:            "linux",
		Arch:          goruntime.GOARCH,
		GitCommit:     d.build.Commit,
		GoVersion:     goruntime.Version(),
		KernelVersion: kernel,
		Experimental:  d.cfg.Experimental,
		BuildTime:     d.build.BuildTime,
		Components: []system.ComponentVersion{
			{Name: "Engine", Version: d.build.Version, Details: map[string]string{
				"ApiVersion": server.MaxAPIVersion, "MinAPIVersion": server.MinAPIVersion, "GitCommit": d.build.Commit,
				"GoVersion": goruntime.Version(), "Os": "linux", "Arch": goruntime.GOARCH, "KernelVersion": kernel,
				"Experimental": "false", "BuildTime": d.build.BuildTime,
			}},
			{Name: d.defaultRT, Version: runtimeVersion(rtPath), Details: map[string]string{"GitCommit": ""}},
		},
	}
}

func runtimeVersion(path string) string {
	if path == "" {
		return ""
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(out), "\n")
	f := strings.Fields(first)
	if len(f) >= 3 {
		return f[2]
	}
	return strings.TrimSpace(first)
}

func utsString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

func osRelease(key string) string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && k == key {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func memTotal() int64 {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

func countFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func backingFS(path string) string {
	var st syscall.Statfs_t
	if syscall.Statfs(path, &st) != nil {
		return "unknown"
	}
	names := map[int64]string{0xef53: "extfs", 0x9123683e: "btrfs", 0x58465342: "xfs", 0x01021994: "tmpfs", 0x794c7630: "overlayfs"}
	if n, ok := names[int64(st.Type)]; ok {
		return n
	}
	return "unknown"
}
