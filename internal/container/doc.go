// Package container owns berth's containers: their model and state machine,
// the bbolt store that keeps them across restarts, and the lifecycle
// operations behind the Engine API (create, start, stop, kill, restart,
// remove, wait, attach, logs, exec). It drives each container through its
// berth-shim (internal/runtime) and gets file systems from the image service;
// networking, volumes and restart policies plug in at the seams marked here.
//
// Locking: Container.mu guards a container's mutable fields; methods that
// need it held end in Locked. No lock is held across shim or image I/O.
package container
