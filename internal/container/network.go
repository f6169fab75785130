package container

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"berth/internal/errdefs"
	bnet "berth/internal/network"
)

// Networks is what containers need from the network service.
type Networks interface {
	Resolve(primary string, eps map[string]*network.EndpointSettings) (map[string]*network.EndpointSettings, error)
	Attach(ctx context.Context, req bnet.AttachRequest) (*bnet.AttachResult, error)
	Detach(ctx context.Context, containerID string) error
	Connect(ctx context.Context, containerID, name, hostname, ref string, es *network.EndpointSettings) (*network.EndpointSettings, error)
	Disconnect(ctx context.Context, containerID, ref string) error
	FindNetwork(ref string) (id, name, driver string, err error)
	HostGatewayIP() netip.Addr
	Sandbox(containerID string) (*bnet.AttachResult, bool)
}

// ownNetwork reports whether the container's network mode gives it
// endpoints of its own (bridge, a user-defined or macvlan network).
func ownNetwork(mode container.NetworkMode) bool {
	return !mode.IsHost() && !mode.IsNone() && !mode.IsContainer()
}

// resolveNetworks checks the networks a container is created on and
// returns its NetworkSettings.Networks.
func (s *Service) resolveNetworks(hc *container.HostConfig, nc *network.NetworkingConfig) (map[string]*network.EndpointSettings, error) {
	mode := hc.NetworkMode
	var eps map[string]*network.EndpointSettings
	if nc != nil && len(nc.EndpointsConfig) > 0 {
		// "default" is the client's name for the daemon's default network.
		eps = map[string]*network.EndpointSettings{}
		for k, v := range nc.EndpointsConfig {
			if k == "default" {
				k = "bridge"
			}
			eps[k] = v
		}
	}
	if s.cfg.Networks == nil {
		return initialNetworks(mode, nc), nil
	}
	switch {
	case mode.IsContainer():
		if len(eps) > 0 {
			return nil, errdefs.Invalid(errors.New("conflicting options: container type network can't be used with multiple networks"))
		}
		if len(hc.PortBindings) > 0 || hc.PublishAllPorts {
			return nil, errdefs.Invalid(errors.New("conflicting options: port publishing and the container type network mode"))
		}
		if _, err := s.store.get(mode.ConnectedContainer()); err != nil {
			return nil, err
		}
		return map[string]*network.EndpointSettings{}, nil
	case mode.IsHost(), mode.IsNone():
		for k := range eps {
			if k != string(mode) {
				return nil, errdefs.Invalid(fmt.Errorf("conflicting options: cannot attach both user-defined and non-user-defined network-modes"))
			}
		}
	}
	return s.cfg.Networks.Resolve(string(mode), eps)
}

// attachNetwork gives a starting container its network namespace: its
// own (with endpoints), another container's, the host's, or none. It
// returns the namespace path the runtime joins ("" for a new empty one or
// the host's).
func (s *Service) attachNetwork(ctx context.Context, c *Container) (string, error) {
	c.mu.Lock()
	mode := c.HostConfig.NetworkMode
	c.mu.Unlock()
	switch {
	case mode.IsContainer():
		other, err := s.store.get(mode.ConnectedContainer())
		if err != nil {
			return "", err
		}
		other.mu.Lock()
		pid, running := other.State.Pid, other.State.Running()
		other.mu.Unlock()
		if !running {
			return "", errdefs.Conflict(fmt.Errorf("cannot join network namespace of a non running container: %s", other.ID))
		}
		return "/proc/" + strconv.Itoa(pid) + "/ns/net", nil
	case !ownNetwork(mode) || s.cfg.Networks == nil:
		return "", nil
	}
	c.mu.Lock()
	req := bnet.AttachRequest{
		ContainerID: c.ID, Name: c.displayName(), Hostname: c.Config.Hostname,
		Primary: string(mode), Endpoints: c.Networks, Ports: c.HostConfig.PortBindings,
		PublishAll: c.HostConfig.PublishAllPorts,
	}
	for p := range c.Config.ExposedPorts {
		req.Exposed = append(req.Exposed, p)
	}
	for _, a := range c.HostConfig.DNS {
		req.DNS = append(req.DNS, a.String())
	}
	c.mu.Unlock()
	res, err := s.cfg.Networks.Attach(ctx, req)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.Networks = res.Endpoints
	c.Ports = res.Ports
	c.SandboxKey = res.NetNSPath
	c.mu.Unlock()
	return res.NetNSPath, nil
}

// detachNetwork ends a stopped container's networking; inspect keeps each
// network's configuration but no longer shows addresses.
func (s *Service) detachNetwork(ctx context.Context, c *Container) {
	if s.cfg.Networks == nil {
		return
	}
	logErr(s.log, "detach networks", s.cfg.Networks.Detach(ctx, c.ID), "container_id", c.ID)
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, es := range c.Networks {
		c.Networks[name] = stoppedEndpoint(es)
	}
	c.Ports = nil
	c.SandboxKey = ""
}

// stoppedEndpoint is es without what only a running endpoint has.
func stoppedEndpoint(es *network.EndpointSettings) *network.EndpointSettings {
	if es == nil {
		return &network.EndpointSettings{}
	}
	return &network.EndpointSettings{
		IPAMConfig: es.IPAMConfig, Links: es.Links, Aliases: es.Aliases, DriverOpts: es.DriverOpts,
		GwPriority: es.GwPriority, NetworkID: es.NetworkID,
	}
}

// ConnectNetwork joins a container to a network: at once when it runs,
// at its next start otherwise.
func (s *Service) ConnectNetwork(ctx context.Context, ref, netRef string, es *network.EndpointSettings) error {
	if s.cfg.Networks == nil {
		return errdefs.NotImplemented(errors.New("networks are not available"))
	}
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	id, name, driver, err := s.cfg.Networks.FindNetwork(netRef)
	if err != nil {
		return err
	}
	c.mu.Lock()
	mode := c.HostConfig.NetworkMode
	running := c.State.Running()
	_, already := c.Networks[name]
	c.mu.Unlock()
	if !ownNetwork(mode) || driver == bnet.DriverHost || driver == bnet.DriverNull {
		return errdefs.Forbidden(errors.New("container cannot be disconnected from host network or connected to host network"))
	}
	if already {
		return errdefs.Forbidden(fmt.Errorf("endpoint with name %s already exists in network %s", c.displayName(), name))
	}
	if es == nil {
		es = &network.EndpointSettings{}
	}
	checked, err := s.cfg.Networks.Resolve(name, map[string]*network.EndpointSettings{name: es})
	if err != nil {
		return err
	}
	es = checked[name]
	if running {
		c.mu.Lock()
		cname, host := c.displayName(), c.Config.Hostname
		c.mu.Unlock()
		live, err := s.cfg.Networks.Connect(ctx, c.ID, cname, host, id, es)
		if err != nil {
			return err
		}
		es = live
	}
	c.mu.Lock()
	if c.Networks == nil {
		c.Networks = map[string]*network.EndpointSettings{}
	}
	c.Networks[name] = es
	err = s.store.saveLocked(c)
	c.mu.Unlock()
	if running {
		s.rewriteNetworkFiles(c)
	}
	return err
}

// DisconnectNetwork removes a container from a network.
func (s *Service) DisconnectNetwork(ctx context.Context, ref, netRef string, force bool) error {
	if s.cfg.Networks == nil {
		return errdefs.NotImplemented(errors.New("networks are not available"))
	}
	c, err := s.store.get(ref)
	if err != nil {
		if force && errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	_, name, driver, err := s.cfg.Networks.FindNetwork(netRef)
	if err != nil {
		return err
	}
	if driver == bnet.DriverHost {
		return errdefs.Forbidden(errors.New("container cannot be disconnected from host network or connected to host network"))
	}
	c.mu.Lock()
	_, connected := c.Networks[name]
	running := c.State.Running()
	c.mu.Unlock()
	if !connected {
		return errdefs.Forbidden(fmt.Errorf("container %s is not connected to network %s", c.ID, name))
	}
	if running {
		if err := s.cfg.Networks.Disconnect(ctx, c.ID, name); err != nil && !force {
			return err
		}
	}
	c.mu.Lock()
	delete(c.Networks, name)
	if string(c.HostConfig.NetworkMode) == name && len(c.Networks) == 0 {
		c.HostConfig.NetworkMode = "none"
	}
	err = s.store.saveLocked(c)
	c.mu.Unlock()
	if running {
		s.rewriteNetworkFiles(c)
	}
	return err
}

// apiPorts is NetworkSettings.Ports: every exposed port, with its
// bindings when the container runs.
func apiPorts(cfg *container.Config, bound network.PortMap) network.PortMap {
	out := network.PortMap{}
	if cfg != nil {
		for p := range cfg.ExposedPorts {
			out[p] = nil
		}
	}
	for p, b := range bound {
		out[p] = b
	}
	return out
}

// portSummaries is the Ports column of `ps`.
func portSummaries(cfg *container.Config, bound network.PortMap) []container.PortSummary {
	out := []container.PortSummary{}
	for p, bs := range apiPorts(cfg, bound) {
		if len(bs) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
			continue
		}
		for _, b := range bs {
			hp, _ := strconv.Atoi(b.HostPort)
			out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(hp), Type: string(p.Proto())})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PrivatePort != out[j].PrivatePort {
			return out[i].PrivatePort < out[j].PrivatePort
		}
		return out[i].Type < out[j].Type
	})
	return out
}

// hostGateway maps --add-host NAME:host-gateway to an address.
func (s *Service) hostGateway() string {
	if s.cfg.Networks != nil {
		if a := s.cfg.Networks.HostGatewayIP(); a.IsValid() {
			return a.String()
		}
	}
	return ""
}

// linkEntries are the /etc/hosts lines and environment variables of
// legacy --link NAME[:ALIAS] on the default bridge.
func (s *Service) linkEntries(c *Container) (hosts []string, env []string) {
	for _, l := range c.HostConfig.Links {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		name = strings.TrimPrefix(name, "/")
		alias = strings.TrimPrefix(alias[strings.LastIndex(alias, "/")+1:], "/")
		other, err := s.store.get(name)
		if err != nil {
			continue
		}
		other.mu.Lock()
		addrs := other.addressesLocked()
		oname := other.displayName()
		var exposed []network.Port
		for p := range other.Config.ExposedPorts {
			exposed = append(exposed, p)
		}
		otherEnv := append([]string(nil), other.Config.Env...)
		other.mu.Unlock()
		if len(addrs) == 0 {
			continue
		}
		ip := addrs[0].String()
		names := alias
		if oname != alias {
			names += " " + oname
		}
		hosts = append(hosts, ip+"\t"+names)
		env = append(env, linkEnv(strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(alias)), c.displayName(), alias, ip, exposed, otherEnv)...)
	}
	return hosts, env
}

// linkEnv is the ALIAS_PORT_… family Compose file version 1 relies on.
func linkEnv(prefix, self, alias, ip string, exposed []network.Port, otherEnv []string) []string {
	sort.Slice(exposed, func(i, j int) bool {
		if exposed[i].Num() != exposed[j].Num() {
			return exposed[i].Num() < exposed[j].Num()
		}
		return exposed[i].Proto() < exposed[j].Proto()
	})
	env := []string{prefix + "_NAME=/" + self + "/" + alias}
	for i, p := range exposed {
		proto := string(p.Proto())
		num := strconv.Itoa(int(p.Num()))
		key := prefix + "_PORT_" + num + "_" + strings.ToUpper(proto)
		url := proto + "://" + ip + ":" + num
		if i == 0 {
			env = append(env, prefix+"_PORT="+url)
		}
		env = append(env, key+"="+url, key+"_ADDR="+ip, key+"_PORT="+num, key+"_PROTO="+proto)
	}
	for _, kv := range otherEnv {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "PATH" || k == "HOSTNAME" {
			continue
		}
		env = append(env, prefix+"_ENV_"+kv)
	}
	return env
}

// addressesLocked lists the container's addresses, its first network's
// first. Preconditions: c.mu held.
func (c *Container) addressesLocked() []netip.Addr {
	var out []netip.Addr
	names := make([]string, 0, len(c.Networks))
	for n := range c.Networks {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		// The network of the network mode comes first.
		if (names[i] == string(c.HostConfig.NetworkMode)) != (names[j] == string(c.HostConfig.NetworkMode)) {
			return names[i] == string(c.HostConfig.NetworkMode)
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		es := c.Networks[n]
		if es == nil {
			continue
		}
		if es.IPAddress.IsValid() {
			out = append(out, es.IPAddress)
		}
		if es.GlobalIPv6Address.IsValid() {
			out = append(out, es.GlobalIPv6Address)
		}
	}
	return out
}

// embeddedDNSLocked reports whether the container is on a user-defined
// network, where 127.0.0.11 answers its queries. Preconditions: c.mu held.
func (c *Container) embeddedDNSLocked() bool {
	if !ownNetwork(c.HostConfig.NetworkMode) {
		return false
	}
	for n := range c.Networks {
		if n != "bridge" {
			return true
		}
	}
	return false
}
