// Package registry implements login and logout and owns the registry
// credentials berth keeps in the Docker CLI's config.json ("auths"), so
// that pull and push can send them as X-Registry-Auth. Credential helpers
// are not supported.
package registry
