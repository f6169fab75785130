package container

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"

	"berth/internal/errdefs"
)

// checkLogConfig refuses, as dockerd does when a container is created, a
// log driver berth does not have, a logging mode it does not know, and an
// option the json-file driver does not take. The options' values are
// read at start (logRotation), as dockerd reads them.
func checkLogConfig(lc container.LogConfig) error {
	if lc.Type == "none" {
		return nil
	}
	mode := container.LogMode(lc.Config["mode"])
	switch mode {
	case container.LogModeBlocking, container.LogModeNonBlock, container.LogModeUnset:
	default:
		return errdefs.Invalid(fmt.Errorf("logger: logging mode not supported: %s", mode))
	}
	if v, ok := lc.Config["max-buffer-size"]; ok {
		if mode != container.LogModeNonBlock {
			return errdefs.Invalid(fmt.Errorf("logger: max-buffer-size option is only supported with 'mode=%s'", container.LogModeNonBlock))
		}
		if _, err := units.RAMInBytes(v); err != nil {
			return errdefs.Invalid(fmt.Errorf("error parsing option max-buffer-size: %w", err))
		}
	}
	if lc.Type != "json-file" {
		// dockerd looks for a plugin by that name, and finds none here.
		return errdefs.Invalid(fmt.Errorf("error looking up logging plugin %s: plugin %q not found", lc.Type, lc.Type))
	}
	for k := range lc.Config {
		switch k {
		case "mode", "max-buffer-size", "max-file", "max-size", "compress",
			"env", "env-regex", "labels", "labels-regex", "tag":
		default:
			return errdefs.Invalid(fmt.Errorf("unknown log opt '%s' for json-file log driver", k))
		}
	}
	return nil
}

// logRotation reads the json-file driver's max-size (decimal units, as
// dockerd reads it: 10m is 10,000,000 bytes; 0 for no limit) and max-file,
// with dockerd's complaints about bad values.
func logRotation(opts map[string]string) (int64, int, error) {
	var size int64
	if v, ok := opts["max-size"]; ok {
		n, err := units.FromHumanSize(v)
		if err != nil {
			return 0, 0, err
		}
		if n <= 0 {
			return 0, 0, errors.New("max-size must be a positive number")
		}
		size = n
	}
	files := 1
	if v, ok := opts["max-file"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, 0, err
		}
		if n < 1 {
			return 0, 0, errors.New("max-file cannot be less than 1")
		}
		files = n
	}
	return size, files, nil
}
