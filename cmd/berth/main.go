// Command berth is the Docker-compatible CLI. It talks to berthd, or any
// Docker Engine, through the Engine API.
package main

import (
	"context"
	"os"

	"berth/internal/cli/command"
	"berth/internal/cli/root"
)

// Set with -ldflags "-X main.version=… -X main.commit=… -X main.buildTime=…".
var (
	version   = "0.1.0"
	commit    = "dev"
	buildTime = ""
)

func main() {
	cli := command.NewCli(os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	cli.Version, cli.Commit, cli.BuildTime = version, commit, buildTime
	os.Exit(root.Run(context.Background(), cli, os.Args[1:]))
}
