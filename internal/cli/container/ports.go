package container

import (
	"os"

	"berth/internal/cli/opts"

	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
)

func withProto(p string) string {
	if strings.Contains(p, "/") {
		return p
	}
	return p + "/tcp"
}

// parsePorts parses -p [ip:][hostPort:]containerPort[/proto], with ranges
// on either side.
func parsePorts(specs []string) (network.PortSet, network.PortMap, error) {
	if len(specs) == 0 {
		return nil, nil, nil
	}
	exposed := network.PortSet{}
	bindings := network.PortMap{}
	for _, spec := range specs {
		rawIP, hostPort, containerPort := "", "", ""
		body, proto, _ := strings.Cut(spec, "/")
		if proto == "" {
			proto = "tcp"
		}
		// An IPv6 address is written in brackets.
		if strings.HasPrefix(body, "[") {
			end := strings.Index(body, "]")
			if end < 0 {
				return nil, nil, fmt.Errorf("invalid IP address: %s", body)
			}
			rawIP = body[1:end]
			rest := strings.TrimPrefix(body[end+1:], ":")
			hostPort, containerPort, _ = strings.Cut(rest, ":")
			if containerPort == "" {
				containerPort, hostPort = hostPort, ""
			}
		} else {
			parts := strings.Split(body, ":")
			switch len(parts) {
			case 1:
				containerPort = parts[0]
			case 2:
				hostPort, containerPort = parts[0], parts[1]
			case 3:
				rawIP, hostPort, containerPort = parts[0], parts[1], parts[2]
			default:
				// Unbracketed IPv6: the last two fields are ports.
				n := len(parts)
				rawIP = strings.Join(parts[:n-2], ":")
				hostPort, containerPort = parts[n-2], parts[n-1]
			}
		}
		if containerPort == "" {
			return nil, nil, fmt.Errorf("no port specified: %s<empty>", spec)
		}
		var ip netip.Addr
		if rawIP != "" {
			a, err := netip.ParseAddr(rawIP)
			if err != nil {
				return nil, nil, fmt.Errorf("invalid IP address: %s", rawIP)
			}
			ip = a
		}
		cr, err := network.ParsePortRange(containerPort + "/" + proto)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid containerPort: %s", containerPort)
		}
		var hStart, hEnd uint64
		if hostPort != "" {
			lo, hi, isRange := strings.Cut(hostPort, "-")
			hStart, err = strconv.ParseUint(lo, 10, 16)
			if err != nil {
				return nil, nil, fmt.Errorf("invalid hostPort: %s", hostPort)
			}
			hEnd = hStart
			if isRange {
				hEnd, err = strconv.ParseUint(hi, 10, 16)
				if err != nil || hEnd < hStart {
					return nil, nil, fmt.Errorf("invalid hostPort: %s", hostPort)
				}
			}
		}
		cCount := uint64(cr.End()-cr.Start()) + 1
		if hostPort != "" && hEnd != hStart && hEnd-hStart+1 != cCount {
			return nil, nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", containerPort, hostPort)
		}
		i := uint64(0)
		for p := range cr.All() {
			exposed[p] = struct{}{}
			hp := ""
			switch {
			case hostPort == "":
			case hEnd != hStart:
				hp = strconv.FormatUint(hStart+i, 10)
			case cCount > 1:
				hp = strconv.FormatUint(hStart+i, 10)
			default:
				hp = hostPort
			}
			bindings[p] = append(bindings[p], network.PortBinding{HostIP: ip, HostPort: hp})
			i++
		}
	}
	return exposed, bindings, nil
}

// parseMount parses --mount's CSV (type=…,source=…,target=…,readonly,…).
func parseMount(spec string) (mount.Mount, error) {
	m := mount.Mount{Type: mount.TypeVolume}
	var (
		bindOpts   *mount.BindOptions
		volumeOpts *mount.VolumeOptions
		tmpfsOpts  *mount.TmpfsOptions
	)
	bind := func() *mount.BindOptions {
		if bindOpts == nil {
			bindOpts = &mount.BindOptions{}
		}
		return bindOpts
	}
	vol := func() *mount.VolumeOptions {
		if volumeOpts == nil {
			volumeOpts = &mount.VolumeOptions{}
		}
		return volumeOpts
	}
	tmp := func() *mount.TmpfsOptions {
		if tmpfsOpts == nil {
			tmpfsOpts = &mount.TmpfsOptions{}
		}
		return tmpfsOpts
	}
	for _, field := range strings.Split(spec, ",") {
		key, val, hasVal := strings.Cut(field, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if !hasVal {
			switch key {
			case "readonly", "ro":
				m.ReadOnly = true
				continue
			case "volume-nocopy":
				vol().NoCopy = true
				continue
			case "bind-nonrecursive":
				bind().NonRecursive = true
				continue
			default:
				return m, fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
		}
		boolVal := func() (bool, error) {
			switch strings.ToLower(val) {
			case "1", "true":
				return true, nil
			case "0", "false":
				return false, nil
			}
			return false, fmt.Errorf("invalid value for %s: %s", key, val)
		}
		switch key {
		case "type":
			m.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			m.Source = val
		case "target", "dst", "destination":
			m.Target = val
		case "readonly", "ro":
			b, err := boolVal()
			if err != nil {
				return m, err
			}
			m.ReadOnly = b
		case "consistency":
			m.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bind().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-nonrecursive":
			b, err := boolVal()
			if err != nil {
				return m, err
			}
			bind().NonRecursive = b
		case "bind-recursive":
			switch strings.ToLower(val) {
			case "enabled":
			case "disabled":
				bind().NonRecursive = true
			case "writable":
				bind().ReadOnlyNonRecursive = true
			case "readonly":
				bind().ReadOnlyForceRecursive = true
			default:
				return m, fmt.Errorf("invalid value for %s: %s (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")", key, val)
			}
		case "bind-create-mountpoint":
			b, err := boolVal()
			if err != nil {
				return m, err
			}
			bind().CreateMountpoint = b
		case "volume-nocopy":
			b, err := boolVal()
			if err != nil {
				return m, err
			}
			vol().NoCopy = b
		case "volume-subpath":
			vol().Subpath = val
		case "volume-label":
			k, v, _ := strings.Cut(val, "=")
			if vol().Labels == nil {
				volumeOpts.Labels = map[string]string{}
			}
			volumeOpts.Labels[k] = v
		case "volume-driver":
			if vol().DriverConfig == nil {
				volumeOpts.DriverConfig = &mount.Driver{}
			}
			volumeOpts.DriverConfig.Name = val
		case "volume-opt":
			if vol().DriverConfig == nil {
				volumeOpts.DriverConfig = &mount.Driver{}
			}
			if volumeOpts.DriverConfig.Options == nil {
				volumeOpts.DriverConfig.Options = map[string]string{}
			}
			k, v, _ := strings.Cut(val, "=")
			volumeOpts.DriverConfig.Options[k] = v
		case "tmpfs-size":
			var mb memBytesValue
			if err := mb.Set(val); err != nil {
				return m, fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmp().SizeBytes = int64(mb)
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return m, fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmp().Mode = fileMode(n)
		default:
			return m, fmt.Errorf("unexpected key '%s' in '%s'", key, field)
		}
	}
	if m.Target == "" {
		return m, fmt.Errorf("target is required")
	}
	if bindOpts != nil && m.Type != mount.TypeBind {
		return m, fmt.Errorf("cannot mix 'bind-*' options with mount type '%s'", m.Type)
	}
	if volumeOpts != nil && m.Type != mount.TypeVolume {
		return m, fmt.Errorf("cannot mix 'volume-*' options with mount type '%s'", m.Type)
	}
	if tmpfsOpts != nil && m.Type != mount.TypeTmpfs {
		return m, fmt.Errorf("cannot mix 'tmpfs-*' options with mount type '%s'", m.Type)
	}
	m.BindOptions, m.VolumeOptions, m.TmpfsOptions = bindOpts, volumeOpts, tmpfsOpts
	return m, nil
}

type memBytesValue = opts.MemBytes

func fileMode(n uint64) os.FileMode { return os.FileMode(n) }
