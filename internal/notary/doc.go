// Package notary serves the Notary v1 trust API (TUF metadata under
// /v2/GUN/_trust/tuf/) that the Docker CLI's DOCKER_CONTENT_TRUST talks
// to, from inside berth-registry: the registry's own address answers for
// its images' signatures, as a separate notary-server would. Fetching
// metadata and keys is notary's server handlers; publishing is this
// package's own (see publish.go), over notary's TUF builder. It checks
// access through the registry's access controller, and keeps the metadata
// in a bbolt file and the server-managed (timestamp and snapshot) keys in a
// key directory beside it.
package notary
