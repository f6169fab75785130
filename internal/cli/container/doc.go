// Package container implements berth's container commands (run, create,
// start, stop, kill, restart, rm, ps, inspect, logs, wait, attach, exec,
// rename, pause, unpause, top, port, stats, prune) and the `container`
// group, with docker's flags, messages and exit codes. It talks to the
// daemon only through the Engine API client held by command.Cli.
//
// The run/create flag set is parsed into container.Config, HostConfig and
// NetworkingConfig exactly as docker does; whether the daemon honours a
// setting is the daemon's business.
package container
