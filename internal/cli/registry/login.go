package registry

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"berth/internal/cli/command"

	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
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
			return runLogin(cmd.Context(), cli, &o)
		},
		Annotations: map[string]string{command.AnnotationTop: "8"},
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.user, "username", "u", "", "Username")
	flags.StringVarP(&o.password, "password", "p", "", "Password or Personal Access Token (PAT)")
	flags.BoolVar(&o.passwordStdin, "password-stdin", false, "Take the Password or Personal Access Token (PAT) from stdin")
	return cmd
}

func runLogin(ctx context.Context, cli *command.Cli, o *loginOptions) error {
	if o.password != "" {
		fmt.Fprintln(cli.Err(), "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
		if o.passwordStdin {
			return errors.New("--password and --password-stdin are mutually exclusive")
		}
	}
	if o.passwordStdin {
		if o.user == "" {
			return errors.New("Must provide --username with --password-stdin")
		}
		b, err := io.ReadAll(cli.In())
		if err != nil {
			return err
		}
		o.password = strings.TrimRight(string(b), "\r\n")
	}
	server := normalizeServer(o.server)
	in := bufio.NewReader(cli.In())
	if o.user == "" {
		fmt.Fprint(cli.Out(), "Username: ")
		line, _ := in.ReadString('\n')
		o.user = strings.TrimSpace(line)
		if o.user == "" {
			return errors.New("Error: Non-null Username Required")
		}
	}
	if o.password == "" {
		fmt.Fprint(cli.Out(), "Password: ")
		if cli.In().IsTerminal() {
			if st, err := term.SaveState(cli.In().FD()); err == nil {
				_ = term.DisableEcho(cli.In().FD(), st)
				defer func() { _ = term.RestoreTerminal(cli.In().FD(), st) }()
			}
		}
		line, _ := in.ReadString('\n')
		fmt.Fprintln(cli.Out())
		o.password = strings.TrimRight(line, "\r\n")
		if o.password == "" {
			return errors.New("Error: Password Required")
		}
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	res, err := api.RegistryLogin(ctx, client.RegistryLoginOptions{Username: o.user, Password: o.password, ServerAddress: server})
	if err != nil {
		return err
	}
	cf := cli.ConfigFile()
	ac := AuthConfigFor(o.user, o.password)
	if res.Auth.IdentityToken != "" {
		ac.Auth = ""
		ac.IdentityToken = res.Auth.IdentityToken
	}
	cf.Auths[server] = ac
	if err := cf.Save(); err != nil {
		return fmt.Errorf("Error saving credentials: %w", err)
	}
	fmt.Fprintf(cli.Err(), "WARNING! Your credentials are stored unencrypted in '%s'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n", cf.Path())
	if res.Auth.Status != "" && res.Auth.Status != "Login Succeeded" {
		fmt.Fprintln(cli.Out(), res.Auth.Status)
	}
	fmt.Fprintln(cli.Out(), "Login Succeeded")
	return nil
}

// AuthConfigFor encodes user:password as config.json stores it.
func AuthConfigFor(user, password string) command.AuthConfig {
	return command.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
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
			server = normalizeServer(server)
			cf := cli.ConfigFile()
			if _, ok := cf.Auths[server]; !ok {
				fmt.Fprintf(cli.Out(), "Not logged in to %s\n", server)
				return nil
			}
			fmt.Fprintf(cli.Out(), "Removing login credentials for %s\n", server)
			delete(cf.Auths, server)
			if err := cf.Save(); err != nil {
				return fmt.Errorf("could not erase credentials: %w", err)
			}
			return nil
		},
		Annotations:           map[string]string{command.AnnotationTop: "9"},
		DisableFlagsInUseLine: true,
	}
}
