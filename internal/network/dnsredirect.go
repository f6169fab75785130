package network

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The embedded DNS server's sockets are bound to 127.0.0.11 on ports the
// kernel picks, not on port 53, so a program in the container can bind
// 0.0.0.0:53 itself (a DNS server in a container on a user-defined
// network). A NAT rule in the container's namespace sends what the
// container addresses to 127.0.0.11:53 on to those ports, as dockerd does
// with its DOCKER_OUTPUT chain; conntrack turns the replies' source port
// back into 53. The table lives and dies with the namespace:
//
//	table ip berth-dns
//	  chain output nat/output/-100: ip daddr 127.0.0.11 udp dport 53 dnat to :UDP
//	                                ip daddr 127.0.0.11 tcp dport 53 dnat to :TCP
//
// Cost: one nftables batch in the new namespace per container start (a
// fraction of a millisecond); the namespace's first NAT rule also makes
// the kernel track its loopback connections, which nothing else there
// needs.
const dnsRedirectTable = "berth-dns"

// dnsResolverAddr is where containers send their queries (resolv.conf's
// nameserver).
var dnsResolverAddr = netip.AddrFrom4([4]byte{127, 0, 0, 11})

// redirectDNS makes (or remakes, for a restarted server) the redirect of
// 127.0.0.11:53 to udpPort and tcpPort in the namespace at netnsPath.
func redirectDNS(netnsPath string, udpPort, tcpPort uint16) error {
	fd, err := unix.Open(netnsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", netnsPath, err)
	}
	defer unix.Close(fd)
	c, err := nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting())
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", netnsPath, err)
	}
	defer c.CloseLasting()

	t := c.AddTable(&nftables.Table{Name: dnsRedirectTable, Family: nftables.TableFamilyIPv4})
	// A server started again in the same namespace (daemon restart) has
	// other ports: the old rules go in the same batch.
	c.FlushTable(t)
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
	for _, r := range []struct {
		proto byte
		port  uint16
	}{{unix.IPPROTO_UDP, udpPort}, {unix.IPPROTO_TCP, tcpPort}} {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dnsResolverAddr.AsSlice()},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(53)},
			&expr.Immediate{Register: 1, Data: dnsResolverAddr.AsSlice()},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.port)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("redirect 127.0.0.11:53 in %s: %w", netnsPath, err)
	}
	return nil
}
