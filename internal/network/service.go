package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	mevents "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
	"berth/internal/events"
)

// DefaultBridge configures the predefined "bridge" network (daemon.json's
// bip, fixed-cidr, mtu, icc, ip-masq).
type DefaultBridge struct {
	Name      string // the device; "" is berth0
	Bip       string // gateway address with prefix, e.g. 172.17.0.1/16
	FixedCIDR string // dynamic addresses come from here
	MTU       int
	ICC       bool
	IPMasq    bool
}

// Config is what the network service is built from.
type Config struct {
	DB           *bolt.DB
	ExecRoot     string // netns/<container id> pins container namespaces
	Bridge       DefaultBridge
	AddressPools []AddressPool // nil: DefaultAddressPools
	IPForward    bool          // set net.ipv4.ip_forward (daemon.json ip-forward, default true)
	DNS          []string      // daemon.json dns: upstream of the embedded DNS
	FirewallName string        // nftables tables' name; "" is "berth"
	Events       *events.Bus
	Logger       *slog.Logger
}

// Service owns networks and the network side of containers.
type Service struct {
	cfg   Config
	log   *slog.Logger
	store *store
	fw    *Firewall
	ports *PortReservations

	mu        sync.Mutex
	nets      map[string]*Network   // guarded by mu; by ID
	sandboxes map[string]*Sandbox   // guarded by mu; by container ID
	stale     map[string]bool       // guarded by mu; sandboxes loaded at start, not yet restored
	dns       map[string]*DNSServer // guarded by mu; by container ID
}

// New loads networks and sandboxes, makes sure the predefined networks and
// every bridge exist, and programs the firewall. Call Restore once the
// container service knows which containers still run.
func New(cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FirewallName == "" {
		cfg.FirewallName = "berth"
	}
	if cfg.AddressPools == nil {
		cfg.AddressPools = DefaultAddressPools()
	}
	st, err := newStore(cfg.DB)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: cfg.Logger, store: st,
		fw:        NewFirewall(cfg.FirewallName),
		ports:     NewPortReservations(),
		nets:      map[string]*Network{},
		sandboxes: map[string]*Sandbox{},
		stale:     map[string]bool{},
		dns:       map[string]*DNSServer{},
	}
	nets, err := st.loadNetworks()
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		s.nets[n.ID] = n
	}
	sbs, err := st.loadSandboxes()
	if err != nil {
		return nil, err
	}
	for _, sb := range sbs {
		s.sandboxes[sb.ContainerID] = sb
		s.stale[sb.ContainerID] = true
	}
	if cfg.IPForward {
		if err := EnableForwarding(false); err != nil {
			s.log.Warn("enable IP forwarding", "error", err.Error())
		}
	}
	if err := s.ensurePredefined(); err != nil {
		return nil, err
	}
	for _, n := range s.nets {
		if n.Driver == DriverBridge {
			if err := EnsureBridge(n.bridgeDevice()); err != nil {
				return nil, fmt.Errorf("network %s: %w", n.Name, err)
			}
		}
	}
	// Published ports of live-restored containers keep answering: the
	// rules stay in the kernel until the next Apply, which has them too.
	s.mu.Lock()
	err = s.applyFirewallLocked()
	s.mu.Unlock()
	return s, err
}

// bridgeDevice is the bridge of n with its gateways.
func (n *Network) bridgeDevice() Bridge {
	b := Bridge{Name: n.Bridge, MTU: n.MTU}
	for _, p := range n.Pools {
		if p.Gateway.IsValid() {
			b.Addrs = append(b.Addrs, netip.PrefixFrom(p.Gateway, p.Subnet.Bits()))
		}
	}
	return b
}

// ensurePredefined makes bridge, host and none when missing. The default
// bridge's subnet comes from bip, or the first default pool free of the
// host's routes.
func (s *Service) ensurePredefined() error {
	have := map[string]bool{}
	for _, n := range s.nets {
		if n.Predefined {
			have[n.Name] = true
		}
	}
	now := time.Now().UTC()
	for _, name := range []string{"bridge", "host", "none"} {
		if have[name] {
			continue
		}
		n := &Network{ID: newNetworkID(), Name: name, Created: now, EnableIPv4: true, IPAMDriver: "default",
			Predefined: true, Options: map[string]string{}, Labels: map[string]string{}}
		switch name {
		case "host":
			n.Driver = DriverHost
		case "none":
			n.Driver = DriverNull
		case "bridge":
			n.Driver = DriverBridge
			if err := s.configureDefaultBridge(n); err != nil {
				return err
			}
		}
		if err := s.store.put(bucketNetworks, n.ID, n); err != nil {
			return err
		}
		s.nets[n.ID] = n
	}
	return nil
}

func (s *Service) configureDefaultBridge(n *Network) error {
	b := s.cfg.Bridge
	var pool Pool
	if b.Bip != "" {
		gw, err := netip.ParsePrefix(b.Bip)
		if err != nil {
			return fmt.Errorf("invalid bip %q: %w", b.Bip, err)
		}
		pool = Pool{Subnet: gw.Masked(), Gateway: gw.Addr()}
	} else {
		routes, err := HostRoutes()
		if err != nil {
			s.log.Warn("list host routes", "error", err.Error())
		}
		sub, err := choosePool(s.cfg.AddressPools, append(routes, s.subnetsLocked()...))
		if err != nil {
			return err
		}
		pool = Pool{Subnet: sub, Gateway: firstHost(sub)}
	}
	if b.FixedCIDR != "" {
		r, err := netip.ParsePrefix(b.FixedCIDR)
		if err != nil || !pool.Subnet.Contains(r.Addr()) {
			return fmt.Errorf("invalid fixed-cidr %q: not in %s", b.FixedCIDR, pool.Subnet)
		}
		pool.Range = r.Masked()
	}
	n.Pools = []Pool{pool}
	n.Bridge = b.Name
	if n.Bridge == "" {
		n.Bridge = DefaultBridgeName
	}
	n.ICC, n.Masquerade, n.MTU = b.ICC, b.IPMasq, b.MTU
	mtu := b.MTU
	if mtu == 0 {
		mtu = 1500
	}
	n.Options = map[string]string{
		optDefaultBridge: "true", optICC: strconv.FormatBool(b.ICC), optMasquerade: strconv.FormatBool(b.IPMasq),
		optHostBindingV4: "0.0.0.0", optBridgeName: n.Bridge, optMTU: strconv.Itoa(mtu),
	}
	return nil
}

// subnetsLocked lists every network's subnets.
func (s *Service) subnetsLocked() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range s.nets {
		for _, p := range n.Pools {
			out = append(out, p.Subnet)
		}
	}
	return out
}

func newNetworkID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// find resolves a network by full ID, name, or unique ID prefix, in
// Docker's order.
func (s *Service) findLocked(ref string) (*Network, error) {
	if n, ok := s.nets[ref]; ok {
		return n, nil
	}
	for _, n := range s.nets {
		if n.Name == ref {
			return n, nil
		}
	}
	var match *Network
	for _, n := range s.nets {
		if ref != "" && strings.HasPrefix(n.ID, ref) {
			if match != nil {
				return nil, errdefs.Invalid(fmt.Errorf("network %s is ambiguous (%d matches found based on ID prefix)", ref, 2))
			}
			match = n
		}
	}
	if match == nil {
		return nil, errdefs.NotFound(fmt.Errorf("network %s not found", ref))
	}
	return match, nil
}

// Create makes a network.
func (s *Service) Create(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.TrimSpace(req.Name) == "" {
		return network.CreateResponse{}, errdefs.Invalid(errors.New("network name cannot be empty"))
	}
	for _, n := range s.nets {
		if n.Name == req.Name {
			return network.CreateResponse{}, errdefs.Conflict(fmt.Errorf("network with name %s already exists", req.Name))
		}
	}
	n := &Network{
		ID: newNetworkID(), Name: req.Name, Driver: req.Driver, Created: time.Now().UTC(),
		EnableIPv4: true, Internal: req.Internal, Attachable: req.Attachable, Ingress: req.Ingress,
		ConfigOnly: req.ConfigOnly, IPAMDriver: "default",
		Options: maps.Clone(req.Options), Labels: maps.Clone(req.Labels),
		ICC: true, Masquerade: true, UserSubnets: true,
	}
	if req.ConfigFrom != nil {
		n.ConfigFrom = req.ConfigFrom.Network
	}
	if n.Options == nil {
		n.Options = map[string]string{}
	}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	if req.EnableIPv4 != nil {
		n.EnableIPv4 = *req.EnableIPv4
	}
	if req.EnableIPv6 != nil {
		n.EnableIPv6 = *req.EnableIPv6
	}
	switch n.Driver {
	case "", DriverBridge:
		n.Driver = DriverBridge
	case DriverMacvlan:
	case DriverHost, DriverNull:
		return network.CreateResponse{}, errdefs.Forbidden(fmt.Errorf("only one instance of %q network is allowed", n.Driver))
	case "overlay":
		return network.CreateResponse{}, errdefs.Unavailable(errors.New("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."))
	default:
		return network.CreateResponse{}, errdefs.NotFound(fmt.Errorf("plugin %q not found", n.Driver))
	}
	if req.Scope != "" && req.Scope != "local" {
		return network.CreateResponse{}, errdefs.Invalid(fmt.Errorf("invalid scope %q for driver %s", req.Scope, n.Driver))
	}
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return network.CreateResponse{}, errdefs.NotFound(fmt.Errorf("plugin %q not found", req.IPAM.Driver))
		}
		n.IPAMOpts = maps.Clone(req.IPAM.Options)
	}
	if err := s.poolsForLocked(n, req.IPAM); err != nil {
		return network.CreateResponse{}, err
	}
	if err := s.applyDriverOptions(n); err != nil {
		return network.CreateResponse{}, err
	}
	if n.Driver == DriverBridge {
		if err := EnsureBridge(n.bridgeDevice()); err != nil {
			_ = DeleteBridge(n.Bridge)
			return network.CreateResponse{}, fmt.Errorf("create bridge %s: %w", n.Bridge, err)
		}
	}
	s.nets[n.ID] = n
	if err := s.applyFirewallLocked(); err != nil {
		delete(s.nets, n.ID)
		s.dropDeviceLocked(n)
		return network.CreateResponse{}, err
	}
	if err := s.store.put(bucketNetworks, n.ID, n); err != nil {
		delete(s.nets, n.ID)
		s.dropDeviceLocked(n)
		return network.CreateResponse{}, err
	}
	s.publish(n, "create", nil)
	return network.CreateResponse{ID: n.ID}, nil
}

// poolsForLocked sets n's pools from the request, choosing an IPv4
// subnet from the default pools when none is given.
func (s *Service) poolsForLocked(n *Network, ipam *network.IPAM) error {
	taken := s.subnetsLocked()
	var given []Pool
	if ipam != nil {
		for _, c := range ipam.Config {
			p, err := poolFromConfig(c)
			if err != nil {
				return err
			}
			if !p.Subnet.IsValid() {
				continue
			}
			if overlapsAny(p.Subnet, taken) {
				return errPoolOverlap
			}
			taken = append(taken, p.Subnet)
			given = append(given, p)
		}
	}
	has4, has6 := false, false
	for _, p := range given {
		if p.Subnet.Addr().Is4() {
			has4 = true
		} else {
			has6 = true
		}
	}
	if has6 && !n.EnableIPv6 {
		return errdefs.Invalid(errors.New("invalid network config:\nIPv6 subnet given but IPv6 is not enabled (--ipv6)"))
	}
	if !has4 && n.EnableIPv4 {
		n.UserSubnets = false
		routes, err := HostRoutes()
		if err != nil {
			s.log.Warn("list host routes", "error", err.Error())
		}
		sub, err := choosePool(s.cfg.AddressPools, append(routes, taken...))
		if err != nil {
			return err
		}
		given = append([]Pool{{Subnet: sub, Gateway: firstHost(sub)}}, given...)
	}
	if !has6 && n.EnableIPv6 {
		sub := ulaSubnet(n.ID)
		given = append(given, Pool{Subnet: sub, Gateway: firstHost(sub)})
	}
	n.Pools = given
	return nil
}

// applyDriverOptions reads the driver's -o options into n.
func (s *Service) applyDriverOptions(n *Network) error {
	var err error
	parseBool := func(k string, def bool) bool {
		v, ok := n.Options[k]
		if !ok {
			return def
		}
		b, e := strconv.ParseBool(v)
		if e != nil && err == nil {
			err = errdefs.Invalid(fmt.Errorf("failed to parse %s value: %s", k, v))
		}
		return b
	}
	if v, ok := n.Options[optMTU]; ok {
		m, e := strconv.Atoi(v)
		if e != nil || m < 68 {
			return errdefs.Invalid(fmt.Errorf("invalid MTU %q", v))
		}
		n.MTU = m
	}
	switch n.Driver {
	case DriverBridge:
		n.ICC = parseBool(optICC, true)
		n.Masquerade = parseBool(optMasquerade, true)
		n.Bridge = n.Options[optBridgeName]
		if n.Bridge == "" {
			n.Bridge = "br-" + n.ID[:12]
		}
		if len(n.Bridge) > 15 {
			return errdefs.Invalid(fmt.Errorf("bridge name %s is too long: at most 15 characters", n.Bridge))
		}
		for _, o := range s.nets {
			if o.Bridge == n.Bridge {
				return errdefs.Conflict(fmt.Errorf("bridge name %s already in use by network %s", n.Bridge, o.Name))
			}
		}
	case DriverMacvlan:
		n.Parent = n.Options[optParent]
		if mode, ok := n.Options[optMacvlanMode]; ok && mode != "bridge" {
			return errdefs.Invalid(fmt.Errorf("macvlan mode %q is not supported by berth: only bridge", mode))
		}
		if n.Parent == "" {
			return errdefs.Invalid(errors.New("macvlan networks need a parent interface: -o parent=IF"))
		}
		base, vlan, isVLAN := strings.Cut(n.Parent, ".")
		if isVLAN {
			if id, e := strconv.Atoi(vlan); e != nil || id < 1 || id > 4094 || base == "" {
				return errdefs.Invalid(fmt.Errorf("invalid subinterface vlan name %s, example formatting is eth0.10", n.Parent))
			}
		}
		if !ParentExists(n.Parent) {
			// Docker takes a missing parent without a dot for a malformed
			// VLAN name.
			if !isVLAN {
				return errdefs.Invalid(fmt.Errorf("invalid subinterface vlan name %s, example formatting is eth0.10", n.Parent))
			}
			return errdefs.Invalid(fmt.Errorf("-o parent interface was not found on the host: %s", base))
		}
		for _, o := range s.nets {
			if o.Driver == DriverMacvlan && o.Parent == n.Parent {
				return errdefs.Forbidden(fmt.Errorf("network %s is already using parent interface %s", o.Name, n.Parent))
			}
		}
		_, e := net.InterfaceByName(n.Parent)
		n.MadeVLAN = isVLAN && e != nil
	}
	return err
}

// dropDeviceLocked undoes the devices of a network that is going away.
func (s *Service) dropDeviceLocked(n *Network) {
	switch n.Driver {
	case DriverBridge:
		if err := DeleteBridge(n.Bridge); err != nil {
			s.log.Warn("delete bridge", "bridge", n.Bridge, "error", err.Error())
		}
	case DriverMacvlan:
		if n.MadeVLAN {
			if err := RemoveVLAN(n.Parent); err != nil {
				s.log.Warn("delete vlan", "parent", n.Parent, "error", err.Error())
			}
		}
	}
}

// activeEndpointsLocked lists the containers with an endpoint on n.
func (s *Service) activeEndpointsLocked(n *Network) []*Endpoint {
	var out []*Endpoint
	for _, sb := range s.sandboxes {
		for _, ep := range sb.Endpoints {
			if ep.NetworkID == n.ID {
				out = append(out, ep)
			}
		}
	}
	return out
}

// Remove deletes a network that no running container uses.
func (s *Service) Remove(ctx context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.findLocked(ref)
	if err != nil {
		return err
	}
	return s.removeLocked(n)
}

func (s *Service) removeLocked(n *Network) error {
	if n.Predefined {
		return errdefs.Forbidden(fmt.Errorf("%s is a pre-defined network and cannot be removed", n.Name))
	}
	if len(s.activeEndpointsLocked(n)) > 0 {
		return errdefs.Forbidden(fmt.Errorf("error while removing network: network %s id %s has active endpoints", n.Name, n.ID))
	}
	if err := s.store.delete(bucketNetworks, n.ID); err != nil {
		return err
	}
	delete(s.nets, n.ID)
	s.dropDeviceLocked(n)
	if err := s.applyFirewallLocked(); err != nil {
		s.log.Warn("firewall after network removal", "error", err.Error())
	}
	s.publish(n, "destroy", nil)
	return nil
}

var listFilters = []string{"driver", "id", "label", "name", "scope", "type", "dangling"}

// List returns the networks that match f.
func (s *Service) List(ctx context.Context, f filters.Args) ([]network.Summary, error) {
	if err := f.Validate(listFilters...); err != nil {
		return nil, err
	}
	for _, t := range f.Get("type") {
		if t != "custom" && t != "builtin" {
			return nil, errdefs.Invalid(fmt.Errorf("invalid filter: 'type'='%s'", t))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []network.Summary{}
	for _, n := range s.sortedLocked() {
		if !s.matchLocked(n, f) {
			continue
		}
		out = append(out, network.Summary{Network: n.summary()})
	}
	return out, nil
}

func (s *Service) sortedLocked() []*Network {
	out := slices.Collect(maps.Values(s.nets))
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created.Before(out[j].Created) || (out[i].Created.Equal(out[j].Created) && out[i].Name < out[j].Name)
	})
	return out
}

func (s *Service) matchLocked(n *Network, f filters.Args) bool {
	if !f.ExactMatch("driver", n.Driver) || !f.MatchLabels("label", n.Labels) {
		return false
	}
	if f.Has("scope") && !f.ExactMatch("scope", "local") {
		return false
	}
	if ids := f.Get("id"); len(ids) > 0 && !slices.ContainsFunc(ids, func(p string) bool { return strings.HasPrefix(n.ID, p) }) {
		return false
	}
	if names := f.Get("name"); len(names) > 0 && !slices.ContainsFunc(names, func(p string) bool { return strings.Contains(n.Name, p) }) {
		return false
	}
	if ts := f.Get("type"); len(ts) > 0 {
		want := "custom"
		if n.Predefined {
			want = "builtin"
		}
		if !slices.Contains(ts, want) {
			return false
		}
	}
	for _, d := range f.Get("dangling") {
		dangling := !n.Predefined && len(s.activeEndpointsLocked(n)) == 0
		if b, err := strconv.ParseBool(d); err == nil && b != dangling {
			return false
		}
	}
	return true
}

// Inspect returns a network with the containers attached to it.
func (s *Service) Inspect(ctx context.Context, ref string) (network.Inspect, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.findLocked(ref)
	if err != nil {
		return network.Inspect{}, err
	}
	out := network.Inspect{Network: n.summary(), Containers: map[string]network.EndpointResource{}}
	for _, ep := range s.activeEndpointsLocked(n) {
		res := network.EndpointResource{Name: ep.ContainerName, EndpointID: ep.ID, IPv4Address: ep.IPv4, IPv6Address: ep.IPv6}
		if mac, err := parseMAC(ep.MAC); err == nil {
			res.MacAddress = mac
		}
		out.Containers[ep.ContainerID] = res
	}
	return out, nil
}

// Prune removes the user-defined networks no running container uses.
func (s *Service) Prune(ctx context.Context, f filters.Args) (network.PruneReport, error) {
	if err := f.Validate("until", "label", "label!"); err != nil {
		return network.PruneReport{}, err
	}
	var until time.Time
	for _, u := range f.Get("until") {
		t, err := filters.ParseTime(u)
		if err != nil {
			return network.PruneReport{}, errdefs.Invalid(err)
		}
		until = t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := network.PruneReport{NetworksDeleted: []string{}}
	for _, n := range s.sortedLocked() {
		if n.Predefined || len(s.activeEndpointsLocked(n)) > 0 {
			continue
		}
		if !until.IsZero() && !n.Created.Before(until) {
			continue
		}
		if !f.MatchLabels("label", n.Labels) || labelExcluded(f.Get("label!"), n.Labels) {
			continue
		}
		if err := s.removeLocked(n); err != nil {
			s.log.Warn("prune network", "network", n.Name, "error", err.Error())
			continue
		}
		rep.NetworksDeleted = append(rep.NetworksDeleted, n.Name)
	}
	return rep, nil
}

func labelExcluded(not []string, labels map[string]string) bool {
	for _, l := range not {
		k, v, hasValue := strings.Cut(l, "=")
		if lv, ok := labels[k]; ok && (!hasValue || lv == v) {
			return true
		}
	}
	return false
}

// applyFirewallLocked programs the rule set of every network and every
// published port.
func (s *Service) applyFirewallLocked() error {
	var rs Ruleset
	for _, n := range s.sortedLocked() {
		if n.Driver != DriverBridge {
			continue
		}
		br := BridgeRules{Name: n.Bridge, Internal: n.Internal, ICC: n.ICC, Masquerade: n.Masquerade && !n.Internal}
		for _, p := range n.Pools {
			br.Subnets = append(br.Subnets, p.Subnet)
		}
		rs.Bridges = append(rs.Bridges, br)
	}
	for _, sb := range s.sandboxes {
		rs.Ports = append(rs.Ports, sb.portRules()...)
	}
	start := time.Now()
	if err := s.fw.Apply(rs); err != nil {
		return fmt.Errorf("program nftables: %w", err)
	}
	s.log.Debug("nftables applied", "bridges", len(rs.Bridges), "ports", len(rs.Ports), "duration", time.Since(start))
	return nil
}

func (s *Service) publish(n *Network, action string, extra map[string]string) {
	if s.cfg.Events == nil {
		return
	}
	attrs := map[string]string{"name": n.Name, "type": n.Driver}
	for k, v := range extra {
		attrs[k] = v
	}
	s.cfg.Events.Publish(mevents.NetworkEventType, mevents.Action(action), n.ID, attrs)
}

// netnsPath is where a container's namespace is pinned.
func (s *Service) netnsPath(containerID string) string {
	return filepath.Join(s.cfg.ExecRoot, "netns", containerID)
}

// HostGatewayIP is the address --add-host NAME:host-gateway maps to: the
// default bridge's gateway.
func (s *Service) HostGatewayIP() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nets {
		if n.Predefined && n.Driver == DriverBridge && len(n.Pools) > 0 {
			return n.Pools[0].Gateway
		}
	}
	return netip.Addr{}
}

// Close stops the embedded DNS servers and lets go of the nftables
// socket; namespaces, devices and rules stay for the containers that keep
// running.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, d := range s.dns {
		_ = d.Close()
		delete(s.dns, id)
	}
	for _, sb := range s.sandboxes {
		for _, pm := range sb.Ports {
			s.ports.Release(pm.Proto, pm.HostIP, pm.HostPort)
		}
	}
	if err := s.fw.Close(); err != nil {
		s.log.Warn("close the nftables socket", "error", err.Error())
	}
}
