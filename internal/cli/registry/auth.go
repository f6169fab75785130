package registry

import (
	"encoding/base64"
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

// normalizeServer strips the scheme and path from a login argument.
func normalizeServer(s string) string {
	if s == "" {
		return IndexServer
	}
	if serverKey(s) == IndexServer || s == IndexServer {
		return IndexServer
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	return s
}

// EncodedAuthForImage returns the X-Registry-Auth value for the registry
// of image, from config.json, or "" when none is stored.
func EncodedAuthForImage(cli *command.Cli, image string) string {
	host := ""
	if named, err := reference.ParseNormalizedNamed(image); err == nil {
		host = reference.Domain(named)
	}
	ac, ok := cli.ConfigFile().Auths[serverKey(host)]
	if !ok || ac.Auth == "" {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(ac.Auth)
	if err != nil {
		return ""
	}
	user, pass, _ := strings.Cut(string(raw), ":")
	enc, err := authconfig.Encode(registry.AuthConfig{Username: user, Password: pass, ServerAddress: serverKey(host), IdentityToken: ac.IdentityToken})
	if err != nil {
		return ""
	}
	return enc
}
