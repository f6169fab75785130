// Package runtime is berth's mechanism for running containers through an OCI
// runtime: it turns a container's configuration into an OCI runtime spec
// (Docker's defaults for capabilities, mounts, masked paths, devices,
// seccomp and rlimits) and it is the client of the per-container berth-shim
// (launch, start, attach, exec, signal, wait). It knows nothing of the
// container store or the API; internal/container drives it.
package runtime
