package registry

import (
	"strings"

	"berth/internal/cli/command"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
)

// IndexServer is the key Docker uses for Docker Hub credentials.
const IndexServer = "https://index.docker.io/v1/"

// serverKey turns a registry host into its config.json key.
func serverKey(host string) string {
	switch host {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return IndexServer
	}
	return host
}

// loginServer is the server a login or logout argument names: Docker
// Hub's key for none (or "docker.io"), else HOST[:PORT] without scheme
// or path.
func loginServer(arg string) string {
	if arg == "" || arg == "docker.io" || arg == IndexServer {
		return IndexServer
	}
	return convertToHostname(arg)
}

// EncodedAuthForImage returns the X-Registry-Auth value for the registry
// of image, from config.json or its credential helper, or "" when none is
// stored.
func EncodedAuthForImage(cli *command.Cli, image string) string {
	host := ""
	if named, err := reference.ParseNormalizedNamed(image); err == nil {
		host = reference.Domain(named)
	}
	if enc := encodedAuth(cli, serverKey(host)); enc != "" {
		return enc
	}
	// Like the docker CLI, send an empty configuration rather than no
	// header: older daemons refuse a pull or push without one.
	enc, _ := authconfig.Encode(registry.AuthConfig{})
	return enc
}

// encodedAuth is the X-Registry-Auth value for server's stored
// credentials, "" when there are none.
func encodedAuth(cli *command.Cli, server string) string {
	ac, ok := authConfigFor(cli, server)
	if !ok {
		return ""
	}
	enc, err := authconfig.Encode(ac)
	if err != nil {
		return ""
	}
	return enc
}

// searchServer is the registry a search term names (dockerd's
// splitReposSearchTerm): its first element when that holds a dot or a
// colon or is "localhost", Docker Hub otherwise.
func searchServer(term string) string {
	first, _, ok := strings.Cut(term, "/")
	if !ok || (first != "localhost" && !strings.ContainsAny(first, ".:")) {
		return IndexServer
	}
	return serverKey(first)
}
