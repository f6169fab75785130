// Package config holds berthd's configuration: defaults, /etc/berth/daemon.json
// and command-line flags, merged and validated in one place. Components get
// the resulting struct and never read files or the environment themselves.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// DefaultConfigFile is where berthd looks for daemon.json.
const DefaultConfigFile = "/etc/berth/daemon.json"

// Runtime is an OCI runtime berthd can use, as daemon.json "runtimes" names it.
type Runtime struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
}

// Config is the daemon's configuration. JSON names are daemon.json's keys.
type Config struct {
	DataRoot           string             `json:"data-root,omitempty"`
	ExecRoot           string             `json:"exec-root,omitempty"`
	Hosts              []string           `json:"hosts,omitempty"`
	Debug              bool               `json:"debug,omitempty"`
	LogLevel           string             `json:"log-level,omitempty"`
	DefaultRuntime     string             `json:"default-runtime,omitempty"`
	Runtimes           map[string]Runtime `json:"runtimes,omitempty"`
	StorageDriver      string             `json:"storage-driver,omitempty"`
	Pidfile            string             `json:"pidfile,omitempty"`
	LogDriver          string             `json:"log-driver,omitempty"`
	LogOpts            map[string]string  `json:"log-opts,omitempty"`
	Group              string             `json:"group,omitempty"`
	Experimental       bool               `json:"experimental,omitempty"`
	LiveRestore        bool               `json:"live-restore"`
	RegistryMirrors    []string           `json:"registry-mirrors,omitempty"`
	InsecureRegistries []string           `json:"insecure-registries,omitempty"`
	DNS                []string           `json:"dns,omitempty"`
	Bip                string             `json:"bip,omitempty"`
	Bridge             string             `json:"bridge,omitempty"`
	FixedCIDR          string             `json:"fixed-cidr,omitempty"`
	MTU                int                `json:"mtu,omitempty"`
	ICC                *bool              `json:"icc,omitempty"`
	IPMasq             *bool              `json:"ip-masq,omitempty"`
	IPForward          *bool              `json:"ip-forward,omitempty"`
	UserlandProxy      *bool              `json:"userland-proxy,omitempty"`
	DNSSearch          []string           `json:"dns-search,omitempty"`
	DNSOpts            []string           `json:"dns-opts,omitempty"`
	// DefaultAddressPools are where user-defined networks get subnets.
	DefaultAddressPools []AddressPool `json:"default-address-pools,omitempty"`
	ShimPath            string        `json:"shim-path,omitempty"`
}

// AddressPool is one entry of default-address-pools: Base split into
// subnets of Size bits.
type AddressPool struct {
	Base string `json:"base"`
	Size int    `json:"size"`
}

// Enabled is the value of an optional boolean setting that is on unless
// set to false.
func Enabled(b *bool) bool { return b == nil || *b }

// Default is the configuration berthd runs with when nothing is set.
func Default() Config {
	return Config{
		DataRoot:      "/var/lib/berth",
		ExecRoot:      "/run/berth",
		Hosts:         []string{"unix:///run/berth/berth.sock"},
		LogLevel:      "info",
		StorageDriver: "overlay2",
		Pidfile:       "/run/berth/berthd.pid",
		LogDriver:     "json-file",
		Group:         "berth",
		// Each container's shim outlives berthd, so containers keep
		// running across a daemon restart unless this is turned off.
		LiveRestore: true,
	}
}

// LoadFile merges daemon.json at path over cfg. A missing file is not an
// error unless required; unknown keys are, as in dockerd.
func LoadFile(cfg *Config, path string, required bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !required {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unable to configure the daemon with file %s: %w", path, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return fmt.Errorf("unable to configure the daemon with file %s: %w", path, err)
	}
	known := knownKeys()
	var unknown []string
	for k := range keys {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("the following directives don't match any configuration option: %s", strings.Join(unknown, ", "))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("unable to configure the daemon with file %s: %w", path, err)
	}
	return nil
}

// Conflicts lists the daemon.json keys that were also set as flags; dockerd
// refuses to start in that case and so does berthd.
func Conflicts(path string, flagKeys []string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(data, &keys) != nil {
		return nil
	}
	var both []string
	for _, k := range flagKeys {
		if _, ok := keys[k]; ok {
			both = append(both, k)
		}
	}
	if len(both) > 0 {
		return fmt.Errorf("the following directives are specified both as a flag and in the configuration file: %s", strings.Join(both, ", "))
	}
	return nil
}

func knownKeys() map[string]bool {
	known := map[string]bool{}
	t := []string{"data-root", "exec-root", "hosts", "debug", "log-level", "default-runtime",
		"runtimes", "storage-driver", "pidfile", "log-driver", "log-opts", "group", "experimental",
		"live-restore", "registry-mirrors", "insecure-registries", "dns", "bip", "shim-path",
		"default-address-pools", "features", "fixed-cidr", "bridge", "mtu", "icc", "ip-masq", "ip-forward",
		"userland-proxy", "dns-search", "dns-opts", "builder", "max-concurrent-downloads", "max-concurrent-uploads"}
	for _, k := range t {
		known[k] = true
	}
	return known
}

// Validate reports every problem with cfg at once.
func (c *Config) Validate() error {
	var errs []error
	switch c.StorageDriver {
	case "overlay2", "overlay", "vfs", "native":
	default:
		errs = append(errs, fmt.Errorf("unsupported storage driver: %s", c.StorageDriver))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error", "fatal":
	default:
		errs = append(errs, fmt.Errorf("unable to parse logging level: %s", c.LogLevel))
	}
	if c.DefaultRuntime != "" {
		if _, ok := c.Runtimes[c.DefaultRuntime]; !ok && c.DefaultRuntime != "runc" && c.DefaultRuntime != "crun" {
			errs = append(errs, fmt.Errorf("default runtime %s not found in configured runtimes", c.DefaultRuntime))
		}
	}
	if len(c.Hosts) == 0 {
		errs = append(errs, errors.New("no hosts to listen on"))
	}
	return errors.Join(errs...)
}
