// Package registry implements login, logout and search, and owns the
// registry credentials berth keeps where the Docker CLI keeps them:
// config.json's "auths" (base64 user:password, or an identity token), or
// a docker-credential-* helper named by "credsStore" or, per registry,
// "credHelpers" (store, get and erase over stdin and stdout). Pull, push
// and search send them as X-Registry-Auth.
package registry
