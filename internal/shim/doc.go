// Package shim is berth-shim: the small process that owns one container
// while it runs. It creates the container through the OCI runtime (crun or
// runc), holds its stdio pipes or pty master, writes its output to the
// json-file log itself (so nothing is lost while berthd is down), reaps its
// processes as a child subreaper, records the exit status in an exit file,
// deletes the container from the runtime, and serves berthd over a unix
// socket: one JSON Request line per connection, one JSON Response line back,
// then for attach and exec a raw stream (stdcopy frames without a terminal).
//
// proto.go is the wire contract with berthd's client (internal/runtime).
// The package leaves container state, restart policy and log drivers other
// than json-file to berthd. It imports only the standard library, x/sys,
// runtime-spec types and the json-file writer, to keep the shim's memory
// small: one runs per container.
package shim
