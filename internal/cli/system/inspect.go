package system

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"berth/internal/cli/command"
	"berth/internal/cli/formatter"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type inspectOptions struct {
	format, typ string
	size        bool
}

// NewInspectCommand returns the generic `inspect`, which looks each name
// up as a container, image, network and volume in turn.
func NewInspectCommand(cli *command.Cli) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on Docker objects",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), cli, &o, args)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.format, "format", "f", "", inspectFormatHelp)
	flags.StringVar(&o.typ, "type", "", "Only inspect objects of the given type")
	flags.BoolVarP(&o.size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

type inspectFunc func(ctx context.Context, api client.APIClient, ref string, size bool) (formatter.InspectItem, error)

func inspectContainer(ctx context.Context, api client.APIClient, ref string, size bool) (formatter.InspectItem, error) {
	r, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{Size: size})
	return formatter.InspectItem{Raw: r.Raw, Typed: r.Container}, err
}

func inspectImage(ctx context.Context, api client.APIClient, ref string, _ bool) (formatter.InspectItem, error) {
	var raw bytes.Buffer
	r, err := api.ImageInspect(ctx, ref, client.ImageInspectWithRawResponse(&raw))
	return formatter.InspectItem{Raw: raw.Bytes(), Typed: r.InspectResponse}, err
}

func inspectNetwork(ctx context.Context, api client.APIClient, ref string, _ bool) (formatter.InspectItem, error) {
	r, err := api.NetworkInspect(ctx, ref, client.NetworkInspectOptions{})
	return formatter.InspectItem{Raw: r.Raw, Typed: r.Network}, err
}

func inspectVolume(ctx context.Context, api client.APIClient, ref string, _ bool) (formatter.InspectItem, error) {
	r, err := api.VolumeInspect(ctx, ref, client.VolumeInspectOptions{})
	return formatter.InspectItem{Typed: r.Volume}, err
}

func runInspect(ctx context.Context, cli *command.Cli, o *inspectOptions, refs []string) error {
	kinds := []struct {
		name string
		fn   inspectFunc
	}{
		{"container", inspectContainer},
		{"image", inspectImage},
		{"network", inspectNetwork},
		{"volume", inspectVolume},
	}
	if o.typ != "" {
		found := false
		for _, k := range kinds {
			if k.name == o.typ {
				kinds = kinds[:0]
				kinds = append(kinds, k)
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("%q is not a valid value for --type", o.typ)
		}
	}
	api, err := cli.Client()
	if err != nil {
		return err
	}
	ins, err := formatter.NewInspector(cli.Out(), o.format)
	if err != nil {
		return command.StatusError{Status: err.Error(), StatusCode: 64}
	}
	var msgs []string
	for _, ref := range refs {
		var item formatter.InspectItem
		var lastErr error
		ok := false
		for _, k := range kinds {
			it, err := k.fn(ctx, api, ref, o.size)
			if err == nil {
				item, ok = it, true
				break
			}
			lastErr = err
			if !cerrdefs.IsNotFound(err) {
				break
			}
		}
		if !ok {
			if o.typ == "" && (lastErr == nil || cerrdefs.IsNotFound(lastErr)) {
				msgs = append(msgs, "Error: No such object: "+ref)
			} else {
				msgs = append(msgs, lastErr.Error())
			}
			continue
		}
		if len(item.Raw) == 0 {
			item.Raw = nil
		}
		if err := ins.Inspect(withRaw(item)); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if err := ins.Flush(); err != nil {
		return err
	}
	if len(msgs) > 0 {
		return command.StatusError{Cause: errors.New(msgs[0]), Status: strings.Join(msgs, "\n"), StatusCode: 1}
	}
	return nil
}
