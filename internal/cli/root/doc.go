// Package root assembles berth's command tree (docker's top-level
// commands, the container/image/network/volume/system groups and the global
// flags) in one function, and runs it, turning the result into the exit
// code main should use.
package root
