// Package command holds what every berth CLI command shares: the Cli type
// (standard streams, global options, the lazily created Engine API client and
// the Docker CLI config directory), the StatusError that carries an exit code
// back to main, and small helpers for prompts and flag errors.
//
// It does not build commands; each command group lives in its own package
// under internal/cli and receives a *Cli.
package command
