package network

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// Bridge is a Linux bridge device as berth wants it.
type Bridge struct {
	Name  string
	Addrs []netip.Prefix // gateway address with the subnet's length, e.g. 172.17.0.1/16 (v4 and v6)
	MTU   int            // 0: leave default
}

// Link is one container interface: a veth pair whose host end joins Bridge,
// or (Parent set) a macvlan device in bridge mode on Parent.
type Link struct {
	NetNSPath string
	Bridge    string           // veth: the bridge the host end joins
	Parent    string           // macvlan (bridge mode) parent; "eth0.10" means 802.1q VLAN 10 on eth0 (made if missing)
	HostName  string           // veth host end name (veth only)
	IfName    string           // name inside the namespace, e.g. eth0
	MAC       net.HardwareAddr // nil: kernel's choice
	Addrs     []netip.Prefix   // container addresses with the subnet length
	Gateway4  netip.Addr       // default IPv4 route via this, if valid
	Gateway6  netip.Addr       // default IPv6 route via this, if valid
	MTU       int
	Hairpin   bool // hairpin mode on the bridge port (veth)
}

// EnableForwarding sets net.ipv4.ip_forward=1 in the current network
// namespace and, with ipv6, net.ipv6.conf.all.forwarding=1 (as dockerd
// does; note the kernel then ignores router advertisements on interfaces
// with accept_ra=1). Values already set are not written again.
func EnableForwarding(ipv6 bool) error {
	if err := writeSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	if ipv6 {
		return writeSysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")
	}
	return nil
}

// EnsureBridge creates the bridge if missing, sets MTU, makes its addresses
// exactly b.Addrs, brings it up, and sets net.ipv4.conf.<name>.route_localnet=1
// (published ports reached on 127.0.0.1). Idempotent. IPv6 link-local
// addresses the kernel gave the bridge are kept. With an IPv6 address in
// b.Addrs, IPv6 is enabled on the bridge (disable_ipv6=0).
func EnsureBridge(b Bridge) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("bridge %s: netlink socket: %w", b.Name, err)
	}
	defer h.Close()

	link, err := h.LinkByName(b.Name)
	switch {
	case isLinkNotFound(err):
		attrs := netlink.NewLinkAttrs()
		attrs.Name = b.Name
		attrs.MTU = b.MTU
		attrs.Flags = net.FlagUp
		// A fixed address keeps the bridge's MAC from following its ports.
		attrs.HardwareAddr = randomMAC()
		br := &netlink.Bridge{LinkAttrs: attrs}
		if err := h.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s: %w", b.Name, err)
		}
		if br.Index == 0 {
			if link, err = h.LinkByName(b.Name); err != nil {
				return fmt.Errorf("bridge %s: %w", b.Name, err)
			}
		} else {
			link = br
		}
	case err != nil:
		return fmt.Errorf("bridge %s: %w", b.Name, err)
	case link.Type() != "bridge":
		return errdefs.Conflict(fmt.Errorf("device %s exists and is not a bridge (%s)", b.Name, link.Type()))
	}

	if b.MTU > 0 && link.Attrs().MTU != b.MTU {
		if err := h.LinkSetMTU(link, b.MTU); err != nil {
			return fmt.Errorf("bridge %s: set mtu %d: %w", b.Name, b.MTU, err)
		}
	}
	for _, p := range b.Addrs {
		if p.Addr().Is6() && !p.Addr().Is4In6() {
			if err := writeSysctl("/proc/sys/net/ipv6/conf/"+b.Name+"/disable_ipv6", "0"); err != nil {
				return fmt.Errorf("bridge %s: enable ipv6: %w", b.Name, err)
			}
			break
		}
	}
	if err := syncAddrs(h, link, b.Addrs); err != nil {
		return fmt.Errorf("bridge %s: %w", b.Name, err)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(link); err != nil {
			return fmt.Errorf("bridge %s: set up: %w", b.Name, err)
		}
	}
	if err := writeSysctl("/proc/sys/net/ipv4/conf/"+b.Name+"/route_localnet", "1"); err != nil {
		return fmt.Errorf("bridge %s: %w", b.Name, err)
	}
	return nil
}

// syncAddrs makes the addresses of link exactly want, leaving IPv6
// link-local addresses alone unless want names them.
func syncAddrs(h *netlink.Handle, link netlink.Link, want []netip.Prefix) error {
	have, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	wanted := make(map[netip.Prefix]bool, len(want))
	for _, p := range want {
		wanted[unmapPrefix(p)] = true
	}
	present := make(map[netip.Prefix]bool, len(have))
	for _, a := range have {
		p, ok := ipNetToPrefix(a.IPNet)
		if !ok {
			continue
		}
		if wanted[p] {
			present[p] = true
			continue
		}
		if p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			continue
		}
		if err := h.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove stale address %s: %w", p, err)
		}
	}
	for _, p := range want {
		if present[unmapPrefix(p)] {
			continue
		}
		if err := h.AddrAdd(link, newAddr(p)); err != nil {
			return fmt.Errorf("add address %s: %w", p, err)
		}
	}
	return nil
}

// DeleteBridge removes the bridge; missing is not an error.
func DeleteBridge(name string) error {
	link, err := netlink.LinkByName(name)
	if isLinkNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return errdefs.Conflict(fmt.Errorf("device %s is not a bridge (%s)", name, link.Type()))
	}
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

// AddLink makes the interface inside the namespace, all or nothing. The host
// side (bridge, macvlan parent) is looked up in the caller's namespace.
func AddLink(l Link) error {
	if l.IfName == "" {
		return errdefs.Invalid(fmt.Errorf("interface name inside the container is required"))
	}
	if l.Parent == "" && (l.Bridge == "" || l.HostName == "") {
		return errdefs.Invalid(fmt.Errorf("a veth link needs a bridge and a host-side name"))
	}
	nsh, err := netns.GetFromPath(l.NetNSPath)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", l.NetNSPath, err)
	}
	defer nsh.Close()
	host, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer host.Close()
	inner, err := netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket in %s: %w", l.NetNSPath, err)
	}
	defer inner.Close()

	if l.Parent != "" {
		return addMacvlan(host, inner, nsh, l)
	}
	return addVeth(host, inner, nsh, l)
}

// addVeth creates the pair with the peer made directly inside the namespace
// under its final name, so no move or rename is needed.
func addVeth(host, inner *netlink.Handle, nsh netns.NsHandle, l Link) (err error) {
	br, err := host.LinkByName(l.Bridge)
	if isLinkNotFound(err) {
		return errdefs.NotFound(fmt.Errorf("bridge %s not found", l.Bridge))
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", l.Bridge, err)
	}

	attrs := netlink.NewLinkAttrs()
	attrs.Name = l.HostName
	attrs.MTU = l.MTU
	attrs.Flags = net.FlagUp
	veth := netlink.NewVeth(attrs)
	veth.PeerName = l.IfName
	veth.PeerHardwareAddr = l.MAC
	veth.PeerNamespace = netlink.NsFd(nsh)
	if err := host.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return errdefs.Conflict(fmt.Errorf("create veth %s/%s: %w", l.HostName, l.IfName, err))
		}
		return fmt.Errorf("create veth %s/%s: %w", l.HostName, l.IfName, err)
	}
	defer func() {
		if err != nil {
			// Deleting the host end takes the peer with it.
			_ = host.LinkDel(veth)
		}
	}()
	if veth.Index == 0 {
		return fmt.Errorf("veth %s vanished after creation", l.HostName)
	}
	if err := host.LinkSetMasterByIndex(veth, br.Attrs().Index); err != nil {
		return fmt.Errorf("attach %s to bridge %s: %w", l.HostName, l.Bridge, err)
	}
	if l.Hairpin {
		if err := host.LinkSetHairpin(veth, true); err != nil {
			return fmt.Errorf("set hairpin mode on %s: %w", l.HostName, err)
		}
	}
	return configureInside(inner, l)
}

// configureInside gives the interface named l.IfName inside the namespace
// its addresses, brings it up, and adds the default routes. MAC and MTU are
// set when the device is made.
func configureInside(inner *netlink.Handle, l Link) error {
	link, err := inner.LinkByName(l.IfName)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", l.IfName, l.NetNSPath, err)
	}
	for _, p := range l.Addrs {
		if err := inner.AddrAdd(link, newAddr(p)); err != nil {
			return fmt.Errorf("add address %s to %s: %w", p, l.IfName, err)
		}
	}
	if err := inner.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", l.IfName, err)
	}
	for _, gw := range []netip.Addr{l.Gateway4, l.Gateway6} {
		if !gw.IsValid() {
			continue
		}
		gw = gw.Unmap()
		dst := &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
		if gw.Is6() {
			dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
		}
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst, Gw: gw.AsSlice()}
		if err := inner.RouteAdd(r); err != nil {
			return fmt.Errorf("add default route via %s on %s: %w", gw, l.IfName, err)
		}
	}
	return nil
}

// RemoveLink deletes the interface inside the namespace (the veth peer goes
// with it); missing is fine. For a veth, a host end named l.HostName that
// outlived its namespace is removed too.
func RemoveLink(l Link) error {
	if err := removeInside(l); err != nil {
		return err
	}
	if l.Parent != "" || l.HostName == "" {
		return nil
	}
	link, err := netlink.LinkByName(l.HostName)
	if isLinkNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find %s: %w", l.HostName, err)
	}
	if link.Type() != "veth" {
		return nil
	}
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s: %w", l.HostName, err)
	}
	return nil
}

func removeInside(l Link) error {
	nsh, err := netns.GetFromPath(l.NetNSPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open netns %s: %w", l.NetNSPath, err)
	}
	defer nsh.Close()
	inner, err := netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE)
	if errors.Is(err, unix.EINVAL) {
		return nil // the path is no longer a namespace (unpinned)
	}
	if err != nil {
		return fmt.Errorf("netlink socket in %s: %w", l.NetNSPath, err)
	}
	defer inner.Close()
	link, err := inner.LinkByName(l.IfName)
	if isLinkNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", l.IfName, l.NetNSPath, err)
	}
	if err := inner.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s in %s: %w", l.IfName, l.NetNSPath, err)
	}
	return nil
}

// HostRoutes lists the destination prefixes of the host's routes (not
// default routes), for pool collision checks. It reads the main routing
// table of the caller's namespace, IPv4 and IPv6.
func HostRoutes() ([]netip.Prefix, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		p, ok := ipNetToPrefix(r.Dst)
		if !ok || p.Bits() == 0 {
			continue
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// MACFor is Docker's MAC for an IPv4 address: 02:42 then the 4 address
// bytes. It returns nil for anything but an IPv4 address.
func MACFor(ip netip.Addr) net.HardwareAddr {
	ip = ip.Unmap()
	if !ip.Is4() {
		return nil
	}
	a := ip.As4()
	return net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}
}

// newAddr is the netlink address for p; IPv6 addresses skip duplicate
// address detection so they are usable at once.
func newAddr(p netip.Prefix) *netlink.Addr {
	p = unmapPrefix(p)
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			bits = 0
		}
		return netip.PrefixFrom(p.Addr().Unmap(), bits)
	}
	return p
}

func ipNetToPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	ones, total := n.Mask.Size()
	if total == 0 {
		return netip.Prefix{}, false
	}
	if ip.Is4() && total == 128 {
		ones -= 96
	}
	return netip.PrefixFrom(ip, ones), true
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// randomMAC is a random locally administered unicast address.
func randomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac)
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}

// writeSysctl writes value to the /proc/sys file at path unless it holds it
// already. Files under /proc/sys/net belong to the calling thread's network
// namespace.
func writeSysctl(path, value string) error {
	if cur, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(cur)) == value {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("sysctl: %w", err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", path, value, err)
	}
	return nil
}
