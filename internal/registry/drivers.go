package registry

// distribution finds storage drivers and access controllers by name in
// registries its packages fill from init; these imports are the whole set
// berth-registry links in. Adding a cloud driver here would pull its SDK
// into the binary.
import (
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/silly"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)
