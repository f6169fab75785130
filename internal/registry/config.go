package registry

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/sirupsen/logrus"
)

// DefaultConfig is the configuration the registry:2 image ships as
// /etc/docker/registry/config.yml: filesystem storage under
// /var/lib/registry, listening on :5000, deletes disabled (enable them with
// REGISTRY_STORAGE_DELETE_ENABLED=true), the storage driver health check on.
const DefaultConfig = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`

// ConfigPathEnv names the variable distribution reads the configuration
// file's path from when none is given on the command line.
const ConfigPathEnv = "REGISTRY_CONFIGURATION_PATH"

// LoadConfig reads the configuration file at path, or the file named by
// REGISTRY_CONFIGURATION_PATH when path is empty, or DefaultConfig when
// neither names one. distribution's parser then applies the REGISTRY_*
// environment variables (REGISTRY_HTTP_ADDR, REGISTRY_AUTH=htpasswd,
// REGISTRY_STORAGE_DELETE_ENABLED, …) over the file.
func LoadConfig(path string) (*configuration.Configuration, error) {
	if path == "" {
		path = os.Getenv(ConfigPathEnv)
	}
	var in io.Reader = strings.NewReader(DefaultConfig)
	name := "the default configuration"
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("configuration error: %w", err)
		}
		in, name = bytes.NewReader(data), path
	}
	cfg, err := ParseConfig(in)
	if err != nil {
		return nil, fmt.Errorf("error parsing %s: %w", name, err)
	}
	return cfg, nil
}

// ParseConfig parses a distribution configuration and applies the
// REGISTRY_* environment variables over it.
func ParseConfig(in io.Reader) (*configuration.Configuration, error) {
	return configuration.Parse(in)
}

// ConfigureLogging points distribution's logger (logrus) at the level,
// formatter and fields of cfg.Log, as `registry serve` does. It changes
// process-wide state, so only a main calls it.
func ConfigureLogging(cfg *configuration.Configuration) error {
	level, err := logrus.ParseLevel(string(cfg.Log.Level))
	if err != nil {
		level = logrus.InfoLevel
	}
	logrus.SetLevel(level)
	logrus.SetReportCaller(cfg.Log.ReportCaller)
	switch cfg.Log.Formatter {
	case "", "text":
		logrus.SetFormatter(&logrus.TextFormatter{TimestampFormat: time.RFC3339Nano})
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano, DisableHTMLEscape: true})
	case "logstash":
		logrus.SetFormatter(&logrus.JSONFormatter{
			TimestampFormat: time.RFC3339Nano,
			FieldMap:        logrus.FieldMap{logrus.FieldKeyFunc: "function"},
		})
	default:
		return fmt.Errorf("unsupported logging formatter: %q", cfg.Log.Formatter)
	}
	if len(cfg.Log.Fields) > 0 {
		logrus.AddHook(fieldsHook(cfg.Log.Fields))
	}
	return nil
}

// fieldsHook adds the configured log.fields to every entry, as
// distribution's own context logger does.
type fieldsHook map[string]any

func (h fieldsHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h fieldsHook) Fire(e *logrus.Entry) error {
	for k, v := range h {
		if _, ok := e.Data[k]; !ok {
			e.Data[k] = v
		}
	}
	return nil
}
