package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"berth/internal/errdefs"

	"golang.org/x/sys/unix"
)

// PortReservations holds a bound socket per published host port so nothing
// else takes it, and remembers every reservation so two containers cannot
// publish the same (proto, host address, port). Published traffic itself
// never reaches these sockets: it is DNAT-ed before the socket lookup.
//
// TCP sockets are bound, not listening, without SO_REUSEADDR (so even a
// program that sets SO_REUSEADDR cannot bind the port); UDP sockets are
// bound; SCTP ones too when the kernel has SCTP, otherwise the reservation is
// only kept in memory. IPv6 sockets are IPV6_V6ONLY, so 0.0.0.0 and :: are
// reserved separately, as Docker does. Sockets are made in the network
// namespace of the calling thread. Safe for concurrent use.
type PortReservations struct {
	mu   sync.Mutex
	held map[protoPort][]heldAddr
	next map[string]uint16 // where the search for a free port resumes, per proto
}

type protoPort struct {
	proto string
	port  uint16
}

type heldAddr struct {
	ip netip.Addr
	fd int // -1: nothing bound (no SCTP in the kernel)
}

// NewPortReservations returns an empty set of reservations.
func NewPortReservations() *PortReservations {
	return &PortReservations{held: map[protoPort][]heldAddr{}, next: map[string]uint16{}}
}

// Reserve binds proto hostIP:port; port 0 picks a free one from
// net.ipv4.ip_local_port_range. A zero hostIP means 0.0.0.0. A taken port is
// errdefs.Conflict with Docker's text "Bind for 0.0.0.0:8080 failed: port is
// already allocated"; a reservation of the unspecified address conflicts with
// every reservation of the same family, proto and port.
func (p *PortReservations) Reserve(proto string, hostIP netip.Addr, port uint16) (uint16, error) {
	if _, err := l4proto(proto); err != nil {
		return 0, err
	}
	ip := reservationAddr(hostIP)
	p.mu.Lock()
	defer p.mu.Unlock()

	if port != 0 {
		if p.taken(proto, ip, port) {
			return 0, portAllocated(ip, port)
		}
		fd, err := bindPort(proto, ip, port)
		if err != nil {
			return 0, err
		}
		p.add(proto, ip, port, fd)
		return port, nil
	}

	lo, hi, err := localPortRange()
	if err != nil {
		return 0, err
	}
	n := int(hi) - int(lo) + 1
	start := p.next[proto]
	if start < lo || start > hi {
		start = lo
	}
	for i := range n {
		cand := uint16(int(lo) + (int(start-lo)+i)%n)
		if p.taken(proto, ip, cand) {
			continue
		}
		fd, err := bindPort(proto, ip, cand)
		if errdefs.IsConflict(err) {
			continue
		}
		if err != nil {
			return 0, err
		}
		p.add(proto, ip, cand, fd)
		p.next[proto] = cand + 1
		return cand, nil
	}
	return 0, errdefs.Unavailable(fmt.Errorf("Bind for %s failed: all ports are allocated", net.JoinHostPort(ip.String(), "0")))
}

// Release gives up a reservation (closing its socket); an unknown one is ignored.
func (p *PortReservations) Release(proto string, hostIP netip.Addr, port uint16) {
	ip := reservationAddr(hostIP)
	p.mu.Lock()
	defer p.mu.Unlock()
	k := protoPort{proto, port}
	held := p.held[k]
	for i, h := range held {
		if h.ip != ip {
			continue
		}
		if h.fd >= 0 {
			unix.Close(h.fd)
		}
		held = append(held[:i], held[i+1:]...)
		break
	}
	if len(held) == 0 {
		delete(p.held, k)
	} else {
		p.held[k] = held
	}
}

func (p *PortReservations) add(proto string, ip netip.Addr, port uint16, fd int) {
	k := protoPort{proto, port}
	p.held[k] = append(p.held[k], heldAddr{ip: ip, fd: fd})
}

// taken reports whether ip:port/proto overlaps a reservation: the same
// address, or either one the unspecified address of the same family.
func (p *PortReservations) taken(proto string, ip netip.Addr, port uint16) bool {
	for _, h := range p.held[protoPort{proto, port}] {
		if h.ip.Is4() != ip.Is4() {
			continue
		}
		if h.ip == ip || h.ip.IsUnspecified() || ip.IsUnspecified() {
			return true
		}
	}
	return false
}

func reservationAddr(ip netip.Addr) netip.Addr {
	if !ip.IsValid() {
		return netip.IPv4Unspecified()
	}
	return ip.Unmap().WithZone("")
}

// portAllocated is Docker's error for a host port already in use.
func portAllocated(ip netip.Addr, port uint16) error {
	return errdefs.Conflict(fmt.Errorf("Bind for %s failed: port is already allocated",
		net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))))
}

// bindPort holds ip:port/proto with a bound socket; -1 and no error when the
// kernel has no SCTP.
func bindPort(proto string, ip netip.Addr, port uint16) (int, error) {
	domain := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(port), Addr: ip.As16()}
	if ip.Is4() {
		domain = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(port), Addr: ip.As4()}
	}
	typ, prot := unix.SOCK_STREAM, 0
	switch proto {
	case "udp":
		typ = unix.SOCK_DGRAM
	case "sctp":
		prot = unix.IPPROTO_SCTP
	}
	fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, prot)
	if err != nil {
		if proto == "sctp" && (errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ESOCKTNOSUPPORT)) {
			return -1, nil
		}
		return -1, fmt.Errorf("reserve host port %d/%s: %w", port, proto, os.NewSyscallError("socket", err))
	}
	if ip.Is6() {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("reserve host port %d/%s: %w", port, proto, os.NewSyscallError("setsockopt", err))
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EADDRINUSE) {
			return -1, portAllocated(ip, port)
		}
		return -1, fmt.Errorf("Bind for %s failed: %w",
			net.JoinHostPort(ip.String(), strconv.Itoa(int(port))), os.NewSyscallError("bind", err))
	}
	return fd, nil
}

// localPortRange reads net.ipv4.ip_local_port_range.
func localPortRange() (lo, hi uint16, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, fmt.Errorf("read local port range: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("read local port range: unexpected %q", b)
	}
	l, err1 := strconv.ParseUint(f[0], 10, 16)
	h, err2 := strconv.ParseUint(f[1], 10, 16)
	if err := errors.Join(err1, err2); err != nil || l == 0 || l > h {
		return 0, 0, fmt.Errorf("read local port range: unexpected %q", b)
	}
	return uint16(l), uint16(h), nil
}
