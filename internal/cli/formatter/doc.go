// Package formatter renders lists and objects the way the Docker CLI does:
// Go templates with Docker's functions (json, join, split, upper, lower,
// title, truncate, pad, println), the "table" prefix that switches to
// tab-aligned columns with Docker's header names, "json" for one object per
// line, and the per-row contexts (containers, images, history, networks,
// volumes, disk usage) whose fields and formatting match docker's.
//
// Every context takes the current time as an input so that relative
// durations ("About a minute ago") are deterministic in tests.
package formatter
