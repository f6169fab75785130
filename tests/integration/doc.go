// Package integration tests berth from the outside, as a user would: it builds
// berth, berthd and berth-shim, starts real berthd daemons (each with its own
// data root, exec root and socket under /tmp), makes a busybox image from
// Debian's busybox-static, and drives the daemons with both the real Docker
// CLI (/usr/local/bin/docker) and berth's own CLI, expecting the same
// observable results.
//
// The tests need root (they mount overlays and run containers); as any other
// user they skip, saying so. Run them with scripts/test.sh, or directly:
//
//	go test -count=1 -v ./tests/integration/...
//
// BERTH_IT_REFERENCE=dockerd runs the same tests against Debian's dockerd
// instead of berthd (with -run '/docker$'), to check that the tests expect
// what Docker itself does. Known differences with dockerd 20.10: it answers
// malformed JSON with 500 (newer Docker and berth: 400), and its container
// logs stop growing while the daemon is down (berth's shims keep writing).
//
// Nothing here sleeps: tests wait on exit statuses, streams, or polled
// conditions with deadlines (waitFor).
package integration
