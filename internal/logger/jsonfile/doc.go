// Package jsonfile owns the json-file log format: berth-shim writes a
// container's output with [Writer], berthd reads it back for `logs` (and to
// feed remote log drivers) with [Read].
//
// # Format
//
// The format is Docker's json-file driver's, byte for byte, so existing
// tools read berth's logs and berth reads Docker's. Each entry is one JSON
// object on one line, ending in "\n":
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-22T23:45:39.123456789Z"}
//
// The keys:
//
//   - log is the output as written, including its trailing newline. A line
//     longer than the writer's buffer, or output that ended without a
//     newline, is stored as a partial entry whose log has no "\n"; readers
//     pass it through unchanged, so concatenating entries restores the
//     stream exactly.
//   - stream is "stdout" or "stderr".
//   - time is when the shim read the output, RFC 3339 with nanoseconds, UTC.
//   - attrs (optional, an object of strings) carries the --log-opt
//     labels/env values shown by `logs --details`.
//
// Readers accept the keys in any order and unknown keys.
//
// # Files and rotation
//
// <path> (containers/<id>/<id>-json.log) is the live file. With max-size
// and max-file > 1 the writer renames <path>.(N-1) to <path>.N, …, <path> to
// <path>.1 and starts a new <path>, so <path>.1 is the newest rotated file
// and the highest number the oldest. With max-file 1 the live file is
// truncated instead. Entries never span files.
//
// # Concurrency
//
// One writer (the shim) appends; any number of readers read, following the
// live file with inotify across rotations. Readers never write.
package jsonfile
