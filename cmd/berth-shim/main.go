// Command berth-shim runs one container for berthd: `berth-shim <bundle>`.
// berthd starts it detached with the readiness pipe as descriptor 3 and
// stderr on a diagnostics log; see package berth/internal/shim.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"

	"berth/internal/shim"

	"golang.org/x/sys/unix"
)

func main() {
	// One container's I/O needs neither parallelism nor a large heap; this
	// keeps the shim's resident memory small.
	if len(os.Args) > 2 && os.Args[1] == shim.V1ViewFlag && os.Args[2] == "--" {
		err := shim.ExecInV1View(os.Args[3:])
		fmt.Fprintf(os.Stderr, "berth-shim: %v\n", err)
		os.Exit(1)
	}
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(25)
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: berth-shim <bundle>")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var ready *os.File
	if _, err := unix.FcntlInt(shim.ReadyFD, unix.F_GETFD, 0); err == nil {
		// Keep the pipe out of the runtime and the container.
		unix.CloseOnExec(shim.ReadyFD)
		ready = os.NewFile(shim.ReadyFD, "ready")
	}
	var err error
	if ready != nil {
		err = shim.Run(context.Background(), os.Args[1], ready, log)
	} else {
		err = shim.Run(context.Background(), os.Args[1], nil, log)
	}
	if err != nil {
		log.Error("shim failed", "error", err)
		os.Exit(1)
	}
}
