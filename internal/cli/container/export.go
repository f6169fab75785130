package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"berth/internal/cli/command"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type exportOptions struct {
	container string
	output    string
}

// NewExportCommand returns `export`.
func NewExportCommand(cli *command.Cli) *cobra.Command {
	var o exportOptions
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.container = args[0]
			return runExport(cmd.Context(), cli, &o)
		},
		Annotations: map[string]string{command.AnnotationAliases: "berth container export, berth export"},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

func runExport(ctx context.Context, cli *command.Cli, o *exportOptions) error {
	if o.output == "" && cli.Out().IsTerminal() {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	if err := validateExportPath(o.output); err != nil {
		return fmt.Errorf("failed to export container: %w", err)
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	body, err := api.ContainerExport(ctx, o.container, client.ContainerExportOptions{})
	if err != nil {
		return err
	}
	defer body.Close()
	if o.output == "" {
		_, err := io.Copy(cli.Out(), body)
		return err
	}
	return writeFileAtomic(o.output, body)
}

// validateExportPath refuses what docker 28's export refuses: a missing
// parent directory, a directory, a device.
func validateExportPath(p string) error {
	if p == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Dir(filepath.Clean(p))); err != nil {
		return fmt.Errorf("invalid output path: %w", err)
	}
	fi, err := os.Stat(p)
	switch {
	case os.IsNotExist(err):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return errors.New("cannot write to a directory")
	case fi.Mode()&os.ModeCharDevice != 0:
		return errors.New("cannot write to a character device file")
	case fi.Mode()&os.ModeDevice != 0:
		return errors.New("cannot write to a block device file")
	}
	return nil
}

// writeFileAtomic writes r to a temporary file beside path and renames it
// into place, so a failed export leaves no partial archive.
func writeFileAtomic(path string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".berth_temp_")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
