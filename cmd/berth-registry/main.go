// Command berth-registry is berth's registry server, distribution's
// registry as a library (see package berth/internal/registry):
//
//	berth-registry serve [config.yml]
//	berth-registry garbage-collect [--dry-run] [--delete-untagged] [config.yml]
//	berth-registry config default
//
// as `registry serve` and `registry garbage-collect` of distribution, with
// the registry:2 image's configuration when no file is named (and
// REGISTRY_CONFIGURATION_PATH is unset). The REGISTRY_* environment
// variables override the configuration as they do for distribution.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"berth/internal/registry"
)

// version is set by the linker (-X main.version=…).
var version = "dev"

func main() {
	args := os.Args[1:]
	// The registry:2 image's entrypoint serves a configuration file given
	// as the only argument (`docker run registry:2 /path/config.yml`).
	if len(args) > 0 && (strings.HasSuffix(args[0], ".yml") || strings.HasSuffix(args[0], ".yaml")) {
		args = append([]string{"serve"}, args...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCommand()
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "berth-registry:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "berth-registry",
		Short:         "berth's registry: stores and distributes images (Docker Registry HTTP API V2, OCI distribution)",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newGCCommand(), newConfigCommand())
	return root
}

func newServeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve [config.yml]",
		Short: "Serve the registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := registry.LoadConfig(firstArg(args))
			if err != nil {
				return err
			}
			if err := registry.ConfigureLogging(cfg); err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			srv, err := registry.New(cmd.Context(), cfg, registry.Options{AccessLog: os.Stdout, Logger: log})
			if err != nil {
				return err
			}
			return srv.ListenAndServe(cmd.Context())
		},
	}
}

func newGCCommand() *cobra.Command {
	var opts registry.GCOptions
	cmd := &cobra.Command{
		Use:   "garbage-collect [config.yml]",
		Short: "Delete blobs that no manifest references",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := registry.LoadConfig(firstArg(args))
			if err != nil {
				return err
			}
			if err := registry.ConfigureLogging(cfg); err != nil {
				return err
			}
			return registry.GarbageCollect(cmd.Context(), cfg, opts)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.DryRun, "dry-run", "d", false, "do everything except remove the blobs")
	flags.BoolVarP(&opts.DeleteUntagged, "delete-untagged", "m", false, "delete manifests that are not currently referenced via tag")
	flags.BoolVarP(&opts.Quiet, "quiet", "q", false, "silence output")
	return cmd
}

func newConfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "default",
		Short: "Print the default configuration (the registry:2 image's config.yml)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), registry.DefaultConfig)
			return err
		},
	})
	return cmd
}

func firstArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return ""
}
