package network

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"berth/internal/errdefs"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// The tests below never touch the host's rule set or interfaces: every
// table, bridge and veth lives in network namespaces the test creates
// (`ip netns add`, removed in t.Cleanup, which takes their devices and
// tables with them), and all traffic stays inside them.

// nftTestNS creates a network namespace with lo up and returns its name
// (its path is /run/netns/<name>).
func nftTestNS(t testing.TB, name string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) to create network namespaces")
	}
	full := fmt.Sprintf("bt%d-%s", os.Getpid(), name)
	nftTestIP(t, "netns", "add", full)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", full).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", full, err, out)
		}
	})
	nftTestIP(t, "-n", full, "link", "set", "lo", "up")
	// No duplicate address detection: link-local addresses would stay
	// tentative for a while and neighbour discovery with them.
	for _, key := range []string{"net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad"} {
		nftTestSysctl(t, full, key, "0")
	}
	return full
}

func nftTestIP(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// nftTestIn runs fn on a locked OS thread switched into namespace ns.
func nftTestIn(ns string, fn func() error) error {
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	defer func() {
		// A thread that cannot go back stays locked and dies with its goroutine.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return fn()
}

func nftTestSysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	err := nftTestIn(ns, func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0o644)
	})
	if err != nil {
		t.Fatalf("sysctl %s=%s in %s: %v", key, value, ns, err)
	}
}

// nftTestServe answers every TCP connection to port 80 and every UDP
// datagram to port 5353 in ns with "<name> <peer address>".
func nftTestServe(t testing.TB, ns, name string) {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	err := nftTestIn(ns, func() (err error) {
		if ln, err = net.Listen("tcp", ":80"); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp", ":5353")
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	t.Cleanup(func() { ln.Close(); pc.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peer := netip.MustParseAddrPort(c.RemoteAddr().String()).Addr().Unmap()
			fmt.Fprintf(c, "%s %s\n", name, peer)
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			peer := netip.MustParseAddrPort(from.String()).Addr().Unmap()
			pc.WriteTo(fmt.Appendf(nil, "%s %s\n", name, peer), from)
		}
	}()
}

// nftTestDial connects from ns to addr and returns what the server said:
// its name and the peer address it saw.
func nftTestDial(ns, network, addr string) (server, peer string, err error) {
	var reply string
	err = nftTestIn(ns, func() error {
		c, err := net.DialTimeout(network, addr, 800*time.Millisecond)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(800 * time.Millisecond))
		if network == "udp" {
			if _, err := c.Write([]byte("?")); err != nil {
				return err
			}
		}
		reply, err = bufio.NewReader(c).ReadString('\n')
		return err
	})
	if err != nil {
		return "", "", err
	}
	f := strings.Fields(reply)
	if len(f) != 2 {
		return "", "", fmt.Errorf("unexpected reply %q", reply)
	}
	return f[0], f[1], nil
}

// nftTopology is a "host" namespace with three bridges, an "outside"
// namespace behind a veth uplink, and container namespaces on the bridges.
type nftTopology struct {
	host, outside, c1, c2, c3, c4 string
	fwFD                          int
}

func newNFTTopology(t *testing.T) *nftTopology {
	t.Helper()
	tp := &nftTopology{
		host:    nftTestNS(t, "h"),
		outside: nftTestNS(t, "o"),
		c1:      nftTestNS(t, "c1"),
		c2:      nftTestNS(t, "c2"),
		c3:      nftTestNS(t, "c3"),
		c4:      nftTestNS(t, "c4"),
	}
	h := tp.host
	for _, br := range []struct{ name, v4, v6 string }{
		{"brA", "10.71.1.1/24", "fd71:1::1/64"},
		{"brB", "10.71.2.1/24", ""},
		{"brC", "10.71.3.1/24", ""},
	} {
		nftTestIP(t, "-n", h, "link", "add", br.name, "type", "bridge")
		nftTestIP(t, "-n", h, "addr", "add", br.v4, "dev", br.name)
		if br.v6 != "" {
			nftTestIP(t, "-n", h, "addr", "add", br.v6, "dev", br.name, "nodad")
		}
		nftTestIP(t, "-n", h, "link", "set", br.name, "up")
		nftTestSysctl(t, h, "net.ipv4.conf."+br.name+".route_localnet", "1")
	}
	nftTestSysctl(t, h, "net.ipv4.ip_forward", "1")
	nftTestSysctl(t, h, "net.ipv6.conf.all.forwarding", "1")
	tp.brNetfilter(t, "0")

	// The uplink to "outside".
	nftTestIP(t, "-n", h, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", tp.outside)
	nftTestIP(t, "-n", h, "addr", "add", "192.168.250.1/24", "dev", "up0")
	nftTestIP(t, "-n", h, "addr", "add", "fd71:ff::1/64", "dev", "up0", "nodad")
	nftTestIP(t, "-n", h, "link", "set", "up0", "up")
	o := tp.outside
	nftTestIP(t, "-n", o, "addr", "add", "192.168.250.2/24", "dev", "eth0")
	nftTestIP(t, "-n", o, "addr", "add", "fd71:ff::2/64", "dev", "eth0", "nodad")
	nftTestIP(t, "-n", o, "link", "set", "eth0", "up")
	nftTestIP(t, "-n", o, "route", "add", "default", "via", "192.168.250.1")
	nftTestIP(t, "-n", o, "-6", "route", "add", "default", "via", "fd71:ff::1")
	nftTestServe(t, o, "o")

	for _, c := range []struct{ ns, veth, bridge, v4, gw4, v6, gw6 string }{
		{tp.c1, "vc1", "brA", "10.71.1.2/24", "10.71.1.1", "fd71:1::2/64", "fd71:1::1"},
		{tp.c2, "vc2", "brA", "10.71.1.3/24", "10.71.1.1", "", ""},
		{tp.c3, "vc3", "brB", "10.71.2.2/24", "10.71.2.1", "", ""},
		{tp.c4, "vc4", "brC", "10.71.3.2/24", "10.71.3.1", "", ""},
	} {
		nftTestIP(t, "-n", h, "link", "add", c.veth, "type", "veth", "peer", "name", "eth0", "netns", c.ns)
		nftTestIP(t, "-n", h, "link", "set", c.veth, "master", c.bridge, "up")
		nftTestIP(t, "-n", c.ns, "addr", "add", c.v4, "dev", "eth0")
		if c.v6 != "" {
			nftTestIP(t, "-n", c.ns, "addr", "add", c.v6, "dev", "eth0", "nodad")
		}
		nftTestIP(t, "-n", c.ns, "link", "set", "eth0", "up")
		nftTestIP(t, "-n", c.ns, "route", "add", "default", "via", c.gw4)
		if c.gw6 != "" {
			nftTestIP(t, "-n", c.ns, "-6", "route", "add", "default", "via", c.gw6)
		}
		nftTestServe(t, c.ns, strings.TrimPrefix(c.veth, "v"))
	}

	fd, err := unix.Open("/run/netns/"+h, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	tp.fwFD = fd
	return tp
}

// brNetfilter sets whether bridged frames pass the IP hooks (br_netfilter)
// in the host namespace.
func (tp *nftTopology) brNetfilter(t *testing.T, v string) {
	t.Helper()
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		if v == "1" {
			t.Skip("br_netfilter is not loaded on this machine")
		}
		return
	}
	nftTestSysctl(t, tp.host, "net.bridge.bridge-nf-call-iptables", v)
	nftTestSysctl(t, tp.host, "net.bridge.bridge-nf-call-ip6tables", v)
}

func (tp *nftTopology) nft(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", tp.host, "nft"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type nftTraffic struct {
	name       string
	from       string // namespace
	network    string // "tcp" or "udp"
	addr       string
	wantServer string // "": the connection must be dropped (or refused, with wantRefused)
	wantPeer   string // "": any
	// wantRefused: nothing may answer, but the host may refuse (no rule
	// left to send the connection on to a container).
	wantRefused bool
}

func (tp *nftTopology) check(t *testing.T, cases []nftTraffic) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			network := tc.network
			if network == "" {
				network = "tcp"
			}
			server, peer, err := nftTestDial(tc.from, network, tc.addr)
			if tc.wantServer == "" {
				var ne net.Error
				if err == nil {
					t.Fatalf("%s %s: answered by %s (peer %s), want dropped", network, tc.addr, server, peer)
				}
				if tc.wantRefused && errors.Is(err, unix.ECONNREFUSED) {
					return
				}
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Fatalf("%s %s: %v, want a timeout (dropped)", network, tc.addr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s %s: %v", network, tc.addr, err)
			}
			if server != tc.wantServer {
				t.Errorf("%s %s: answered by %s, want %s", network, tc.addr, server, tc.wantServer)
			}
			if tc.wantPeer != "" && peer != tc.wantPeer {
				t.Errorf("%s %s: server saw peer %s, want %s", network, tc.addr, peer, tc.wantPeer)
			}
		})
	}
}

func nftTestRuleset(iccA bool) Ruleset {
	return Ruleset{
		Bridges: []BridgeRules{
			{Name: "brA", Subnets: []netip.Prefix{netip.MustParsePrefix("10.71.1.0/24"), netip.MustParsePrefix("fd71:1::/64")}, ICC: iccA, Masquerade: true},
			{Name: "brB", Subnets: []netip.Prefix{netip.MustParsePrefix("10.71.2.0/24")}, ICC: true},
			{Name: "brC", Subnets: []netip.Prefix{netip.MustParsePrefix("10.71.3.0/24")}, ICC: true, Internal: true, Masquerade: true},
		},
		Ports: []PortRule{
			{Proto: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("10.71.1.2"), ContainerPort: 80, Bridge: "brA"},
			{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: 8080, ContainerIP: netip.MustParseAddr("fd71:1::2"), ContainerPort: 80, Bridge: "brA"},
			{Proto: "tcp", HostIP: netip.MustParseAddr("10.71.1.1"), HostPort: 8082, ContainerIP: netip.MustParseAddr("10.71.1.3"), ContainerPort: 80, Bridge: "brA"},
			{Proto: "tcp", HostIP: netip.MustParseAddr("192.168.250.1"), HostPort: 8082, ContainerIP: netip.MustParseAddr("10.71.1.2"), ContainerPort: 80, Bridge: "brA"},
			{Proto: "udp", HostIP: netip.IPv4Unspecified(), HostPort: 8083, ContainerIP: netip.MustParseAddr("10.71.1.2"), ContainerPort: 5353, Bridge: "brA"},
		},
	}
}

func TestFirewall(t *testing.T) {
	tp := newNFTTopology(t)
	// dockerd's iptables-nft leaves FORWARD with policy drop; berth must
	// still forward its own traffic, and leave the chain's other rules be.
	tp.nft(t, `
table ip filter {
	chain FORWARD {
		type filter hook forward priority filter; policy drop;
		counter comment "keep"
	}
}
table ip6 filter {
	chain FORWARD {
		type filter hook forward priority filter; policy drop;
	}
}
`, "-f", "-")

	fw := newFirewallInNetNS("berth", tp.fwFD)
	t.Cleanup(func() {
		if err := fw.Delete(); err != nil {
			t.Errorf("Delete: %v", err)
		}
	})
	if err := fw.Apply(nftTestRuleset(true)); err != nil {
		t.Fatalf("Apply: %v", err)
	}

	t.Run("published", func(t *testing.T) {
		tp.check(t, []nftTraffic{
			{name: "host loopback", from: tp.host, addr: "127.0.0.1:8080", wantServer: "c1", wantPeer: "10.71.1.1"},
			{name: "host own address", from: tp.host, addr: "10.71.1.1:8080", wantServer: "c1", wantPeer: "10.71.1.1"},
			{name: "outside", from: tp.outside, addr: "192.168.250.1:8080", wantServer: "c1", wantPeer: "192.168.250.2"},
			{name: "outside v6", from: tp.outside, addr: "[fd71:ff::1]:8080", wantServer: "c1", wantPeer: "fd71:ff::2"},
			{name: "host v6", from: tp.host, addr: "[fd71:ff::1]:8080", wantServer: "c1"},
			{name: "outside udp", from: tp.outside, network: "udp", addr: "192.168.250.1:8083", wantServer: "c1", wantPeer: "192.168.250.2"},
			{name: "hairpin via gateway", from: tp.c2, addr: "10.71.1.1:8080", wantServer: "c1", wantPeer: "10.71.1.1"},
			{name: "hairpin via uplink address", from: tp.c2, addr: "192.168.250.1:8080", wantServer: "c1", wantPeer: "10.71.1.1"},
			{name: "same port on bridge address", from: tp.host, addr: "10.71.1.1:8082", wantServer: "c2"},
			{name: "same port on uplink address", from: tp.outside, addr: "192.168.250.1:8082", wantServer: "c1"},
			{name: "from another bridge", from: tp.c3, addr: "10.71.2.1:8080", wantServer: "c1"},
			{name: "unpublished from outside", from: tp.outside, addr: "10.71.1.2:80"},
		})
	})
	t.Run("masquerade", func(t *testing.T) {
		tp.check(t, []nftTraffic{
			{name: "on", from: tp.c1, addr: "192.168.250.2:80", wantServer: "o", wantPeer: "192.168.250.1"},
			{name: "off", from: tp.c3, addr: "192.168.250.2:80", wantServer: "o", wantPeer: "10.71.2.2"},
		})
	})
	t.Run("isolation", func(t *testing.T) {
		tp.check(t, []nftTraffic{
			{name: "A to B", from: tp.c1, addr: "10.71.2.2:80"},
			{name: "B to A", from: tp.c3, addr: "10.71.1.2:80"},
			{name: "internal to outside", from: tp.c4, addr: "192.168.250.2:80"},
			{name: "A to internal", from: tp.c1, addr: "10.71.3.2:80"},
			{name: "host to internal", from: tp.host, addr: "10.71.3.2:80", wantServer: "c4", wantPeer: "10.71.3.1"},
			{name: "same bridge", from: tp.c1, addr: "10.71.1.3:80", wantServer: "c2", wantPeer: "10.71.1.2"},
		})
	})

	tagged := func() int {
		return strings.Count(tp.nft(t, "", "list", "chain", "ip", "filter", "FORWARD"), `comment "berth"`) +
			strings.Count(tp.nft(t, "", "list", "chain", "ip6", "filter", "FORWARD"), `comment "berth"`)
	}
	if n := tagged(); n != 12 {
		t.Errorf("tagged rules in filter FORWARD chains: %d, want 12 (2 per bridge, ip and ip6)", n)
	}

	// Apply again, with ICC off on brA: the state is replaced, not added to.
	if err := fw.Apply(nftTestRuleset(false)); err != nil {
		t.Fatalf("Apply without ICC: %v", err)
	}
	if n := tagged(); n != 12 {
		t.Errorf("tagged rules after a second Apply: %d, want 12", n)
	}
	for _, brnf := range []string{"0", "1"} {
		t.Run("icc off br_netfilter="+brnf, func(t *testing.T) {
			tp.brNetfilter(t, brnf)
			t.Cleanup(func() { tp.brNetfilter(t, "0") })
			tp.check(t, []nftTraffic{
				{name: "same bridge", from: tp.c1, addr: "10.71.1.3:80"},
				{name: "same bridge reverse", from: tp.c2, addr: "10.71.1.2:80"},
				{name: "published still", from: tp.outside, addr: "192.168.250.1:8080", wantServer: "c1"},
				{name: "outbound still", from: tp.c2, addr: "192.168.250.2:80", wantServer: "o", wantPeer: "192.168.250.1"},
			})
		})
	}

	if err := fw.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := fw.Delete(); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	ruleset := tp.nft(t, "", "list", "ruleset")
	if strings.Contains(ruleset, "berth") {
		t.Errorf("berth's rules left after Delete:\n%s", ruleset)
	}
	if !strings.Contains(ruleset, `comment "keep"`) {
		t.Errorf("Delete removed a rule it does not own:\n%s", ruleset)
	}
	tp.check(t, []nftTraffic{{name: "gone after Delete", from: tp.outside, addr: "192.168.250.1:8080", wantRefused: true}})
}

// TestFirewallPortsUpdate: with the bridges unchanged, Apply only swaps
// the published ports (berth's tables are not made anew), and when the
// tables went behind its back it builds them again.
func TestFirewallPortsUpdate(t *testing.T) {
	tp := newNFTTopology(t)
	fw := newFirewallInNetNS("berth", tp.fwFD)
	t.Cleanup(func() {
		if err := fw.Delete(); err != nil {
			t.Errorf("Delete: %v", err)
		}
	})
	tableHandle := func() string {
		out := tp.nft(t, "", "-a", "list", "table", "inet", "berth")
		_, rest, _ := strings.Cut(out, "# handle ")
		h, _, _ := strings.Cut(rest, "\n")
		return h
	}
	rs := nftTestRuleset(true)
	if err := fw.Apply(rs); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	before := tableHandle()

	// c1's 8080 goes away, c2 gets 8090.
	rs.Ports = append(slices.Clone(rs.Ports[1:]), PortRule{Proto: "tcp", HostPort: 8090,
		ContainerIP: netip.MustParseAddr("10.71.1.3"), ContainerPort: 80, Bridge: "brA"})
	if err := fw.Apply(rs); err != nil {
		t.Fatalf("Apply with other ports: %v", err)
	}
	if after := tableHandle(); after != before || before == "" {
		t.Errorf("table inet berth was made anew (handle %q, then %q) for a change of ports", before, after)
	}
	tp.check(t, []nftTraffic{
		{name: "new port", from: tp.outside, addr: "192.168.250.1:8090", wantServer: "c2", wantPeer: "192.168.250.2"},
		{name: "removed port", from: tp.outside, addr: "192.168.250.1:8080", wantRefused: true},
		{name: "kept v6 port", from: tp.outside, addr: "[fd71:ff::1]:8080", wantServer: "c1"},
		{name: "isolation kept", from: tp.c1, addr: "10.71.2.2:80"},
	})

	// Someone removed berth's table: the next Apply makes everything again.
	tp.nft(t, "", "delete", "table", "inet", "berth")
	rs.Ports = rs.Ports[:len(rs.Ports)-1]
	if err := fw.Apply(rs); err != nil {
		t.Fatalf("Apply after the table was deleted: %v", err)
	}
	tp.check(t, []nftTraffic{
		{name: "rebuilt", from: tp.outside, addr: "[fd71:ff::1]:8080", wantServer: "c1"},
		{name: "rebuilt isolation", from: tp.c1, addr: "10.71.2.2:80"},
		{name: "dropped port", from: tp.outside, addr: "192.168.250.1:8090", wantRefused: true},
	})
}

func TestFirewallInvalid(t *testing.T) {
	fw := NewFirewall("unused") // fails validation before touching netlink
	c := netip.MustParseAddr("10.0.0.2")
	for _, tc := range []struct {
		name string
		rs   Ruleset
	}{
		{"bad proto", Ruleset{Ports: []PortRule{{Proto: "icmp", HostPort: 1, ContainerIP: c, ContainerPort: 1}}}},
		{"no host port", Ruleset{Ports: []PortRule{{Proto: "tcp", ContainerIP: c, ContainerPort: 1}}}},
		{"no container address", Ruleset{Ports: []PortRule{{Proto: "tcp", HostPort: 1, ContainerPort: 1}}}},
		{"mixed families", Ruleset{Ports: []PortRule{{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: 1, ContainerIP: c, ContainerPort: 1}}}},
		{"long bridge name", Ruleset{Bridges: []BridgeRules{{Name: "a-name-too-long-for-linux"}}}},
		{"bridge twice", Ruleset{Bridges: []BridgeRules{{Name: "br0"}, {Name: "br0"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := fw.Apply(tc.rs); !errdefs.IsInvalid(err) {
				t.Fatalf("Apply: %v, want an Invalid error", err)
			}
		})
	}
}

// BenchmarkApply measures a full replacement with 20 bridges and 200
// published ports, in a namespace of its own; BenchmarkApplyPorts the
// update that a container start or stop makes (the same bridges).
func BenchmarkApply(b *testing.B) { benchmarkApply(b, true) }

func BenchmarkApplyPorts(b *testing.B) { benchmarkApply(b, false) }

func benchmarkApply(b *testing.B, full bool) {
	ns := nftTestNS(b, "bench")
	fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	var rs Ruleset
	for i := range 20 {
		rs.Bridges = append(rs.Bridges, BridgeRules{
			Name:       fmt.Sprintf("br-%012x", i),
			Subnets:    []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(18 + i), 0, 0}), 16)},
			ICC:        i%2 == 0,
			Masquerade: true,
		})
	}
	for i := range 200 {
		br := i % 20
		rs.Ports = append(rs.Ports, PortRule{
			Proto: []string{"tcp", "udp"}[i%2], HostPort: uint16(10000 + i),
			ContainerIP: netip.AddrFrom4([4]byte{172, byte(18 + br), 0, byte(2 + i/20)}), ContainerPort: 80,
			Bridge: rs.Bridges[br].Name,
		})
	}
	fw := newFirewallInNetNS("berth", fd)
	if err := fw.Apply(rs); err != nil {
		b.Fatal(err)
	}
	// Without the last port, then with it: one container stopping and
	// starting.
	less := Ruleset{Bridges: rs.Bridges, Ports: rs.Ports[:len(rs.Ports)-1]}
	i := 0
	for b.Loop() {
		if full {
			fw.applied = nil // forget what is there: a rebuild
		}
		next := rs
		if i++; i%2 == 1 {
			next = less
		}
		if err := fw.Apply(next); err != nil {
			b.Fatal(err)
		}
	}
	if err := fw.Apply(rs); err != nil {
		b.Fatal(err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		b.Fatal(err)
	}
	rules, err := c.GetRules(&nftables.Table{Name: "berth", Family: nftables.TableFamilyINet}, &nftables.Chain{Name: "ports"})
	if err != nil || len(rules) != 200 {
		b.Fatalf("ports chain: %d rules, %v; want 200", len(rules), err)
	}
}
