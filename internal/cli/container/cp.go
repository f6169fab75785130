package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"berth/internal/cli/command"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type copyOptions struct {
	source      string
	destination string
	followLink  bool
	copyUIDGID  bool
	quiet       bool
}

// NewCopyCommand returns `cp`.
func NewCopyCommand(cli *command.Cli) *cobra.Command {
	var o copyOptions
	cmd := &cobra.Command{
		Use: `cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
	berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`,
		Short: "Copy files/folders between a container and the local filesystem",
		Long: `Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.`,
		Args: command.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return errors.New("source can not be empty")
			}
			if args[1] == "" {
				return errors.New("destination can not be empty")
			}
			o.source, o.destination = args[0], args[1]
			if !cmd.Flags().Changed("quiet") {
				// Progress only for a person watching, as docker does.
				o.quiet = !cli.Out().IsTerminal()
			}
			return runCopy(cmd.Context(), cli, &o)
		},
		Annotations:           map[string]string{command.AnnotationAliases: "berth container cp, berth cp"},
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.followLink, "follow-link", "L", false, "Always follow symlinks in SRC_PATH")
	flags.BoolVarP(&o.copyUIDGID, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
	return cmd
}

func runCopy(ctx context.Context, cli *command.Cli, o *copyOptions) error {
	srcContainer, srcPath := splitCpArg(o.source)
	dstContainer, dstPath := splitCpArg(o.destination)
	switch {
	case srcContainer != "" && dstContainer != "":
		return errors.New("copying between containers is not supported")
	case srcContainer != "":
		return copyFromContainer(ctx, cli, o, srcContainer, srcPath, dstPath)
	case dstContainer != "":
		return copyToContainer(ctx, cli, o, dstContainer, srcPath, dstPath)
	}
	return errors.New("must specify at least one container source")
}

// splitCpArg splits CONTAINER:PATH. A local path containing ":" must be
// made explicit with a leading "/" or "." (docker's rule, like scp's).
func splitCpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(ctr, ".") {
		return "", arg
	}
	return ctr, p
}

// countingReader counts the bytes of the archive that went through it,
// for the "Successfully copied" line.
type countingReader struct {
	io.Reader
	n *atomic.Int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	r.n.Add(int64(n))
	return n, err
}

func humanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

func copyFromContainer(ctx context.Context, cli *command.Cli, o *copyOptions, ctr, srcPath, dstPath string) error {
	if dstPath != "-" {
		abs, err := filepath.Abs(dstPath)
		if err != nil {
			return err
		}
		dstPath = preserveTrailingDotOrSeparator(abs, dstPath)
	}
	if err := validateOutputPath(dstPath); err != nil {
		return err
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	// -L: copy what a symlink points to, under the symlink's name.
	var rebaseName string
	if o.followLink {
		res, err := api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: srcPath})
		if err == nil && res.Stat.Mode&os.ModeSymlink != 0 {
			target := res.Stat.LinkTarget
			if !filepath.IsAbs(target) {
				parent, _ := splitPathDirEntry(srcPath)
				target = filepath.Join(parent, target)
			}
			srcPath, rebaseName = rebaseFor(srcPath, target)
		}
	}
	res, err := api.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: srcPath})
	if err != nil {
		return err
	}
	defer res.Content.Close()
	if dstPath == "-" {
		_, err := io.Copy(cli.Out(), res.Content)
		return err
	}
	var copied atomic.Int64
	var content io.Reader = countingReader{res.Content, &copied}
	src := copyInfo{path: srcPath, exists: true, isDir: res.Stat.Mode.IsDir(), rebaseName: rebaseName}
	if rebaseName != "" {
		_, srcBase := splitPathDirEntry(srcPath)
		content = rebaseArchive(content, srcBase, rebaseName)
	}
	err = copyToLocal(content, src, dstPath)
	if !o.quiet {
		// docker prints the line whatever the outcome.
		fmt.Fprintln(cli.Err(), "Successfully copied", humanSize(copied.Load()), "to", dstPath)
	}
	return err
}

func copyToContainer(ctx context.Context, cli *command.Cli, o *copyOptions, ctr, srcPath, dstPath string) error {
	if srcPath != "-" {
		abs, err := filepath.Abs(srcPath)
		if err != nil {
			return err
		}
		srcPath = preserveTrailingDotOrSeparator(abs, srcPath)
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	// What the destination is decides how the archive must be shaped.
	dst := copyInfo{path: dstPath}
	if res, err := api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dstPath}); err == nil {
		if res.Stat.Mode&os.ModeSymlink != 0 {
			target := res.Stat.LinkTarget
			if !filepath.IsAbs(target) {
				parent, _ := splitPathDirEntry(dstPath)
				target = filepath.Join(parent, target)
			}
			dst.path = target
			res, err = api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: target})
		}
		if err == nil {
			if err := validateOutputPathFileMode(res.Stat.Mode); err != nil {
				return fmt.Errorf(`destination "%s:%s" must be a directory or a regular file: %w`, ctr, dstPath, err)
			}
			dst.exists, dst.isDir = true, res.Stat.Mode.IsDir()
		}
	}
	// A missing destination is fine when its parent exists: the daemon
	// says so otherwise.

	var copied atomic.Int64
	var content io.Reader
	var dstDir string
	if srcPath == "-" {
		if !dst.isDir {
			return fmt.Errorf(`destination "%s:%s" must be a directory`, ctr, dstPath)
		}
		content, dstDir = cli.In(), dst.path
	} else {
		src, err := copyInfoSourcePath(srcPath, o.followLink)
		if err != nil {
			return err
		}
		archive := tarResource(src)
		defer archive.Close()
		dir, prepared, err := prepareArchiveCopy(archive, src, dst)
		if err != nil {
			return err
		}
		defer prepared.Close()
		dstDir, content = dir, countingReader{prepared, &copied}
	}
	_, err = api.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{
		DestinationPath: dstDir,
		Content:         content,
		CopyUIDGID:      o.copyUIDGID,
	})
	if !o.quiet {
		fmt.Fprintln(cli.Err(), "Successfully copied", humanSize(copied.Load()), "to", ctr+":"+dst.path)
	}
	return err
}

// validateOutputPath checks a local destination as docker does: its
// directory must exist and it must not be a device or other odd file.
func validateOutputPath(p string) error {
	dir := filepath.Dir(filepath.Clean(p))
	if dir != "" && dir != "." {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return fmt.Errorf("invalid output path: directory %q does not exist", dir)
		}
	}
	fi, err := os.Stat(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().IsDir() || fi.Mode().IsRegular() {
		return nil
	}
	if err := validateOutputPathFileMode(fi.Mode()); err != nil {
		return fmt.Errorf("invalid output path: %q must be a directory or a regular file: %w", p, err)
	}
	return nil
}

func validateOutputPathFileMode(m os.FileMode) error {
	switch {
	case m&os.ModeDevice != 0:
		return errors.New("got a device")
	case m&os.ModeIrregular != 0:
		return errors.New("got an irregular file")
	}
	return nil
}
