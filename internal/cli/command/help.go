package command

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/term"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Annotations understood by the help renderer.
const (
	// AnnotationAliases lists every full spelling of a command, e.g.
	// "berth container ls, berth ps".
	AnnotationAliases = "aliases"
	// AnnotationTop orders a command under "Common Commands" (1, 2, …).
	AnnotationTop = "category-top"
)

// SetupHelp installs Docker's help and usage layout on root and all its
// descendants.
func SetupHelp(root *cobra.Command) {
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) {
		w := cmd.OutOrStdout()
		if cmd.HasSubCommands() && !cmd.Flags().Changed("help") && cmd != root {
			w = cmd.ErrOrStderr()
		}
		fmt.Fprint(w, HelpText(cmd))
	})
	root.SetUsageFunc(func(cmd *cobra.Command) error {
		fmt.Fprint(cmd.ErrOrStderr(), HelpText(cmd))
		return nil
	})
}

// ShowHelp prints a group command's help to stderr, as docker does when a
// management command is run without a subcommand.
func ShowHelp(w io.Writer) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return NoArgs(cmd, args)
		}
		fmt.Fprint(w, HelpText(cmd))
		return nil
	}
}

func useLine(cmd *cobra.Command) string {
	if cmd.HasSubCommands() {
		s := cmd.CommandPath()
		if !cmd.HasParent() {
			s += " [OPTIONS]"
		}
		return s + " COMMAND"
	}
	return cmd.UseLine()
}

// HelpText renders cmd's help the way docker v28 does.
func HelpText(cmd *cobra.Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:  %s\n\n", useLine(cmd))
	desc := cmd.Long
	if desc == "" {
		desc = cmd.Short
	}
	b.WriteString(strings.TrimSpace(desc))
	b.WriteString("\n")
	if a := cmd.Annotations[AnnotationAliases]; a != "" {
		fmt.Fprintf(&b, "\nAliases:\n  %s\n", a)
	} else if len(cmd.Aliases) > 0 {
		names := []string{cmd.Name()}
		names = append(names, cmd.Aliases...)
		fmt.Fprintf(&b, "\nAliases:\n  %s\n", strings.Join(names, ", "))
	}
	if cmd.Example != "" {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", cmd.Example)
	}
	if cmd.HasParent() && cmd.HasAvailableLocalFlags() && hasVisibleFlags(cmd.LocalFlags()) {
		fmt.Fprintf(&b, "\nOptions:\n%s\n", strings.TrimRight(flagUsages(cmd.LocalFlags()), " \n"))
	}
	if cmd.HasSubCommands() {
		var top, mgmt, plain []*cobra.Command
		for _, c := range cmd.Commands() {
			if !c.IsAvailableCommand() {
				continue
			}
			switch {
			case c.Annotations[AnnotationTop] != "":
				top = append(top, c)
				plain = append(plain, c)
			case c.HasSubCommands():
				mgmt = append(mgmt, c)
			default:
				plain = append(plain, c)
			}
		}
		sort.SliceStable(top, func(i, j int) bool {
			a, _ := strconv.Atoi(top[i].Annotations[AnnotationTop])
			c, _ := strconv.Atoi(top[j].Annotations[AnnotationTop])
			return a < c
		})
		if !cmd.HasParent() {
			writeCommands(&b, "Common Commands", top)
			writeCommands(&b, "Management Commands", mgmt)
			var rest []*cobra.Command
			for _, c := range plain {
				if c.Annotations[AnnotationTop] == "" {
					rest = append(rest, c)
				}
			}
			writeCommands(&b, "Commands", rest)
		} else {
			writeCommands(&b, "Management Commands", mgmt)
			writeCommands(&b, "Commands", plain)
		}
		if !cmd.HasParent() && hasVisibleFlags(cmd.LocalFlags()) {
			fmt.Fprintf(&b, "\nGlobal Options:\n%s\n", strings.TrimRight(flagUsages(cmd.LocalFlags()), " \n"))
		}
		fmt.Fprintf(&b, "\nRun '%s COMMAND --help' for more information on a command.\n", cmd.CommandPath())
	}
	return b.String()
}

func writeCommands(b *strings.Builder, title string, cmds []*cobra.Command) {
	if len(cmds) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s:\n", title)
	for _, c := range cmds {
		fmt.Fprintf(b, "  %-11s %s\n", c.Name(), c.Short)
	}
}

func hasVisibleFlags(fs *pflag.FlagSet) bool {
	visible := false
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			visible = true
		}
	})
	return visible
}

func flagUsages(fs *pflag.FlagSet) string {
	width := 80
	if ws, err := term.GetWinsize(0); err == nil && ws.Width > 0 {
		width = int(ws.Width)
	}
	return fs.FlagUsagesWrapped(width - 1)
}
