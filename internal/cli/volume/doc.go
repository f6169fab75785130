// Package volume implements `volume ls`, `create`, `inspect`, `rm` and
// `prune`, wired to the Engine API.
package volume
