package command

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"berth/internal/atomicfile"
)

// ConfigFile is the part of the Docker CLI's config.json that berth reads
// and writes. Unknown keys are preserved on save.
type ConfigFile struct {
	CurrentContext string                `json:"currentContext,omitempty"`
	DetachKeys     string                `json:"detachKeys,omitempty"`
	Auths          map[string]AuthConfig `json:"auths,omitempty"`

	path  string
	extra map[string]json.RawMessage
}

// AuthConfig is one registry's stored credentials in config.json.
type AuthConfig struct {
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// LoadConfigFile reads <dir>/config.json; a missing file yields an empty
// config.
func LoadConfigFile(dir string) (*ConfigFile, error) {
	cf := &ConfigFile{path: filepath.Join(dir, "config.json"), Auths: map[string]AuthConfig{}}
	b, err := os.ReadFile(cf.path)
	if errors.Is(err, fs.ErrNotExist) {
		return cf, nil
	}
	if err != nil {
		return cf, fmt.Errorf("loading config file: %w", err)
	}
	if len(b) == 0 {
		return cf, nil
	}
	if err := json.Unmarshal(b, &cf.extra); err != nil {
		return cf, fmt.Errorf("loading config file: %s: %w", cf.path, err)
	}
	if err := json.Unmarshal(b, cf); err != nil {
		return cf, fmt.Errorf("loading config file: %s: %w", cf.path, err)
	}
	if cf.Auths == nil {
		cf.Auths = map[string]AuthConfig{}
	}
	return cf, nil
}

// Path returns the file the config is stored in.
func (c *ConfigFile) Path() string { return c.path }

// Save writes the config back atomically with mode 0600.
func (c *ConfigFile) Save() error {
	out := map[string]any{}
	for k, v := range c.extra {
		out[k] = v
	}
	delete(out, "auths")
	if len(c.Auths) > 0 {
		out["auths"] = c.Auths
	}
	delete(out, "currentContext")
	if c.CurrentContext != "" {
		out["currentContext"] = c.CurrentContext
	}
	b, err := json.MarshalIndent(out, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(c.path, b, 0o600)
}

// contextMeta is <config>/contexts/meta/<sha256(name)>/meta.json.
type contextMeta struct {
	Name      string `json:"Name"`
	Endpoints map[string]struct {
		Host          string `json:"Host"`
		SkipTLSVerify bool   `json:"SkipTLSVerify"`
	} `json:"Endpoints"`
}

// contextHost reads the docker endpoint host of the named context.
func contextHost(configDir, name string) (string, error) {
	sum := sha256.Sum256([]byte(name))
	p := filepath.Join(configDir, "contexts", "meta", hex.EncodeToString(sum[:]), "meta.json")
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("context %q does not exist", name)
		}
		return "", fmt.Errorf("context %q: %w", name, err)
	}
	var m contextMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return "", fmt.Errorf("context %q: parsing %s: %w", name, p, err)
	}
	ep, ok := m.Endpoints["docker"]
	if !ok || ep.Host == "" {
		return "", fmt.Errorf("context %q has no docker endpoint", name)
	}
	return ep.Host, nil
}
