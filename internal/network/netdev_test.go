package network

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// Every device these tests make lives in namespaces the tests made: a
// throwaway "host" namespace stands in for the real host, so the machine's own
// interfaces are never touched.

func needRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to make namespaces and devices")
	}
}

// testNS makes a namespace under the test's temp dir, deleted at cleanup.
func testNS(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "netns", "ns")
	if err := CreateNetNS(path); err != nil {
		tb.Fatalf("CreateNetNS: %v", err)
	}
	tb.Cleanup(func() {
		if err := DeleteNetNS(path); err != nil {
			tb.Errorf("DeleteNetNS: %v", err)
		}
	})
	return path
}

// testName is a unique device name (at most 15 bytes). At cleanup the test
// fails if a device of that name exists in the real host namespace.
func testName(tb testing.TB, prefix string) string {
	tb.Helper()
	name := fmt.Sprintf("%s%06x", prefix, rand.Uint32()&0xffffff)
	tb.Cleanup(func() {
		if _, err := netlink.LinkByName(name); err == nil {
			tb.Errorf("device %s was left on the host", name)
		}
	})
	return name
}

func inNS(tb testing.TB, path string, fn func() error) {
	tb.Helper()
	if err := InNetNS(path, fn); err != nil {
		tb.Fatal(err)
	}
}

// handleIn is a netlink handle working inside the namespace at path.
func handleIn(tb testing.TB, path string) *netlink.Handle {
	tb.Helper()
	nsh, err := netns.GetFromPath(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Close)
	return h
}

func linkNames(tb testing.TB, h *netlink.Handle) []string {
	tb.Helper()
	links, err := h.LinkList()
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	return names
}

// serveIn listens on TCP inside the namespace; every connection is answered
// with greeting and closed.
func serveIn(tb testing.TB, path, addr, greeting string) net.Addr {
	tb.Helper()
	var ln net.Listener
	inNS(tb, path, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, greeting)
			c.Close()
		}
	}()
	return ln.Addr()
}

// dialFrom connects from inside the namespace and returns what the server said.
func dialFrom(path, addr string) (string, error) {
	var got []byte
	err := InNetNS(path, func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			return err
		}
		got, err = io.ReadAll(c)
		return err
	})
	return string(got), err
}

func mustReach(t *testing.T, from, addr, want string) {
	t.Helper()
	got, err := dialFrom(from, addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if got != want {
		t.Fatalf("dial %s: got %q, want %q", addr, got, want)
	}
}

func readSysctl(tb testing.TB, nsPath, path string) string {
	tb.Helper()
	var v []byte
	inNS(tb, nsPath, func() error {
		var err error
		v, err = os.ReadFile(path)
		return err
	})
	return strings.TrimSpace(string(v))
}

func addrsOf(tb testing.TB, h *netlink.Handle, link netlink.Link) []string {
	tb.Helper()
	as, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, a := range as {
		p, _ := ipNetToPrefix(a.IPNet)
		if p.Addr().IsLinkLocalUnicast() {
			continue
		}
		out = append(out, p.String())
	}
	return out
}

func TestCreateNetNS(t *testing.T) {
	needRoot(t)
	path := filepath.Join(t.TempDir(), "a", "b", "ns") // parent dirs are made
	if err := CreateNetNS(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = DeleteNetNS(path) })

	var st, self unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/proc/self/ns/net", &self); err != nil {
		t.Fatal(err)
	}
	if st.Ino == self.Ino {
		t.Fatal("pinned namespace is the host's")
	}

	h := handleIn(t, path)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if lo.Attrs().Flags&net.FlagUp == 0 {
		t.Error("lo is not up")
	}
	if names := linkNames(t, h); len(names) != 1 {
		t.Errorf("links in new namespace: %v, want only lo", names)
	}

	if err := CreateNetNS(path); !errors.Is(err, os.ErrExist) {
		t.Errorf("CreateNetNS on a pinned path: %v, want ErrExist", err)
	}
	if err := DeleteNetNS(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("path still there after DeleteNetNS: %v", err)
	}
	if err := DeleteNetNS(path); err != nil {
		t.Errorf("DeleteNetNS of a missing path: %v", err)
	}
}

func TestInNetNS(t *testing.T) {
	needRoot(t)
	path := testNS(t)
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		path    string
		fn      func() error
		wantErr error
	}{
		{"sees only lo", path, func() error {
			ifs, err := net.Interfaces()
			if err != nil {
				return err
			}
			if len(ifs) != 1 || ifs[0].Name != "lo" {
				return fmt.Errorf("interfaces %v, want only lo", ifs)
			}
			return nil
		}, nil},
		{"error from fn", path, func() error { return errBoom }, errBoom},
		{"missing namespace", filepath.Join(t.TempDir(), "nope"), func() error {
			return errors.New("fn ran without a namespace")
		}, os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := InNetNS(tc.path, tc.fn)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("InNetNS: %v, want %v", err, tc.wantErr)
			}
		})
	}

	t.Run("panic reaches the caller", func(t *testing.T) {
		defer func() {
			if v := recover(); v != "inside" {
				t.Fatalf("recovered %v, want the panic value", v)
			}
		}()
		_ = InNetNS(path, func() error { panic("inside") })
	})

	// The caller's thread never left the host namespace.
	if ifs, _ := net.Interfaces(); len(ifs) < 2 {
		t.Errorf("host interfaces after InNetNS: %v", ifs)
	}
}

func TestVethOnBridge(t *testing.T) {
	needRoot(t)
	host, c1, c2 := testNS(t), testNS(t), testNS(t)
	brName := testName(t, "bt")
	veth1, veth2 := testName(t, "vt"), testName(t, "vt")
	hh := handleIn(t, host)

	inNS(t, host, func() error { return EnableForwarding(true) })
	for _, p := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		if v := readSysctl(t, host, p); v != "1" {
			t.Errorf("%s = %s, want 1", p, v)
		}
	}

	gw4, gw6 := netip.MustParsePrefix("10.77.0.1/24"), netip.MustParsePrefix("fd77::1/64")
	stale := netip.MustParsePrefix("10.78.0.1/24")
	bridges := []Bridge{
		{Name: brName, Addrs: []netip.Prefix{gw4, stale}},
		{Name: brName, Addrs: []netip.Prefix{gw4, gw6}, MTU: 1400}, // drops stale, adds v6 and MTU
		{Name: brName, Addrs: []netip.Prefix{gw4, gw6}, MTU: 1400}, // idempotent
	}
	for i, b := range bridges {
		inNS(t, host, func() error { return EnsureBridge(b) })
		br, err := hh.LinkByName(brName)
		if err != nil {
			t.Fatalf("EnsureBridge #%d: %v", i, err)
		}
		var want []string
		for _, p := range b.Addrs {
			want = append(want, p.String())
		}
		if got := addrsOf(t, hh, br); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("EnsureBridge #%d: addresses %v, want %v", i, got, want)
		}
		if br.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("EnsureBridge #%d: bridge is down", i)
		}
		if b.MTU != 0 && br.Attrs().MTU != b.MTU {
			t.Errorf("EnsureBridge #%d: mtu %d, want %d", i, br.Attrs().MTU, b.MTU)
		}
	}
	if v := readSysctl(t, host, "/proc/sys/net/ipv4/conf/"+brName+"/route_localnet"); v != "1" {
		t.Errorf("route_localnet = %s, want 1", v)
	}
	if v := readSysctl(t, host, "/proc/sys/net/ipv6/conf/"+brName+"/disable_ipv6"); v != "0" {
		t.Errorf("disable_ipv6 = %s, want 0", v)
	}

	links := []Link{
		{NetNSPath: c1, Bridge: brName, HostName: veth1, IfName: "eth0", MTU: 1400, Hairpin: true,
			Addrs:    []netip.Prefix{netip.MustParsePrefix("10.77.0.2/24"), netip.MustParsePrefix("fd77::2/64")},
			Gateway4: gw4.Addr(), Gateway6: gw6.Addr(), MAC: MACFor(netip.MustParseAddr("10.77.0.2"))},
		{NetNSPath: c2, Bridge: brName, HostName: veth2, IfName: "eth0", MTU: 1400,
			Addrs:    []netip.Prefix{netip.MustParsePrefix("10.77.0.3/24"), netip.MustParsePrefix("fd77::3/64")},
			Gateway4: gw4.Addr(), Gateway6: gw6.Addr()},
	}
	for _, l := range links {
		inNS(t, host, func() error { return AddLink(l) })
	}
	br, err := hh.LinkByName(brName)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		hostEnd, err := hh.LinkByName(l.HostName)
		if err != nil {
			t.Fatalf("host end %s: %v", l.HostName, err)
		}
		if hostEnd.Attrs().MasterIndex != br.Attrs().Index || hostEnd.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("%s: master %d up %v, want bridge %d and up", l.HostName,
				hostEnd.Attrs().MasterIndex, hostEnd.Attrs().Flags&net.FlagUp != 0, br.Attrs().Index)
		}
		pi, err := hh.LinkGetProtinfo(hostEnd)
		if err != nil {
			t.Fatal(err)
		}
		if pi.Hairpin != l.Hairpin {
			t.Errorf("%s: hairpin %v, want %v", l.HostName, pi.Hairpin, l.Hairpin)
		}

		ch := handleIn(t, l.NetNSPath)
		in, err := ch.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if in.Attrs().MTU != 1400 || in.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("eth0: mtu %d up %v", in.Attrs().MTU, in.Attrs().Flags&net.FlagUp != 0)
		}
		if l.MAC != nil && in.Attrs().HardwareAddr.String() != l.MAC.String() {
			t.Errorf("eth0: mac %s, want %s", in.Attrs().HardwareAddr, l.MAC)
		}
		if got, want := strings.Join(addrsOf(t, ch, in), " "), l.Addrs[0].String()+" "+l.Addrs[1].String(); got != want {
			t.Errorf("eth0 addresses %q, want %q", got, want)
		}
		routes, err := ch.RouteList(nil, netlink.FAMILY_ALL)
		if err != nil {
			t.Fatal(err)
		}
		gws := map[string]bool{}
		for _, r := range routes {
			if p, ok := ipNetToPrefix(r.Dst); (!ok || p.Bits() == 0) && r.Gw != nil {
				gws[r.Gw.String()] = true
			}
		}
		if !gws["10.77.0.1"] || !gws["fd77::1"] {
			t.Errorf("default routes via %v, want 10.77.0.1 and fd77::1", gws)
		}
	}

	// Real traffic both ways and over both families, bridged in the host namespace.
	a1 := serveIn(t, c1, ":0", "from c1")
	port := fmt.Sprint(a1.(*net.TCPAddr).Port)
	mustReach(t, c2, "10.77.0.2:"+port, "from c1")
	mustReach(t, c2, "[fd77::2]:"+port, "from c1")
	a2 := serveIn(t, c2, ":0", "from c2")
	mustReach(t, c1, net.JoinHostPort("10.77.0.3", fmt.Sprint(a2.(*net.TCPAddr).Port)), "from c2")

	for _, l := range links {
		for range 2 { // the second removal finds nothing, which is fine
			inNS(t, host, func() error { return RemoveLink(l) })
		}
		if _, err := hh.LinkByName(l.HostName); err == nil {
			t.Errorf("%s still on the host after RemoveLink", l.HostName)
		}
		if names := linkNames(t, handleIn(t, l.NetNSPath)); len(names) != 1 {
			t.Errorf("links left in container: %v", names)
		}
	}
	for range 2 {
		inNS(t, host, func() error { return DeleteBridge(brName) })
	}
	if _, err := hh.LinkByName(brName); err == nil {
		t.Error("bridge still there after DeleteBridge")
	}
}

func TestAddLinkFailureLeavesNothing(t *testing.T) {
	needRoot(t)
	host := testNS(t)
	hh := handleIn(t, host)
	brName := testName(t, "bt")
	inNS(t, host, func() error {
		return EnsureBridge(Bridge{Name: brName, Addrs: []netip.Prefix{netip.MustParsePrefix("10.79.0.1/24")}})
	})
	t.Cleanup(func() { _ = InNetNS(host, func() error { return DeleteBridge(brName) }) })

	addr := []netip.Prefix{netip.MustParsePrefix("10.79.0.2/24")}
	tests := []struct {
		name    string
		link    Link
		wantErr error // class, if any
	}{
		{"missing bridge", Link{Bridge: "nosuchbr0", IfName: "eth0", Addrs: addr}, errdefs.ErrNotFound},
		{"no interface name", Link{Bridge: brName, Addrs: addr}, errdefs.ErrInvalid},
		{"gateway off the subnet", Link{Bridge: brName, IfName: "eth0", Addrs: addr,
			Gateway4: netip.MustParseAddr("10.80.0.1")}, nil},
		{"address clash inside", Link{Bridge: brName, IfName: "eth0",
			Addrs: []netip.Prefix{addr[0], addr[0]}}, nil},
		{"name taken inside", Link{Bridge: brName, IfName: "lo", Addrs: addr}, errdefs.ErrConflict},
		{"bad mtu", Link{Bridge: brName, IfName: "eth0", Addrs: addr, MTU: 10}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testNS(t)
			tc.link.NetNSPath = c
			tc.link.HostName = testName(t, "vt")
			err := InNetNS(host, func() error { return AddLink(tc.link) })
			if err == nil {
				t.Fatal("AddLink succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("AddLink: %v, want class %v", err, tc.wantErr)
			}
			if _, lerr := hh.LinkByName(tc.link.HostName); lerr == nil {
				t.Errorf("host end %s left after %v", tc.link.HostName, err)
			}
			if names := linkNames(t, handleIn(t, c)); len(names) != 1 {
				t.Errorf("links left in container after %v: %v", err, names)
			}
		})
	}
	if names := linkNames(t, hh); len(names) != 2 {
		t.Errorf("host namespace holds %v, want lo and the bridge", names)
	}
}

func TestEnsureBridgeRefusesOtherDevices(t *testing.T) {
	needRoot(t)
	host := testNS(t)
	hh := handleIn(t, host)
	name := testName(t, "vt")
	veth := netlink.NewVeth(netlink.LinkAttrs{Name: name, TxQLen: -1})
	veth.PeerName = name + "p"
	if err := hh.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	err := InNetNS(host, func() error { return EnsureBridge(Bridge{Name: name}) })
	if !errdefs.IsConflict(err) {
		t.Errorf("EnsureBridge on a veth: %v, want conflict", err)
	}
	err = InNetNS(host, func() error { return DeleteBridge(name) })
	if !errdefs.IsConflict(err) {
		t.Errorf("DeleteBridge on a veth: %v, want conflict", err)
	}
	if _, err := hh.LinkByName(name); err != nil {
		t.Errorf("veth was touched: %v", err)
	}
}

// segment makes, in host, a veth whose other end sits in a new "external"
// namespace with ext as its address: a parent for macvlan devices and a test
// machine on its segment. It returns the parent's name and the external namespace.
func segment(t *testing.T, host string, ext netip.Prefix) (string, string) {
	t.Helper()
	hh := handleIn(t, host)
	extNS := testNS(t)
	parent := testName(t, "pv")
	nsh, err := netns.GetFromPath(extNS)
	if err != nil {
		t.Fatal(err)
	}
	defer nsh.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = parent
	attrs.Flags = net.FlagUp
	veth := netlink.NewVeth(attrs)
	veth.PeerName = "ext0"
	veth.PeerNamespace = netlink.NsFd(nsh)
	if err := hh.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	eh := handleIn(t, extNS)
	configureExt(t, eh, "ext0", ext)
	return parent, extNS
}

func configureExt(t *testing.T, h *netlink.Handle, name string, p netip.Prefix) {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(link, newAddr(p)); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
}

func TestMacvlan(t *testing.T) {
	needRoot(t)
	host := testNS(t)
	parent, ext := segment(t, host, netip.MustParsePrefix("192.168.77.1/24"))
	hh := handleIn(t, host)
	extAddr := serveIn(t, ext, "192.168.77.1:0", "from ext")

	var links []Link
	for i, ip := range []string{"192.168.77.2", "192.168.77.3"} {
		l := Link{NetNSPath: testNS(t), Parent: parent, IfName: "eth0",
			MAC: MACFor(netip.MustParseAddr(ip)), Addrs: []netip.Prefix{netip.MustParsePrefix(ip + "/24")},
			Gateway4: netip.MustParseAddr("192.168.77.1")}
		inNS(t, host, func() error { return AddLink(l) })
		links = append(links, l)

		in, err := handleIn(t, l.NetNSPath).LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		mv, ok := in.(*netlink.Macvlan)
		if !ok || mv.Mode != netlink.MACVLAN_MODE_BRIDGE {
			t.Fatalf("container %d eth0 is %T %+v, want a bridge-mode macvlan", i, in, in)
		}
		if in.Attrs().HardwareAddr.String() != l.MAC.String() {
			t.Errorf("mac %s, want %s", in.Attrs().HardwareAddr, l.MAC)
		}
	}
	// A test machine on the parent's segment, and sibling to sibling.
	mustReach(t, links[0].NetNSPath, extAddr.String(), "from ext")
	mustReach(t, links[1].NetNSPath, extAddr.String(), "from ext")
	a := serveIn(t, links[0].NetNSPath, "192.168.77.2:0", "from c0")
	mustReach(t, links[1].NetNSPath, a.String(), "from c0")

	for _, l := range links {
		for range 2 {
			inNS(t, host, func() error { return RemoveLink(l) })
		}
		if names := linkNames(t, handleIn(t, l.NetNSPath)); len(names) != 1 {
			t.Errorf("links left in container: %v", names)
		}
	}
	if _, err := hh.LinkByName(parent); err != nil {
		t.Errorf("parent gone after RemoveLink: %v", err)
	}
}

func TestMacvlanBadParent(t *testing.T) {
	needRoot(t)
	host := testNS(t)
	parent, _ := segment(t, host, netip.MustParsePrefix("192.168.79.1/24"))
	hh := handleIn(t, host)
	addr := []netip.Prefix{netip.MustParsePrefix("192.168.79.2/24")}
	tests := []struct {
		parent  string
		gw      netip.Addr
		wantMsg string // exact, when set
	}{
		{"nosuch0", netip.Addr{}, "invalid subinterface vlan name nosuch0, example formatting is eth0.10"},
		{"nosuch0.10", netip.Addr{}, "-o parent interface was not found on the host: nosuch0"},
		{parent + ".x", netip.Addr{}, "unable to parse a valid vlan id from: x (ex. eth0.10 for vlan 10)"},
		{parent + ".5000", netip.Addr{}, "vlan id must be between 1-4094, received: 5000"},
		{"a.b.c", netip.Addr{}, "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received: a.b.c"},
		// Fails after the device (and, where the kernel has 802.1q, the VLAN) was made.
		{parent + ".11", netip.MustParseAddr("10.81.0.1"), ""},
		{parent, netip.MustParseAddr("10.81.0.1"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.parent, func(t *testing.T) {
			c := testNS(t)
			l := Link{NetNSPath: c, Parent: tc.parent, IfName: "eth0", Addrs: addr, Gateway4: tc.gw}
			err := InNetNS(host, func() error { return AddLink(l) })
			if err == nil {
				t.Fatal("AddLink succeeded")
			}
			if tc.wantMsg != "" && (err.Error() != tc.wantMsg || !errdefs.IsInvalid(err)) {
				t.Errorf("AddLink: %q (invalid: %v), want %q", err, errdefs.IsInvalid(err), tc.wantMsg)
			}
			if _, lerr := hh.LinkByName(tc.parent); lerr == nil && tc.parent != parent {
				t.Errorf("%s left on the host after %v", tc.parent, err)
			}
			if names := linkNames(t, handleIn(t, c)); len(names) != 1 {
				t.Errorf("links left in container after %v: %v", err, names)
			}
		})
	}

	exists := map[string]bool{parent: true, parent + ".10": true, "nosuch0": false, "nosuch0.10": false, "": false}
	for p, want := range exists {
		var got bool
		inNS(t, host, func() error { got = ParentExists(p); return nil })
		if got != want {
			t.Errorf("ParentExists(%q) = %v, want %v", p, got, want)
		}
	}
}

// vlanSupported reports whether the kernel can make 802.1q devices.
func vlanSupported(t *testing.T) bool {
	h := handleIn(t, testNS(t))
	veth := netlink.NewVeth(netlink.LinkAttrs{Name: "probe0", TxQLen: -1})
	veth.PeerName = "probe1"
	if err := h.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.ParentIndex = "probe0.5", veth.Index
	return h.LinkAdd(&netlink.Vlan{LinkAttrs: attrs, VlanId: 5}) == nil
}

func TestMacvlanOnVLAN(t *testing.T) {
	needRoot(t)
	if !vlanSupported(t) {
		t.Skip("kernel lacks 802.1q VLAN devices (CONFIG_VLAN_8021Q)")
	}
	host := testNS(t)
	parent, ext := segment(t, host, netip.MustParsePrefix("192.168.80.1/24"))
	hh, eh := handleIn(t, host), handleIn(t, ext)
	base, err := eh.LinkByName("ext0")
	if err != nil {
		t.Fatal(err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.ParentIndex = "ext0.10", base.Attrs().Index
	if err := eh.LinkAdd(&netlink.Vlan{LinkAttrs: attrs, VlanId: 10}); err != nil {
		t.Fatal(err)
	}
	configureExt(t, eh, "ext0.10", netip.MustParsePrefix("192.168.81.1/24"))
	extAddr := serveIn(t, ext, "192.168.81.1:0", "from vlan 10")

	vlan := parent + ".10"
	l := Link{NetNSPath: testNS(t), Parent: vlan, IfName: "eth0",
		Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.81.2/24")}}
	inNS(t, host, func() error { return AddLink(l) })
	sub, err := hh.LinkByName(vlan)
	if err != nil {
		t.Fatalf("VLAN sub-interface not made: %v", err)
	}
	if v, ok := sub.(*netlink.Vlan); !ok || v.VlanId != 10 || sub.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("%s is %+v, want VLAN 10 and up", vlan, sub)
	}
	mustReach(t, l.NetNSPath, extAddr.String(), "from vlan 10")

	inNS(t, host, func() error { return RemoveLink(l) })
	for range 2 {
		inNS(t, host, func() error { return RemoveVLAN(vlan) })
	}
	if _, err := hh.LinkByName(vlan); err == nil {
		t.Error("VLAN sub-interface left after RemoveVLAN")
	}
	if err := InNetNS(host, func() error { return RemoveVLAN(parent) }); err != nil {
		t.Errorf("RemoveVLAN of a plain parent: %v", err)
	}
	if _, err := hh.LinkByName(parent); err != nil {
		t.Errorf("RemoveVLAN removed the base interface: %v", err)
	}
}

func TestHostRoutes(t *testing.T) {
	needRoot(t)
	host := testNS(t)
	parent, _ := segment(t, host, netip.MustParsePrefix("10.90.0.2/24"))
	hh := handleIn(t, host)
	configureExt(t, hh, parent, netip.MustParsePrefix("10.90.0.1/24"))
	link, err := hh.LinkByName(parent)
	if err != nil {
		t.Fatal(err)
	}
	def := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP("10.90.0.254"),
		Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}}
	if err := hh.RouteAdd(def); err != nil {
		t.Fatal(err)
	}
	var routes []netip.Prefix
	inNS(t, host, func() error {
		var err error
		routes, err = HostRoutes()
		return err
	})
	var found bool
	for _, r := range routes {
		if r.Bits() == 0 {
			t.Errorf("default route listed: %v", r)
		}
		found = found || r == netip.MustParsePrefix("10.90.0.0/24")
	}
	if !found {
		t.Errorf("HostRoutes %v lacks 10.90.0.0/24", routes)
	}
}

func TestMACFor(t *testing.T) {
	tests := []struct {
		ip   string
		want string
	}{
		{"172.17.0.2", "02:42:ac:11:00:02"},
		{"10.0.0.255", "02:42:0a:00:00:ff"},
		{"::ffff:192.168.1.1", "02:42:c0:a8:01:01"},
		{"fd00::1", ""},
	}
	for _, tc := range tests {
		if got := MACFor(netip.MustParseAddr(tc.ip)); got.String() != tc.want {
			t.Errorf("MACFor(%s) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

func BenchmarkCreateNetNS(b *testing.B) {
	needRoot(b)
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		path := filepath.Join(dir, fmt.Sprint(i))
		if err := CreateNetNS(path); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := DeleteNetNS(path); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkAddVeth times AddLink of a veth with two addresses and routes.
func BenchmarkAddVeth(b *testing.B) {
	needRoot(b)
	host := testNS(b)
	br := testName(b, "bt")
	inNS(b, host, func() error {
		return EnsureBridge(Bridge{Name: br, Addrs: []netip.Prefix{netip.MustParsePrefix("10.91.0.1/24")}})
	})
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		path := filepath.Join(dir, fmt.Sprint(i))
		if err := CreateNetNS(path); err != nil {
			b.Fatal(err)
		}
		l := Link{NetNSPath: path, Bridge: br, HostName: fmt.Sprintf("vb%d", i), IfName: "eth0",
			Addrs: []netip.Prefix{netip.MustParsePrefix("10.91.0.2/24")}, Gateway4: netip.MustParseAddr("10.91.0.1")}
		b.StartTimer()
		inNS(b, host, func() error { return AddLink(l) })
		b.StopTimer()
		inNS(b, host, func() error { return RemoveLink(l) })
		if err := DeleteNetNS(path); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
