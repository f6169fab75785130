// Package network implements the `network` command group: ls, inspect,
// create, connect, disconnect, rm and prune, wired to the Engine API through
// github.com/moby/moby/client. Flags, help text, output and the errors the
// CLI itself raises match the Docker CLI (28.x); everything else is the
// daemon's answer, printed as it comes.
package network
