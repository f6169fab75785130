package network

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"

	"github.com/moby/moby/api/types/network"

	"berth/internal/errdefs"
)

// AddressPool is one entry of daemon.json's default-address-pools: Base
// split into subnets of Size bits.
type AddressPool struct {
	Base netip.Prefix
	Size int
}

// DefaultAddressPools are Docker's: 172.17–31.0.0/16, then 192.168.0.0/16
// in /20s.
func DefaultAddressPools() []AddressPool {
	return []AddressPool{
		{Base: netip.MustParsePrefix("172.17.0.0/16"), Size: 16},
		{Base: netip.MustParsePrefix("172.18.0.0/15"), Size: 16},
		{Base: netip.MustParsePrefix("172.20.0.0/14"), Size: 16},
		{Base: netip.MustParsePrefix("172.24.0.0/14"), Size: 16},
		{Base: netip.MustParsePrefix("172.28.0.0/14"), Size: 16},
		{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20},
	}
}

// errNoPool is Docker's answer when every default pool is taken.
var errNoPool = errdefs.Forbidden(errors.New("all predefined address pools have been fully subnetted"))

// errPoolOverlap is Docker's answer to a subnet that overlaps another
// network's.
var errPoolOverlap = errdefs.Forbidden(errors.New("invalid pool request: Pool overlaps with other one on this address space"))

// choosePool picks the first subnet of pools that overlaps none of taken.
func choosePool(pools []AddressPool, taken []netip.Prefix) (netip.Prefix, error) {
	for _, ap := range pools {
		base := ap.Base.Masked()
		if ap.Size < base.Bits() || ap.Size > base.Addr().BitLen() {
			continue
		}
		for sub := netip.PrefixFrom(base.Addr(), ap.Size); sub.IsValid() && base.Contains(sub.Addr()); {
			if !overlapsAny(sub, taken) {
				return sub, nil
			}
			next, ok := nextPrefix(sub)
			if !ok {
				break
			}
			sub = next
		}
	}
	return netip.Prefix{}, errNoPool
}

// nextPrefix is the prefix of the same length right after p.
func nextPrefix(p netip.Prefix) (netip.Prefix, bool) {
	b := p.Addr().AsSlice()
	bit := p.Bits() - 1
	for i := bit; i >= 0; i-- {
		mask := byte(1) << (7 - uint(i%8))
		if b[i/8]&mask == 0 {
			b[i/8] |= mask
			// Clear every bit after i within the prefix.
			for j := i + 1; j <= bit; j++ {
				b[j/8] &^= byte(1) << (7 - uint(j%8))
			}
			a, _ := netip.AddrFromSlice(b)
			return netip.PrefixFrom(a, p.Bits()), true
		}
	}
	return netip.Prefix{}, false
}

func overlapsAny(p netip.Prefix, taken []netip.Prefix) bool {
	for _, t := range taken {
		if t.IsValid() && p.Overlaps(t) {
			return true
		}
	}
	return false
}

// ulaSubnet is the /64 an IPv6 network gets when the user names none: a
// unique local prefix derived from the network's ID.
func ulaSubnet(id string) netip.Prefix {
	sum := sha256.Sum256([]byte(id))
	var b [16]byte
	b[0] = 0xfd
	copy(b[1:8], sum[:7])
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}

// poolFromConfig checks one IPAM config entry of a create request and
// makes the pool of it; the gateway is the first address when not given.
func poolFromConfig(c network.IPAMConfig) (Pool, error) {
	p := Pool{Subnet: c.Subnet, Range: c.IPRange, Gateway: c.Gateway}
	if !c.Subnet.IsValid() {
		if c.IPRange.IsValid() || c.Gateway.IsValid() {
			return Pool{}, errdefs.Invalid(errors.New("invalid network config: a subnet is required when an ip-range or a gateway is given"))
		}
		return Pool{}, nil
	}
	if c.Subnet != c.Subnet.Masked() {
		return Pool{}, errdefs.Invalid(fmt.Errorf("invalid network config:\ninvalid subnet %s: it should be %s", c.Subnet, c.Subnet.Masked()))
	}
	if c.IPRange.IsValid() {
		if c.IPRange != c.IPRange.Masked() {
			return Pool{}, errdefs.Invalid(fmt.Errorf("invalid network config:\ninvalid ip-range %s: it should be %s", c.IPRange, c.IPRange.Masked()))
		}
		if c.IPRange.Addr().Is4() != c.Subnet.Addr().Is4() || c.IPRange.Bits() < c.Subnet.Bits() || !c.Subnet.Contains(c.IPRange.Addr()) {
			return Pool{}, errdefs.Invalid(fmt.Errorf("invalid network config:\ninvalid ip-range %s: parent subnet %s doesn't contain ip-range", c.IPRange, c.Subnet))
		}
	}
	if c.Gateway.IsValid() && !c.Subnet.Contains(c.Gateway) {
		return Pool{}, errdefs.Invalid(fmt.Errorf("invalid network config:\ninvalid gateway %s: parent subnet %s doesn't contain this address", c.Gateway, c.Subnet))
	}
	for name, a := range c.AuxAddress {
		if !c.Subnet.Contains(a) {
			return Pool{}, errdefs.Invalid(fmt.Errorf("invalid network config:\ninvalid auxiliary address %s: parent subnet %s doesn't contain ip address %s", name, c.Subnet, a))
		}
		if p.Aux == nil {
			p.Aux = map[string]netip.Addr{}
		}
		p.Aux[name] = a
	}
	if !p.Gateway.IsValid() {
		p.Gateway = firstHost(c.Subnet)
	}
	return p, nil
}

// firstHost is the first usable address of p (the gateway by default).
func firstHost(p netip.Prefix) netip.Addr {
	return p.Masked().Addr().Next()
}

// reserved reports whether a is never handed to a container: the
// subnet's own address, its IPv4 broadcast, the gateway, aux addresses.
func (p Pool) reserved(a netip.Addr) bool {
	sub := p.Subnet.Masked()
	if a == sub.Addr() || a == p.Gateway {
		return true
	}
	if a.Is4() && a == lastAddr(sub) {
		return true
	}
	for _, x := range p.Aux {
		if x == a {
			return true
		}
	}
	return false
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= byte(1) << (7 - uint(i%8))
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// allocate picks the lowest free address of the pool's range; inUse says
// which are taken.
func (p Pool) allocate(inUse func(netip.Addr) bool) (netip.Addr, error) {
	r := p.allocRange().Masked()
	// A huge IPv6 range is never scanned to its end: give up after a
	// million tries, which is far beyond any host's container count.
	tries := 0
	for a := r.Addr(); r.Contains(a) && tries < 1<<20; a = a.Next() {
		tries++
		if p.reserved(a) || inUse(a) {
			continue
		}
		return a, nil
	}
	return netip.Addr{}, errdefs.Unavailable(fmt.Errorf("no available IPv%d addresses on this network's address pools: %s", map[bool]int{true: 4, false: 6}[r.Addr().Is4()], p.Subnet))
}

// containsStatic reports whether a user may ask for a: within the
// ip-range when there is one, else the subnet (Docker's rule).
func (p Pool) containsStatic(a netip.Addr) bool {
	if p.Range.IsValid() {
		return p.Range.Contains(a)
	}
	return p.Subnet.Contains(a)
}

// checkStatic validates an address the user asked for.
func (p Pool) checkStatic(a netip.Addr, inUse func(netip.Addr) bool) error {
	if !p.containsStatic(a) {
		return errdefs.Invalid(fmt.Errorf("no configured subnet or ip-range contain the IP address %s", a))
	}
	if p.reserved(a) || inUse(a) {
		return errdefs.Conflict(fmt.Errorf("Address already in use"))
	}
	return nil
}
