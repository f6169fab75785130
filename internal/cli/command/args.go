package command

import (
	"fmt"

	"github.com/spf13/cobra"
)

// The positional-argument validators below produce Docker's messages, e.g.
//
//	berth: 'berth rm' requires at least 1 argument
//
//	Usage:  berth rm [OPTIONS] CONTAINER [CONTAINER...]
//
//	See 'berth rm --help' for more information
//
// and exit with status 1.

func argsError(cmd *cobra.Command, msg, verb string) error {
	return StatusError{
		Status: fmt.Sprintf("%s: '%s' %s\n\nUsage:  %s\n\n%s '%s --help' for more information",
			cmd.Root().Name(), cmd.CommandPath(), msg, cmd.UseLine(), verb, cmd.CommandPath()),
		StatusCode: 1,
	}
}

func plural(n int) string {
	if n == 1 {
		return "argument"
	}
	return "arguments"
}

// NoArgs rejects any positional argument.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return StatusError{
			Status: fmt.Sprintf("%s: unknown command: %s %s\n\nUsage:  %s\n\nRun '%s --help' for more information",
				cmd.Root().Name(), cmd.CommandPath(), args[0], cmd.CommandPath(), cmd.CommandPath()),
			StatusCode: 1,
		}
	}
	return argsError(cmd, "accepts no arguments", "Run")
}

// RequiresMinArgs requires at least min positional arguments.
func RequiresMinArgs(min int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d %s", min, plural(min)), "See")
	}
}

// RequiresMaxArgs allows at most max positional arguments.
func RequiresMaxArgs(max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= max {
			return nil
		}
		// docker v28 really prints "SRun" here; kept for byte-identical output.
		return argsError(cmd, fmt.Sprintf("requires at most %d %s", max, plural(max)), "SRun")
	}
}

// RequiresRangeArgs requires between min and max positional arguments.
func RequiresRangeArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && len(args) <= max {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d and at most %d %s", min, max, plural(max)), "Run")
	}
}

// ExactArgs requires exactly n positional arguments.
func ExactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires %d %s", n, plural(n)), "Run")
	}
}
