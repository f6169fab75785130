package registry

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
)

func TestLoadConfigEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(file, []byte(`version: 0.1
storage:
  inmemory: {}
http:
  addr: 127.0.0.1:6000
`), 0o644); err != nil {
		t.Fatal(err)
	}
	deleteEnabled := func(c *configuration.Configuration) bool {
		enabled, _ := c.Storage["delete"]["enabled"].(bool)
		return enabled
	}

	tests := []struct {
		name  string
		path  string
		env   map[string]string
		check func(t *testing.T, c *configuration.Configuration)
	}{
		{
			name: "registry:2 defaults",
			check: func(t *testing.T, c *configuration.Configuration) {
				if c.Storage.Type() != "filesystem" || c.Storage.Parameters()["rootdirectory"] != "/var/lib/registry" {
					t.Errorf("storage %s %v, want filesystem at /var/lib/registry", c.Storage.Type(), c.Storage.Parameters())
				}
				if c.HTTP.Addr != ":5000" {
					t.Errorf("addr %q, want :5000", c.HTTP.Addr)
				}
				if deleteEnabled(c) {
					t.Error("delete enabled by default")
				}
				if !c.Health.StorageDriver.Enabled {
					t.Error("storage driver health check off")
				}
				if c.Auth.Type() != "" {
					t.Errorf("auth %q by default", c.Auth.Type())
				}
				if c.HTTP.TLS.Certificate != "" {
					t.Error("TLS on by default")
				}
			},
		},
		{
			name: "the variables users know",
			env: map[string]string{
				"REGISTRY_HTTP_ADDR":                        "0.0.0.0:443",
				"REGISTRY_HTTP_TLS_CERTIFICATE":             "/certs/domain.crt",
				"REGISTRY_HTTP_TLS_KEY":                     "/certs/domain.key",
				"REGISTRY_AUTH":                             "htpasswd",
				"REGISTRY_AUTH_HTPASSWD_REALM":              "Registry Realm",
				"REGISTRY_AUTH_HTPASSWD_PATH":               "/auth/htpasswd",
				"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/data",
				"REGISTRY_STORAGE_DELETE_ENABLED":           "true",
			},
			check: func(t *testing.T, c *configuration.Configuration) {
				if c.HTTP.Addr != "0.0.0.0:443" {
					t.Errorf("addr %q", c.HTTP.Addr)
				}
				if c.HTTP.TLS.Certificate != "/certs/domain.crt" || c.HTTP.TLS.Key != "/certs/domain.key" {
					t.Errorf("tls %q %q", c.HTTP.TLS.Certificate, c.HTTP.TLS.Key)
				}
				p := c.Auth.Parameters()
				if c.Auth.Type() != "htpasswd" || p["realm"] != "Registry Realm" || p["path"] != "/auth/htpasswd" {
					t.Errorf("auth %q %v", c.Auth.Type(), p)
				}
				if c.Storage.Parameters()["rootdirectory"] != "/data" {
					t.Errorf("rootdirectory %v", c.Storage.Parameters()["rootdirectory"])
				}
				if !deleteEnabled(c) {
					t.Error("REGISTRY_STORAGE_DELETE_ENABLED=true did not enable delete")
				}
			},
		},
		{
			name: "a file, overridden by the environment",
			path: file,
			env:  map[string]string{"REGISTRY_HTTP_ADDR": "127.0.0.1:7000"},
			check: func(t *testing.T, c *configuration.Configuration) {
				if c.Storage.Type() != "inmemory" {
					t.Errorf("storage %q, want the file's inmemory", c.Storage.Type())
				}
				if c.HTTP.Addr != "127.0.0.1:7000" {
					t.Errorf("addr %q, want the environment's", c.HTTP.Addr)
				}
			},
		},
		{
			name: "REGISTRY_CONFIGURATION_PATH names the file",
			env:  map[string]string{ConfigPathEnv: file},
			check: func(t *testing.T, c *configuration.Configuration) {
				if c.Storage.Type() != "inmemory" || c.HTTP.Addr != "127.0.0.1:6000" {
					t.Errorf("storage %q addr %q, want the file's", c.Storage.Type(), c.HTTP.Addr)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := LoadConfig(tc.path)
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			tc.check(t, c)
		})
	}

	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yml")); err == nil {
		t.Error("LoadConfig of a missing file succeeded")
	}
}
