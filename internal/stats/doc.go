// Package stats reads a container's resource statistics straight from the
// kernel, in the shape of the Engine API's StatsResponse: its cgroup's
// files (v1, one hierarchy per controller, or the v2 unified hierarchy,
// detected at run time) and the /proc/<pid>/net/dev of its network
// namespace, plus the host's CPU time from /proc/stat.
//
// It follows dockerd's conversion (daemon/stats_unix.go over containerd's
// cgroups readers, API 1.52): the same memory.stat keys, the host's memory
// as the limit of an unlimited container, v2 times in nanoseconds, system
// usage in nanoseconds from clock ticks, and no "lo" in the networks.
//
// A Reader samples one container; it reuses one read buffer and its file
// paths across samples and never starts a process. When to sample, what a
// stopped container answers, and the previous sample a response carries are
// the container service's business.
package stats
