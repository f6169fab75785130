package network

import (
	"maps"
	"net/netip"
	"time"

	"github.com/moby/moby/api/types/network"
)

// Drivers berth has.
const (
	DriverBridge  = "bridge"
	DriverHost    = "host"
	DriverNull    = "null"
	DriverMacvlan = "macvlan"
)

// DefaultBridgeName is the device of the predefined "bridge" network.
const DefaultBridgeName = "berth0"

// Docker's bridge driver options.
const (
	optBridgeName    = "com.docker.network.bridge.name"
	optICC           = "com.docker.network.bridge.enable_icc"
	optMasquerade    = "com.docker.network.bridge.enable_ip_masquerade"
	optMTU           = "com.docker.network.driver.mtu"
	optDefaultBridge = "com.docker.network.bridge.default_bridge"
	optHostBindingV4 = "com.docker.network.bridge.host_binding_ipv4"
	optParent        = "parent"
	optMacvlanMode   = "macvlan_mode"
)

// Network is one network as berth stores it.
type Network struct {
	ID         string
	Name       string
	Driver     string
	Created    time.Time
	EnableIPv4 bool
	EnableIPv6 bool
	Internal   bool
	Attachable bool
	Ingress    bool
	ConfigOnly bool
	ConfigFrom string `json:",omitempty"`
	IPAMDriver string
	IPAMOpts   map[string]string `json:",omitempty"`
	Pools      []Pool
	Options    map[string]string
	Labels     map[string]string

	// Derived from the options at creation.
	Bridge      string `json:",omitempty"` // bridge device
	Parent      string `json:",omitempty"` // macvlan parent
	MadeVLAN    bool   `json:",omitempty"` // the macvlan parent "IF.N" was made for this network
	ICC         bool
	Masquerade  bool
	MTU         int  `json:",omitempty"`
	Predefined  bool `json:",omitempty"` // bridge, host, none: never removed
	UserSubnets bool `json:",omitempty"` // the user chose the subnets: --ip is allowed
}

// Pool is one subnet of a network.
type Pool struct {
	Subnet  netip.Prefix
	Range   netip.Prefix          `json:",omitzero"` // where dynamic addresses come from; zero: the subnet
	Gateway netip.Addr            `json:",omitzero"`
	Aux     map[string]netip.Addr `json:",omitempty"`
}

// allocRange is where dynamic addresses come from.
func (p Pool) allocRange() netip.Prefix {
	if p.Range.IsValid() {
		return p.Range
	}
	return p.Subnet
}

// pool returns the network's pool of the family of ip (v4 or v6).
func (n *Network) pool(v6 bool) (Pool, bool) {
	for _, p := range n.Pools {
		if p.Subnet.Addr().Is6() == v6 {
			return p, true
		}
	}
	return Pool{}, false
}

// hasDevice reports whether containers on n get an interface of their own.
func (n *Network) hasDevice() bool {
	return n.Driver == DriverBridge || n.Driver == DriverMacvlan
}

// userDefined reports whether n is a network the user made (embedded DNS
// serves those).
func (n *Network) userDefined() bool { return !n.Predefined }

// summary is n as the API lists it.
func (n *Network) summary() network.Network {
	out := network.Network{
		Name:       n.Name,
		ID:         n.ID,
		Created:    n.Created,
		Scope:      "local",
		Driver:     n.Driver,
		EnableIPv4: n.EnableIPv4,
		EnableIPv6: n.EnableIPv6,
		Internal:   n.Internal,
		Attachable: n.Attachable,
		Ingress:    n.Ingress,
		ConfigOnly: n.ConfigOnly,
		ConfigFrom: network.ConfigReference{Network: n.ConfigFrom},
		Options:    maps.Clone(n.Options),
		Labels:     maps.Clone(n.Labels),
		IPAM: network.IPAM{
			Driver:  n.IPAMDriver,
			Options: maps.Clone(n.IPAMOpts),
			Config:  []network.IPAMConfig{},
		},
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	for _, p := range n.Pools {
		out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{
			Subnet: p.Subnet, IPRange: p.Range, Gateway: p.Gateway, AuxAddress: maps.Clone(p.Aux),
		})
	}
	return out
}
