package command

import (
	"fmt"
	"github.com/moby/moby/client"
	"strings"

	"github.com/spf13/cobra"
)

// StatusError is an error that tells main which exit code to use. Status is
// printed to stderr when non-empty; a zero StatusCode is treated as 1.
type StatusError struct {
	Cause      error
	Status     string
	StatusCode int
}

func (e StatusError) Error() string {
	if e.Status != "" {
		return e.Status
	}
	if e.Cause != nil {
		return e.Cause.Error()
	}
	return fmt.Sprintf("exit status %d", e.StatusCode)
}

// Unwrap returns the underlying error.
func (e StatusError) Unwrap() error { return e.Cause }

// FlagErrorFunc turns a pflag parse error into Docker's message and exit
// code 125:
//
//	unknown flag: --bogus
//
//	Usage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]
//
//	Run 'berth run --help' for more information
func FlagErrorFunc(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	usage := ""
	if cmd.HasSubCommands() {
		usage = "\n\n" + cmd.UsageString()
	} else {
		usage = "\n\nUsage:  " + cmd.UseLine()
	}
	return StatusError{
		Cause:      err,
		Status:     fmt.Sprintf("%s%s\n\nRun '%s --help' for more information", err, usage, cmd.CommandPath()),
		StatusCode: 125,
	}
}

// WithHelp decorates err the way docker does for run/create failures:
// "berth: <err>\n\nRun 'berth run --help' for more information".
func WithHelp(cmd *cobra.Command, err error) string {
	root := cmd.Root().Name()
	return fmt.Sprintf("%s: %s\n\nRun '%s --help' for more information", root, strings.TrimSuffix(err.Error(), "\n"), cmd.CommandPath())
}

// connectionError is docker v28's message for an unreachable daemon.
type connectionError struct {
	host  string
	cause error
}

func (e connectionError) Error() string {
	return fmt.Sprintf("Cannot connect to the Docker daemon at %s. Is the docker daemon running?", e.host)
}

func (e connectionError) Unwrap() error { return e.cause }

// DescribeError rewrites a failed connection to the daemon into docker's
// "Cannot connect to the Docker daemon at …" message; other errors are
// returned unchanged.
func (c *Cli) DescribeError(err error) error {
	if err == nil || !client.IsErrConnectionFailed(err) {
		return err
	}
	host, herr := c.Host()
	if herr != nil {
		return err
	}
	return connectionError{host: host, cause: err}
}
