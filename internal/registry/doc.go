// Package registry wires berth-registry: it loads a distribution
// (github.com/distribution/distribution/v3) configuration, with the
// REGISTRY_* environment variables applied exactly as distribution applies
// them, and serves distribution's registry application over HTTP or TLS.
// In front of distribution's handlers it adds two things distribution v3
// lacks: the subset of Docker's v1 search API that `docker search` uses,
// answered from the registry's catalogue (search.go), and the OCI 1.1
// referrers API with the OCI-Subject header (referrers.go), so the OCI
// distribution-spec conformance suite passes. It also runs distribution's
// garbage collector over the configured storage.
//
// Only the filesystem and inmemory storage drivers and the htpasswd, token
// and silly access controllers are linked in (see drivers.go); the cloud
// storage drivers and their SDKs are left out on purpose.
package registry
