package command

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// DefaultHost is the daemon berth talks to when neither -H, DOCKER_HOST nor
// a context says otherwise.
const DefaultHost = "unix:///run/berth/berth.sock"

// Options are the global flags shared by every command.
type Options struct {
	Hosts     []string
	Context   string
	ConfigDir string
	Debug     bool
	LogLevel  string
	TLS       bool
	TLSVerify bool
	TLSCACert string
	TLSCert   string
	TLSKey    string
}

// Cli carries the streams, global options and the Engine API client of one
// berth invocation. The client is created on first use, so --version and
// help never dial the daemon.
type Cli struct {
	in        *InStream
	out       *OutStream
	err       *OutStream
	lookupEnv func(string) (string, bool)

	// Opts is filled by the root command's flags before any command runs.
	Opts Options
	// Version and Commit identify this build of berth.
	Version, Commit, BuildTime string

	api        client.APIClient
	configFile *ConfigFile
	logger     *slog.Logger
}

// NewCli returns a Cli over the given streams; lookupEnv (os.LookupEnv in
// main) supplies DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG,
// DOCKER_API_VERSION and the values of `run -e VAR`.
func NewCli(in io.ReadCloser, out, errOut io.Writer, lookupEnv func(string) (string, bool)) *Cli {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	return &Cli{
		in:        NewInStream(in),
		out:       NewOutStream(out),
		err:       NewOutStream(errOut),
		lookupEnv: lookupEnv,
	}
}

// In is standard input.
func (c *Cli) In() *InStream { return c.in }

// Out is standard output.
func (c *Cli) Out() *OutStream { return c.out }

// Err is standard error.
func (c *Cli) Err() *OutStream { return c.err }

// LookupEnv reads the caller's environment.
func (c *Cli) LookupEnv(key string) (string, bool) { return c.lookupEnv(key) }

func (c *Cli) getenv(key string) string {
	v, _ := c.lookupEnv(key)
	return v
}

// Logger returns the CLI's debug logger (stderr, level from -D/-l).
func (c *Cli) Logger() *slog.Logger {
	if c.logger == nil {
		level := slog.LevelInfo
		switch strings.ToLower(c.Opts.LogLevel) {
		case "debug":
			level = slog.LevelDebug
		case "warn", "warning":
			level = slog.LevelWarn
		case "error", "fatal", "panic":
			level = slog.LevelError
		}
		if c.Opts.Debug {
			level = slog.LevelDebug
		}
		c.logger = slog.New(slog.NewTextHandler(c.err, &slog.HandlerOptions{Level: level}))
	}
	return c.logger
}

// SetClient replaces the API client (tests inject one bound to a fake
// server).
func (c *Cli) SetClient(api client.APIClient) { c.api = api }

// ConfigDir is --config, else DOCKER_CONFIG, else ~/.docker.
func (c *Cli) ConfigDir() string {
	if c.Opts.ConfigDir != "" {
		return c.Opts.ConfigDir
	}
	if d := c.getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home := c.getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker")
}

// ConfigFile loads config.json once; a broken file is reported on stderr
// and treated as empty, as docker does.
func (c *Cli) ConfigFile() *ConfigFile {
	if c.configFile == nil {
		cf, err := LoadConfigFile(c.ConfigDir())
		if err != nil {
			fmt.Fprintf(c.err, "WARNING: Error %s\n", err)
		}
		c.configFile = cf
	}
	return c.configFile
}

// CurrentContext names the context in use: --context, DOCKER_CONTEXT,
// "default" when -H or DOCKER_HOST is set, config.json's currentContext, or
// "default".
func (c *Cli) CurrentContext() string {
	switch {
	case c.Opts.Context != "":
		return c.Opts.Context
	case len(c.Opts.Hosts) > 0:
		return "default"
	case c.getenv("DOCKER_CONTEXT") != "":
		return c.getenv("DOCKER_CONTEXT")
	case c.getenv("DOCKER_HOST") != "":
		return "default"
	case c.ConfigFile().CurrentContext != "":
		return c.ConfigFile().CurrentContext
	}
	return "default"
}

// Host resolves the daemon address from -H, the context, DOCKER_HOST or
// DefaultHost.
func (c *Cli) Host() (string, error) {
	if len(c.Opts.Hosts) > 1 {
		return "", errors.New("specify only one -H")
	}
	if len(c.Opts.Hosts) == 1 {
		if c.Opts.Context != "" {
			return "", errors.New("conflicting options: either specify --host or --context, not both")
		}
		return normalizeHost(c.Opts.Hosts[0])
	}
	name := c.CurrentContext()
	if name == "default" {
		if h := c.getenv("DOCKER_HOST"); h != "" {
			return normalizeHost(h)
		}
		return DefaultHost, nil
	}
	h, err := contextHost(c.ConfigDir(), name)
	if err != nil {
		return "", fmt.Errorf("Failed to initialize: unable to resolve docker endpoint: %w", err)
	}
	return normalizeHost(h)
}

// normalizeHost accepts docker's -H forms: unix:///p, tcp://h:p, /path and
// host:port.
func normalizeHost(h string) (string, error) {
	h = strings.TrimSpace(h)
	switch {
	case h == "":
		return DefaultHost, nil
	case strings.Contains(h, "://"):
		return h, nil
	case strings.HasPrefix(h, "/"):
		return "unix://" + h, nil
	default:
		return "tcp://" + h, nil
	}
}

// Client returns the Engine API client, creating it on first use. The API
// version is negotiated with the daemon unless DOCKER_API_VERSION pins it.
func (c *Cli) Client() (client.APIClient, error) {
	if c.api != nil {
		return c.api, nil
	}
	host, err := c.Host()
	if err != nil {
		return nil, err
	}
	opts := []client.Opt{
		client.WithHost(host),
		client.WithUserAgent("berth-cli/" + c.Version),
	}
	if v := c.getenv("DOCKER_API_VERSION"); v != "" {
		opts = append(opts, client.WithAPIVersion(v))
	} else {
		opts = append(opts, client.WithAPIVersionNegotiation())
	}
	if c.Opts.TLS || c.Opts.TLSVerify || c.getenv("DOCKER_TLS_VERIFY") != "" {
		certDir := c.getenv("DOCKER_CERT_PATH")
		if certDir == "" {
			certDir = c.ConfigDir()
		}
		pick := func(flag, name string) string {
			if flag != "" {
				return flag
			}
			return filepath.Join(certDir, name)
		}
		opts = append(opts, client.WithTLSClientConfig(pick(c.Opts.TLSCACert, "ca.pem"), pick(c.Opts.TLSCert, "cert.pem"), pick(c.Opts.TLSKey, "key.pem")))
	}
	api, err := client.New(opts...)
	if err != nil {
		return nil, err
	}
	c.api = api
	return api, nil
}

// Close releases the API client's connections.
func (c *Cli) Close() error {
	if c.api == nil {
		return nil
	}
	return c.api.Close()
}

// LogError writes msg as docker's CLI logger does (logrus text format), for
// the few errors docker reports through its logger rather than its exit
// status.
func (c *Cli) LogError(msg string) {
	fmt.Fprintf(c.err, "time=%q level=error msg=%q\n", time.Now().Format(time.RFC3339), msg)
}
