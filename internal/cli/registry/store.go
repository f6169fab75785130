package registry

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"berth/internal/cli/command"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
	"github.com/moby/moby/api/types/registry"
)

// helperPrefix starts the name of every credential helper program.
const helperPrefix = "docker-credential-"

// tokenUsername is the user a helper stores an identity token under.
const tokenUsername = "<token>"

// credStore keeps the credentials of registries, keyed by server address
// (HOST[:PORT], or IndexServer for Docker Hub), as the Docker CLI does.
type credStore interface {
	// Get returns the stored credentials, empty ones when there are none.
	Get(server string) (registry.AuthConfig, error)
	// Store saves ac under ac.ServerAddress.
	Store(ac registry.AuthConfig) error
	// Erase forgets server; forgetting what is not there is no error.
	Erase(server string) error
}

// helperSettings are the config.json keys that send credentials to
// helpers: credHelpers per registry, credsStore for the others. berth's
// ConfigFile keeps them on save without knowing them; they are read
// straight from the file.
type helperSettings struct {
	CredsStore  string            `json:"credsStore,omitempty"`
	CredHelpers map[string]string `json:"credHelpers,omitempty"`
}

func readHelperSettings(cf *command.ConfigFile) (helperSettings, error) {
	var hs helperSettings
	b, err := os.ReadFile(cf.Path())
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(b) == 0) {
		return hs, nil
	}
	if err != nil {
		return hs, err
	}
	if err := json.Unmarshal(b, &hs); err != nil {
		return hs, fmt.Errorf("loading config file: %s: %w", cf.Path(), err)
	}
	return hs, nil
}

// credStoreFor returns the store config.json names for server: its
// credHelpers entry, else credsStore, else the file itself.
func credStoreFor(cli *command.Cli, server string) (credStore, error) {
	cf := cli.ConfigFile()
	fileStore := &fileStore{cf: cf, warn: cli.Err()}
	hs, err := readHelperSettings(cf)
	if err != nil {
		return nil, err
	}
	helper := hs.CredHelpers[server]
	if helper == "" {
		helper = hs.CredsStore
	}
	if helper == "" {
		return fileStore, nil
	}
	return &helperStore{program: helperProgram(cli, helperPrefix+helper), file: fileStore}, nil
}

// fileStore keeps credentials in config.json's "auths" as base64
// user:password.
type fileStore struct {
	cf   *command.ConfigFile
	warn io.Writer // where the unencrypted-storage warning goes
}

func (s *fileStore) Get(server string) (registry.AuthConfig, error) {
	ac, ok := s.cf.Auths[server]
	if !ok {
		// Older files keyed some registries by URL.
		for k, v := range s.cf.Auths {
			if convertToHostname(k) == server {
				ac, ok = v, true
				break
			}
		}
	}
	if !ok {
		return registry.AuthConfig{}, nil
	}
	out := registry.AuthConfig{ServerAddress: server, IdentityToken: ac.IdentityToken}
	if ac.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(ac.Auth)
		if err != nil {
			return registry.AuthConfig{}, fmt.Errorf("invalid auth configuration file: %w", err)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return registry.AuthConfig{}, errors.New("invalid auth configuration file")
		}
		out.Username, out.Password = user, strings.Trim(pass, "\x00")
	}
	return out, nil
}

// Store writes the entry; an unchanged entry leaves the file alone. A
// password stored in the clear earns Docker's warning.
func (s *fileStore) Store(ac registry.AuthConfig) error {
	entry := command.AuthConfig{IdentityToken: ac.IdentityToken}
	if ac.Username != "" || ac.Password != "" {
		entry.Auth = base64.StdEncoding.EncodeToString([]byte(ac.Username + ":" + ac.Password))
	}
	if old, ok := s.cf.Auths[ac.ServerAddress]; ok && old == entry {
		return nil
	}
	s.cf.Auths[ac.ServerAddress] = entry
	if err := s.cf.Save(); err != nil {
		return err
	}
	if ac.Password != "" && s.warn != nil {
		fmt.Fprintf(s.warn, "\nWARNING! Your credentials are stored unencrypted in '%s'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n", s.cf.Path())
	}
	return nil
}

func (s *fileStore) Erase(server string) error {
	if _, ok := s.cf.Auths[server]; !ok {
		return nil
	}
	delete(s.cf.Auths, server)
	return s.cf.Save()
}

// helperStore keeps credentials in a docker-credential-* helper (store,
// get and erase, JSON over stdin and stdout); config.json keeps an empty
// entry per registry, as the Docker CLI leaves it.
type helperStore struct {
	program client.ProgramFunc
	file    *fileStore
}

func (s *helperStore) Get(server string) (registry.AuthConfig, error) {
	creds, err := client.Get(s.program, server)
	if err != nil {
		if credentials.IsErrCredentialsNotFound(err) {
			return registry.AuthConfig{}, nil
		}
		return registry.AuthConfig{}, err
	}
	ac := registry.AuthConfig{ServerAddress: server}
	if creds.Username == tokenUsername {
		ac.IdentityToken = creds.Secret
	} else {
		ac.Username, ac.Password = creds.Username, creds.Secret
	}
	return ac, nil
}

func (s *helperStore) Store(ac registry.AuthConfig) error {
	creds := &credentials.Credentials{ServerURL: ac.ServerAddress, Username: ac.Username, Secret: ac.Password}
	if ac.IdentityToken != "" {
		creds.Username, creds.Secret = tokenUsername, ac.IdentityToken
	}
	if err := client.Store(s.program, creds); err != nil {
		return err
	}
	return s.file.Store(registry.AuthConfig{ServerAddress: ac.ServerAddress})
}

func (s *helperStore) Erase(server string) error {
	if err := client.Erase(s.program, server); err != nil {
		return err
	}
	return s.file.Erase(server)
}

// helperProgram runs the helper named name, found in the PATH the CLI
// sees, with its stderr on the CLI's.
func helperProgram(cli *command.Cli, name string) client.ProgramFunc {
	path := name
	if p, ok := cli.LookupEnv("PATH"); ok {
		for _, dir := range filepath.SplitList(p) {
			if dir == "" {
				dir = "."
			}
			cand := filepath.Join(dir, name)
			if st, err := os.Stat(cand); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				path = cand
				break
			}
		}
	}
	return func(args ...string) client.Program {
		cmd := exec.Command(path, args...)
		cmd.Stderr = cli.Err()
		return &helperCmd{cmd: cmd}
	}
}

type helperCmd struct{ cmd *exec.Cmd }

func (h *helperCmd) Output() ([]byte, error) { return h.cmd.Output() }
func (h *helperCmd) Input(in io.Reader)      { h.cmd.Stdin = in }

// convertToHostname cuts a registry URL down to HOST[:PORT], as the
// Docker CLI does before filing credentials.
func convertToHostname(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil && u.Hostname() != "" {
			if u.Port() == "" {
				return u.Hostname()
			}
			return net.JoinHostPort(u.Hostname(), u.Port())
		}
	}
	host, _, _ := strings.Cut(s, "/")
	return host
}

// authConfigFor reads the stored credentials of server; ok is false when
// there are none, or they cannot be read (the Docker CLI goes on without
// them for pull, push and search).
func authConfigFor(cli *command.Cli, server string) (ac registry.AuthConfig, ok bool) {
	st, err := credStoreFor(cli, server)
	if err == nil {
		ac, err = st.Get(server)
	}
	if err != nil {
		cli.Logger().Debug("reading stored credentials", "server", server, "error", err)
		return registry.AuthConfig{}, false
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" {
		return registry.AuthConfig{}, false
	}
	ac.ServerAddress = server
	return ac, true
}
