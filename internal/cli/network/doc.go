// Package network implements `network ls`, `inspect`, `create`, `rm` and
// `prune`, wired to the Engine API.
package network
