package registry

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"berth/internal/cli/command"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type loginOptions struct {
	server        string
	user          string
	password      string
	passwordStdin bool
}

// NewLoginCommand returns `login`.
func NewLoginCommand(cli *command.Cli) *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Long:  "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
		Args:  command.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				o.server = args[0]
			}
			if err := verifyLoginFlags(cmd.Flags(), &o); err != nil {
				return err
			}
			return runLogin(cmd.Context(), cli, cmd.Root().Name(), &o)
		},
		Annotations: map[string]string{command.AnnotationTop: "8"},
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.user, "username", "u", "", "Username")
	flags.StringVarP(&o.password, "password", "p", "", "Password or Personal Access Token (PAT)")
	flags.BoolVar(&o.passwordStdin, "password-stdin", false, "Take the Password or Personal Access Token (PAT) from stdin")
	return cmd
}

// verifyLoginFlags rejects what the Docker CLI rejects before doing
// anything, with its words.
func verifyLoginFlags(flags *pflag.FlagSet, o *loginOptions) error {
	if flags.Changed("password-stdin") {
		if flags.Changed("password") {
			return errors.New("conflicting options: cannot specify both --password and --password-stdin")
		}
		if !flags.Changed("username") {
			return errors.New("the --password-stdin option requires --username to be set")
		}
	}
	if flags.Changed("username") && o.user == "" {
		return errors.New("username is empty")
	}
	if flags.Changed("password") && o.password == "" {
		return errors.New("password is empty")
	}
	return nil
}

func runLogin(ctx context.Context, cli *command.Cli, prog string, o *loginOptions) error {
	if o.password != "" {
		fmt.Fprintln(cli.Err(), "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
	}
	if o.passwordStdin {
		b, err := io.ReadAll(cli.In())
		if err != nil {
			return err
		}
		o.password = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	server := loginServer(o.server)
	st, err := credStoreFor(cli, server)
	if err != nil {
		return err
	}

	// With neither user nor password given, the stored credentials are
	// tried first.
	var stored registry.AuthConfig
	var status string
	err = nil
	if o.user == "" && o.password == "" {
		stored, err = st.Get(server)
		if err == nil && stored.Username != "" && stored.Password != "" {
			status, err = loginStored(ctx, cli, prog, st, server, stored)
		}
	}
	if err != nil || stored.Username == "" || stored.Password == "" {
		if status, err = loginUser(ctx, cli, st, o, stored.Username, server); err != nil {
			return err
		}
	}
	if status != "" {
		fmt.Fprintln(cli.Out(), status)
	}
	return nil
}

// loginStored logs in with the credentials already stored for server.
func loginStored(ctx context.Context, cli *command.Cli, prog string, st credStore, server string, ac registry.AuthConfig) (string, error) {
	fmt.Fprintf(cli.Err(), "Authenticating with existing credentials... [Username: %s]\n", ac.Username)
	fmt.Fprintf(cli.Err(), "\n Info -> To login with a different account, run '%s logout' followed by '%s login'\n\n\n", prog, prog)
	api, err := cli.Client()
	if err != nil {
		return "", err
	}
	res, err := api.RegistryLogin(ctx, client.RegistryLoginOptions{Username: ac.Username, Password: ac.Password, ServerAddress: server})
	if err != nil {
		if cerrdefs.IsUnauthorized(err) {
			fmt.Fprintln(cli.Err(), "Stored credentials invalid or expired")
		} else {
			fmt.Fprintf(cli.Err(), "Login did not succeed, error: %s\n", err)
		}
	}
	if res.Auth.IdentityToken != "" {
		ac.Password, ac.IdentityToken = "", res.Auth.IdentityToken
	}
	ac.ServerAddress = server
	if serr := st.Store(ac); serr != nil {
		return "", fmt.Errorf("Error saving credentials: %w", serr)
	}
	return res.Auth.Status, err
}

// loginUser asks for what the flags did not give, logs in and stores the
// credentials.
func loginUser(ctx context.Context, cli *command.Cli, st credStore, o *loginOptions, defaultUser, server string) (string, error) {
	if (o.user == "" || o.password == "") && !cli.In().IsTerminal() {
		return "", errors.New("Error: Cannot perform an interactive login from a non TTY device")
	}
	in := bufio.NewReader(cli.In())
	user := strings.TrimSpace(o.user)
	if user == "" {
		if server == IndexServer {
			fmt.Fprintln(cli.Out(), "Log in with your Docker ID or email address to push and pull images from Docker Hub. If you don't have a Docker ID, head over to https://hub.docker.com/ to create one.")
		}
		prompt := "Username: "
		if defaultUser = strings.TrimSpace(defaultUser); defaultUser != "" {
			prompt = fmt.Sprintf("Username (%s): ", defaultUser)
		}
		fmt.Fprint(cli.Out(), prompt)
		line, _ := in.ReadString('\n')
		if user = strings.TrimSpace(line); user == "" {
			user = defaultUser
		}
		if user == "" {
			return "", errors.New("error: username is required")
		}
	}
	password := o.password
	if strings.TrimSpace(password) == "" {
		if st, err := term.SaveState(cli.In().FD()); err == nil {
			_ = term.DisableEcho(cli.In().FD(), st)
			defer func() { _ = term.RestoreTerminal(cli.In().FD(), st) }()
		}
		fmt.Fprint(cli.Out(), "Password: ")
		line, _ := in.ReadString('\n')
		fmt.Fprintln(cli.Out())
		if password = strings.TrimSpace(line); password == "" {
			return "", errors.New("error: password is required")
		}
	}
	api, err := cli.Client()
	if err != nil {
		return "", err
	}
	res, err := api.RegistryLogin(ctx, client.RegistryLoginOptions{Username: user, Password: password, ServerAddress: server})
	if err != nil {
		return "", err
	}
	ac := registry.AuthConfig{Username: user, Password: password, ServerAddress: server}
	if res.Auth.IdentityToken != "" {
		ac.Password, ac.IdentityToken = "", res.Auth.IdentityToken
	}
	if err := st.Store(ac); err != nil {
		return "", fmt.Errorf("Error saving credentials: %w", err)
	}
	return res.Auth.Status, nil
}

// NewLogoutCommand returns `logout`.
func NewLogoutCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Long:  "Log out from a registry.\nIf no server is specified, the default is defined by the daemon.",
		Args:  command.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) > 0 {
				server = args[0]
			}
			return runLogout(cli, server)
		},
		Annotations:           map[string]string{command.AnnotationTop: "9"},
		DisableFlagsInUseLine: true,
	}
}

// runLogout forgets the credentials of server, under every key the
// Docker CLI may have filed them (HOST, http://HOST, https://HOST, or the
// argument as given).
func runLogout(cli *command.Cli, server string) error {
	keys := []string{IndexServer}
	host := IndexServer
	if server != "" {
		host = convertToHostname(server)
		keys = []string{server, host, "http://" + host, "https://" + host}
	}
	fmt.Fprintln(cli.Out(), "Removing login credentials for", host)
	var failed []string
	for _, k := range keys {
		st, err := credStoreFor(cli, k)
		if err == nil {
			err = st.Erase(k)
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %s", k, err))
		}
	}
	if len(failed) == len(keys) {
		fmt.Fprintln(cli.Err(), "WARNING: could not erase credentials:")
		for _, f := range failed {
			fmt.Fprintln(cli.Err(), f)
		}
	}
	return nil
}
