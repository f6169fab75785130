package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"

	"berth/internal/errdefs"
)

// Sandbox is the network side of one running container: its namespace,
// its endpoints and its published ports.
type Sandbox struct {
	ContainerID string
	NetNSPath   string
	Endpoints   []*Endpoint
	Ports       []PortMapping
	Upstream    []string // the embedded DNS server's upstream resolvers
}

// Endpoint is a container's attachment to one network.
type Endpoint struct {
	ID            string
	NetworkID     string
	NetworkName   string
	ContainerID   string
	ContainerName string
	IfName        string
	HostIfName    string       `json:",omitempty"`
	IPv4          netip.Prefix `json:",omitzero"`
	IPv6          netip.Prefix `json:",omitzero"`
	Gateway4      netip.Addr   `json:",omitzero"`
	Gateway6      netip.Addr   `json:",omitzero"`
	MAC           string
	Aliases       []string `json:",omitempty"`
	DNSNames      []string `json:",omitempty"`
	Links         []string `json:",omitempty"`
	Config        *network.EndpointSettings
}

// PortMapping is one published port.
type PortMapping struct {
	Proto         string
	HostIP        netip.Addr `json:",omitzero"`
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
	Bridge        string
}

func (sb *Sandbox) portRules() []PortRule {
	out := make([]PortRule, 0, len(sb.Ports))
	for _, p := range sb.Ports {
		out = append(out, PortRule{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, ContainerIP: p.ContainerIP, ContainerPort: p.ContainerPort, Bridge: p.Bridge})
	}
	return out
}

// AttachRequest is what a starting container asks of the network service.
type AttachRequest struct {
	ContainerID string
	Name        string // without the leading slash
	Hostname    string
	Primary     string                               // the network of the NetworkMode (name or ID)
	Endpoints   map[string]*network.EndpointSettings // every network to join, by name or ID
	Ports       network.PortMap                      // HostConfig.PortBindings
	Exposed     []network.Port                       // published to ephemeral ports when PublishAll
	PublishAll  bool
	DNS         []string // --dns: the embedded server's upstream when set
}

// AttachResult is the container's view of its networks once attached.
type AttachResult struct {
	NetNSPath   string
	Endpoints   map[string]*network.EndpointSettings // by network name
	Ports       network.PortMap
	EmbeddedDNS bool // a user-defined network: resolv.conf names 127.0.0.11
}

// Resolve checks a container's networks when it is created and returns
// its endpoint settings by network name, with the network IDs filled in.
func (s *Service) Resolve(primary string, eps map[string]*network.EndpointSettings) (map[string]*network.EndpointSettings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*network.EndpointSettings{}
	names := map[string]bool{primary: true}
	for k := range eps {
		names[k] = true
	}
	for ref := range names {
		n, err := s.findLocked(ref)
		if err != nil {
			return nil, err
		}
		es := eps[ref].Copy()
		if es == nil {
			es = &network.EndpointSettings{}
		}
		if err := s.checkEndpointLocked(n, es); err != nil {
			return nil, err
		}
		es.NetworkID = n.ID
		out[n.Name] = es
	}
	return out, nil
}

// checkEndpointLocked applies Docker's rules for endpoint settings.
func (s *Service) checkEndpointLocked(n *Network, es *network.EndpointSettings) error {
	if n.Driver == DriverHost || n.Driver == DriverNull {
		return nil
	}
	if es.IPAMConfig != nil && (es.IPAMConfig.IPv4Address.IsValid() || es.IPAMConfig.IPv6Address.IsValid()) {
		if n.Predefined {
			return errdefs.Invalid(errors.New("user specified IP address is supported on user defined networks only"))
		}
		if !n.UserSubnets {
			return errdefs.Invalid(errors.New("user specified IP address is supported only when connecting to networks with user configured subnets"))
		}
		for _, a := range []netip.Addr{es.IPAMConfig.IPv4Address, es.IPAMConfig.IPv6Address} {
			if !a.IsValid() {
				continue
			}
			p, ok := n.pool(a.Is6())
			if !ok || !p.containsStatic(a) {
				return errdefs.Invalid(fmt.Errorf("invalid endpoint settings:\nno configured subnet or ip-range contain the IP address %s", a))
			}
		}
	}
	if len(es.Aliases) > 0 && n.Predefined {
		return errdefs.Invalid(errors.New("network-scoped alias is supported only for containers in user defined networks"))
	}
	return nil
}

// Attach gives a starting container its namespace and endpoints.
func (s *Service) Attach(ctx context.Context, req AttachRequest) (res *AttachResult, retErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.sandboxes[req.ContainerID]; ok {
		s.teardownLocked(old)
	}
	primary, err := s.findLocked(req.Primary)
	if err != nil {
		return nil, err
	}
	order := []*Network{primary}
	var others []*Network
	for ref := range req.Endpoints {
		n, err := s.findLocked(ref)
		if err != nil {
			return nil, err
		}
		if n.ID != primary.ID && !slices.Contains(others, n) {
			others = append(others, n)
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].Name < others[j].Name })
	order = append(order, others...)

	sb := &Sandbox{ContainerID: req.ContainerID, NetNSPath: s.netnsPath(req.ContainerID)}
	if err := CreateNetNS(sb.NetNSPath); err != nil {
		return nil, fmt.Errorf("create network namespace: %w", err)
	}
	defer func() {
		if retErr != nil {
			s.teardownLocked(sb)
		}
	}()
	for _, n := range order {
		es := settingsFor(req.Endpoints, n)
		ep, err := s.newEndpointLocked(sb, n, req, es, len(sb.Endpoints))
		if err != nil {
			return nil, err
		}
		sb.Endpoints = append(sb.Endpoints, ep)
		if err := AddLink(ep.link(sb, n, len(sb.Endpoints) == 1)); err != nil {
			return nil, fmt.Errorf("failed to set up container networking: %w", err)
		}
	}
	if err := s.publishPortsLocked(sb, req); err != nil {
		return nil, err
	}
	if len(sb.Ports) > 0 {
		// The rule set is made from the known sandboxes: count this one.
		s.sandboxes[sb.ContainerID] = sb
		err := s.applyFirewallLocked()
		delete(s.sandboxes, sb.ContainerID)
		if err != nil {
			return nil, err
		}
	}
	res = s.resultLocked(sb)
	if res.EmbeddedDNS {
		sb.Upstream = s.upstream(req.DNS)
		d, err := StartDNS(context.WithoutCancel(ctx), sb.NetNSPath, sb.ContainerID, s, sb.Upstream, s.log)
		if err != nil {
			return nil, fmt.Errorf("start the embedded DNS server: %w", err)
		}
		s.dns[sb.ContainerID] = d
	}
	s.sandboxes[sb.ContainerID] = sb
	delete(s.stale, sb.ContainerID)
	if err := s.store.put(bucketSandboxes, sb.ContainerID, sb); err != nil {
		delete(s.sandboxes, sb.ContainerID)
		return nil, err
	}
	for _, ep := range sb.Endpoints {
		s.publish(s.nets[ep.NetworkID], "connect", map[string]string{"container": sb.ContainerID})
	}
	return res, nil
}

func settingsFor(eps map[string]*network.EndpointSettings, n *Network) *network.EndpointSettings {
	for _, k := range []string{n.Name, n.ID} {
		if es, ok := eps[k]; ok && es != nil {
			return es
		}
	}
	for k, es := range eps {
		if es != nil && (es.NetworkID == n.ID || (len(k) >= 3 && strings.HasPrefix(n.ID, k))) {
			return es
		}
	}
	return &network.EndpointSettings{}
}

// newEndpointLocked allocates an endpoint's addresses on n.
func (s *Service) newEndpointLocked(sb *Sandbox, n *Network, req AttachRequest, es *network.EndpointSettings, index int) (*Endpoint, error) {
	if !n.hasDevice() {
		return nil, errdefs.Invalid(fmt.Errorf("container cannot be connected to network %s (driver %s)", n.Name, n.Driver))
	}
	if err := s.checkEndpointLocked(n, es); err != nil {
		return nil, err
	}
	ep := &Endpoint{
		ID: randomHex(32), NetworkID: n.ID, NetworkName: n.Name, ContainerID: req.ContainerID,
		ContainerName: req.Name, IfName: "eth" + strconv.Itoa(index), Aliases: slices.Clone(es.Aliases),
		Links: slices.Clone(es.Links), Config: es.Copy(),
	}
	if n.Driver == DriverBridge {
		ep.HostIfName = "veth" + randomHex(4)[:7]
	}
	inUse := s.inUseLocked(n.ID, sb)
	for _, v6 := range []bool{false, true} {
		p, ok := n.pool(v6)
		if !ok || (v6 && !n.EnableIPv6) || (!v6 && !n.EnableIPv4) {
			continue
		}
		var want netip.Addr
		if es.IPAMConfig != nil {
			want = es.IPAMConfig.IPv4Address
			if v6 {
				want = es.IPAMConfig.IPv6Address
			}
		}
		var a netip.Addr
		var err error
		if want.IsValid() {
			err = p.checkStatic(want, inUse)
			a = want
		} else {
			a, err = p.allocate(inUse)
		}
		if err != nil {
			return nil, err
		}
		pfx := netip.PrefixFrom(a, p.Subnet.Bits())
		if v6 {
			ep.IPv6, ep.Gateway6 = pfx, p.Gateway
		} else {
			ep.IPv4, ep.Gateway4 = pfx, p.Gateway
		}
	}
	if es.MacAddress != nil && len(es.MacAddress) > 0 {
		ep.MAC = net.HardwareAddr(es.MacAddress).String()
	} else if ep.IPv4.IsValid() {
		ep.MAC = MACFor(ep.IPv4.Addr()).String()
	} else {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		b[0] = (b[0] | 2) &^ 1
		ep.MAC = net.HardwareAddr(b).String()
	}
	if n.userDefined() {
		names := []string{req.Name}
		names = append(names, es.Aliases...)
		if len(req.ContainerID) >= 12 {
			names = append(names, req.ContainerID[:12])
		}
		if req.Hostname != "" && !slices.Contains(names, req.Hostname) {
			names = append(names, req.Hostname)
		}
		ep.DNSNames = dedupe(names)
	}
	return ep, nil
}

// inUseLocked reports the addresses taken on network netID, counting the
// sandbox being built.
func (s *Service) inUseLocked(netID string, building *Sandbox) func(netip.Addr) bool {
	used := map[netip.Addr]bool{}
	add := func(sb *Sandbox) {
		for _, ep := range sb.Endpoints {
			if ep.NetworkID != netID {
				continue
			}
			if ep.IPv4.IsValid() {
				used[ep.IPv4.Addr()] = true
			}
			if ep.IPv6.IsValid() {
				used[ep.IPv6.Addr()] = true
			}
		}
	}
	for _, sb := range s.sandboxes {
		add(sb)
	}
	if building != nil {
		add(building)
	}
	return func(a netip.Addr) bool { return used[a] }
}

// link is the device an endpoint gets in the namespace.
func (ep *Endpoint) link(sb *Sandbox, n *Network, gateway bool) Link {
	l := Link{NetNSPath: sb.NetNSPath, IfName: ep.IfName, MTU: n.MTU}
	switch n.Driver {
	case DriverBridge:
		l.Bridge, l.HostName, l.Hairpin = n.Bridge, ep.HostIfName, true
	case DriverMacvlan:
		l.Parent = n.Parent
	}
	if mac, err := net.ParseMAC(ep.MAC); err == nil {
		l.MAC = mac
	}
	for _, p := range []netip.Prefix{ep.IPv4, ep.IPv6} {
		if p.IsValid() {
			l.Addrs = append(l.Addrs, p)
		}
	}
	if gateway && !n.Internal {
		l.Gateway4, l.Gateway6 = ep.Gateway4, ep.Gateway6
	}
	return l
}

// publishPortsLocked reserves the container's host ports.
func (s *Service) publishPortsLocked(sb *Sandbox, req AttachRequest) error {
	var ep *Endpoint
	var br *Network
	for _, e := range sb.Endpoints {
		if n := s.nets[e.NetworkID]; n != nil && n.Driver == DriverBridge && e.IPv4.IsValid() {
			ep, br = e, n
			break
		}
	}
	bindings := network.PortMap{}
	for p, bs := range req.Ports {
		bindings[p] = bs
	}
	if req.PublishAll {
		for _, p := range req.Exposed {
			if _, ok := bindings[p]; !ok {
				bindings[p] = []network.PortBinding{{}}
			}
		}
	}
	if len(bindings) == 0 || ep == nil {
		return nil
	}
	keys := make([]network.Port, 0, len(bindings))
	for p := range bindings {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, p := range keys {
		bs := bindings[p]
		if len(bs) == 0 {
			bs = []network.PortBinding{{}}
		}
		for _, b := range bs {
			var want uint16
			if b.HostPort != "" {
				v, err := strconv.ParseUint(strings.SplitN(b.HostPort, "-", 2)[0], 10, 16)
				if err != nil {
					return errdefs.Invalid(fmt.Errorf("invalid host port %q", b.HostPort))
				}
				want = uint16(v)
			}
			hostIP := b.HostIP
			if hostIP.IsValid() && hostIP.Is6() && hostIP.IsUnspecified() {
				continue // no IPv6 on this endpoint: nothing to map [::] to
			}
			got, err := s.ports.Reserve(string(p.Proto()), hostIP, want)
			if err != nil {
				return errdefs.Unavailable(fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w", req.Name, ep.ID, err))
			}
			sb.Ports = append(sb.Ports, PortMapping{Proto: string(p.Proto()), HostIP: hostIP, HostPort: got,
				ContainerIP: ep.IPv4.Addr(), ContainerPort: p.Num(), Bridge: br.Bridge})
		}
	}
	return nil
}

// Sandbox is the container's view of its sandbox, as Attach returned it;
// false when the container has none.
func (s *Service) Sandbox(containerID string) (*AttachResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := s.sandboxes[containerID]
	if sb == nil {
		return nil, false
	}
	return s.resultLocked(sb), true
}

// resultLocked is the container's view of sb.
func (s *Service) resultLocked(sb *Sandbox) *AttachResult {
	res := &AttachResult{NetNSPath: sb.NetNSPath, Endpoints: map[string]*network.EndpointSettings{}, Ports: network.PortMap{}}
	for _, ep := range sb.Endpoints {
		n := s.nets[ep.NetworkID]
		if n != nil && n.userDefined() {
			res.EmbeddedDNS = true
		}
		res.Endpoints[ep.NetworkName] = ep.settings()
	}
	for _, pm := range sb.Ports {
		port, err := network.ParsePort(strconv.Itoa(int(pm.ContainerPort)) + "/" + pm.Proto)
		if err != nil {
			continue
		}
		hostIP := pm.HostIP
		if !hostIP.IsValid() {
			hostIP = netip.IPv4Unspecified()
		}
		res.Ports[port] = append(res.Ports[port], network.PortBinding{HostIP: hostIP, HostPort: strconv.Itoa(int(pm.HostPort))})
	}
	return res
}

// settings is the endpoint as inspect shows it.
func (ep *Endpoint) settings() *network.EndpointSettings {
	es := ep.Config.Copy()
	if es == nil {
		es = &network.EndpointSettings{}
	}
	es.NetworkID, es.EndpointID = ep.NetworkID, ep.ID
	es.Aliases, es.Links = slices.Clone(ep.Aliases), slices.Clone(ep.Links)
	es.DNSNames = slices.Clone(ep.DNSNames)
	if ep.IPv4.IsValid() {
		es.IPAddress, es.IPPrefixLen, es.Gateway = ep.IPv4.Addr(), ep.IPv4.Bits(), ep.Gateway4
	}
	if ep.IPv6.IsValid() {
		es.GlobalIPv6Address, es.GlobalIPv6PrefixLen, es.IPv6Gateway = ep.IPv6.Addr(), ep.IPv6.Bits(), ep.Gateway6
	}
	if mac, err := parseMAC(ep.MAC); err == nil {
		es.MacAddress = mac
	}
	return es
}

func parseMAC(s string) (network.HardwareAddr, error) {
	m, err := net.ParseMAC(s)
	return network.HardwareAddr(m), err
}

// upstream is where the embedded DNS forwards: --dns, else the daemon's
// dns, else the host's resolvers (loopback ones too: forwarding happens
// in the host's namespace).
func (s *Service) upstream(containerDNS []string) []string {
	servers := containerDNS
	if len(servers) == 0 {
		servers = s.cfg.DNS
	}
	if len(servers) == 0 {
		servers = hostNameservers()
	}
	out := make([]string, 0, len(servers))
	for _, a := range servers {
		out = append(out, net.JoinHostPort(a, "53"))
	}
	return out
}

func hostNameservers() []string {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if _, err := netip.ParseAddr(f[1]); err == nil {
				out = append(out, f[1])
			}
		}
	}
	return out
}

// Detach ends a container's networking when it stops. A container with no
// sandbox is not an error.
func (s *Service) Detach(ctx context.Context, containerID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, ok := s.sandboxes[containerID]
	if !ok {
		return nil
	}
	s.teardownLocked(sb)
	return nil
}

// teardownLocked undoes a sandbox: DNS, ports, devices, namespace, record.
func (s *Service) teardownLocked(sb *Sandbox) {
	if d, ok := s.dns[sb.ContainerID]; ok {
		_ = d.Close()
		delete(s.dns, sb.ContainerID)
	}
	_, known := s.sandboxes[sb.ContainerID]
	delete(s.sandboxes, sb.ContainerID)
	delete(s.stale, sb.ContainerID)
	if len(sb.Ports) > 0 {
		// Before the namespace goes, so nothing is sent on to an
		// address that has left.
		if err := s.applyFirewallLocked(); err != nil {
			s.log.Warn("firewall after container stop", "error", err.Error())
		}
	}
	for _, pm := range sb.Ports {
		s.ports.Release(pm.Proto, pm.HostIP, pm.HostPort)
	}
	// Unpinning the namespace takes its devices with it, veth peers
	// included; deleting them one by one first costs the kernel tens of
	// milliseconds per device on the exit path.
	if err := DeleteNetNS(sb.NetNSPath); err != nil {
		s.log.Warn("delete network namespace", "container_id", sb.ContainerID, "error", err.Error())
	}
	if known {
		if err := s.store.delete(bucketSandboxes, sb.ContainerID); err != nil {
			s.log.Warn("forget sandbox", "container_id", sb.ContainerID, "error", err.Error())
		}
		for _, ep := range sb.Endpoints {
			if n := s.nets[ep.NetworkID]; n != nil {
				s.publish(n, "disconnect", map[string]string{"container": sb.ContainerID})
			}
		}
	}
}

// Restore brings back the sandboxes of containers that kept running
// across a daemon restart (their ports, their DNS servers) and removes
// those of containers that did not. alive reports whether a container
// still runs.
func (s *Service) Restore(ctx context.Context, alive func(containerID string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.stale {
		sb := s.sandboxes[id]
		if sb == nil {
			continue
		}
		if !alive(id) {
			s.teardownLocked(sb)
			continue
		}
		for i, pm := range sb.Ports {
			if _, err := s.ports.Reserve(pm.Proto, pm.HostIP, pm.HostPort); err != nil {
				s.log.Warn("reclaim published port", "container_id", id, "port", pm.HostPort, "error", err.Error())
			}
			sb.Ports[i] = pm
		}
		res := s.resultLocked(sb)
		if res.EmbeddedDNS {
			d, err := StartDNS(context.WithoutCancel(ctx), sb.NetNSPath, sb.ContainerID, s, sb.Upstream, s.log)
			if err != nil {
				s.log.Warn("restart the embedded DNS server", "container_id", id, "error", err.Error())
			} else {
				s.dns[id] = d
			}
		}
		delete(s.stale, id)
	}
	if err := s.applyFirewallLocked(); err != nil {
		s.log.Warn("firewall after restore", "error", err.Error())
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
