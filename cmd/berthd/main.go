// Command berthd is berth's engine daemon: it serves the Docker Engine API.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"berth/internal/config"
	"berth/internal/daemon"
)

// Set with -ldflags "-X main.version=… -X main.commit=…".
var (
	version   = "0.1.0"
	commit    = "dev"
	buildTime = ""
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "berthd: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg := config.Default()
	fs := pflag.NewFlagSet("berthd", pflag.ContinueOnError)
	configFile := fs.String("config-file", config.DefaultConfigFile, "Daemon configuration file")
	showVersion := fs.BoolP("version", "v", false, "Print version information and quit")
	fs.StringVar(&cfg.DataRoot, "data-root", cfg.DataRoot, "Root directory of persistent state")
	fs.StringVar(&cfg.ExecRoot, "exec-root", cfg.ExecRoot, "Root directory for execution state files")
	fs.StringSliceVarP(&cfg.Hosts, "host", "H", cfg.Hosts, "Daemon socket(s) to connect to")
	fs.StringVarP(&cfg.Pidfile, "pidfile", "p", cfg.Pidfile, "Path to use for daemon PID file")
	fs.BoolVarP(&cfg.Debug, "debug", "D", cfg.Debug, "Enable debug mode")
	fs.StringVarP(&cfg.LogLevel, "log-level", "l", cfg.LogLevel, `Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")`)
	fs.StringVar(&cfg.DefaultRuntime, "default-runtime", cfg.DefaultRuntime, "Default OCI runtime for containers")
	fs.StringVarP(&cfg.StorageDriver, "storage-driver", "s", cfg.StorageDriver, "Storage driver to use (overlay2, vfs)")
	fs.StringVarP(&cfg.Group, "group", "G", cfg.Group, "Group for the unix socket")
	fs.BoolVar(&cfg.LiveRestore, "live-restore", cfg.LiveRestore, "Keep containers running while the daemon is down")
	fs.StringVar(&cfg.LogDriver, "log-driver", cfg.LogDriver, "Default driver for container logs")
	fs.BoolVar(&cfg.Experimental, "experimental", cfg.Experimental, "Enable experimental features")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Printf("berthd version %s, build %s\n", version, commit)
		return nil
	}

	// daemon.json first, then the flags that were given win; a key set in
	// both places is an error, as in dockerd.
	var setFlags []string
	fs.Visit(func(f *pflag.Flag) {
		if f.Name != "config-file" && f.Name != "version" {
			setFlags = append(setFlags, f.Name)
		}
	})
	fileKeys := map[string]string{"host": "hosts"}
	var keys []string
	for _, f := range setFlags {
		if k, ok := fileKeys[f]; ok {
			keys = append(keys, k)
		} else {
			keys = append(keys, f)
		}
	}
	if err := config.Conflicts(*configFile, keys); err != nil {
		return err
	}
	fromFile := config.Default()
	if err := config.LoadFile(&fromFile, *configFile, fs.Changed("config-file")); err != nil {
		return err
	}
	mergeFlags(&fromFile, &cfg, fs)
	cfg = fromFile
	if cfg.Debug {
		cfg.LogLevel = "debug"
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	level := slog.LevelInfo
	switch cfg.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error", "fatal":
		level = slog.LevelError
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP)
	return daemon.Run(ctx, cfg, daemon.BuildInfo{Version: version, Commit: commit, BuildTime: buildTime}, log)
}

// mergeFlags copies every flag the user set from flags into cfg.
func mergeFlags(cfg, flags *config.Config, fs *pflag.FlagSet) {
	set := func(name string, apply func()) {
		if fs.Changed(name) {
			apply()
		}
	}
	set("data-root", func() { cfg.DataRoot = flags.DataRoot })
	set("exec-root", func() { cfg.ExecRoot = flags.ExecRoot })
	set("host", func() { cfg.Hosts = flags.Hosts })
	set("pidfile", func() { cfg.Pidfile = flags.Pidfile })
	set("debug", func() { cfg.Debug = flags.Debug })
	set("log-level", func() { cfg.LogLevel = flags.LogLevel })
	set("default-runtime", func() { cfg.DefaultRuntime = flags.DefaultRuntime })
	set("storage-driver", func() { cfg.StorageDriver = flags.StorageDriver })
	set("group", func() { cfg.Group = flags.Group })
	set("live-restore", func() { cfg.LiveRestore = flags.LiveRestore })
	set("log-driver", func() { cfg.LogDriver = flags.LogDriver })
	set("experimental", func() { cfg.Experimental = flags.Experimental })
}
