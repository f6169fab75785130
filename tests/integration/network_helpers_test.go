package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bnet "berth/internal/network"
)

// The network tests build small test hosts of their own: network namespaces
// joined to the host by veth pairs, with addresses from 10.254.0.0/16 that
// no host route or address covers. Every name they make starts with "bt" (never
// "veth" or "br-", berth's own prefixes), and everything is removed when the
// test ends, also on failure. Traffic goes only to those namespaces, to
// containers, and to 127.0.0.1.

// needNetworking skips when the suite runs against the reference dockerd,
// which it starts with --bridge none --iptables=false (no networks to test).
func needNetworking(t *testing.T) {
	t.Helper()
	if referenceDaemon() {
		t.Skip("the reference dockerd runs with --bridge none --iptables=false: it has no networking to check")
	}
}

// hostCmd runs iproute2's ip (or nft) on the host and fails the test on error.
func hostCmd(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// btSeq numbers what one test binary makes (namespaces, links, subnets).
var btSeq atomic.Int64

// btName is a fresh name of at most 15 bytes (an interface name's limit).
func btName(prefix string) string {
	return fmt.Sprintf("%s%d%d", prefix, os.Getpid()%1000, btSeq.Add(1))
}

// hostPrefixes lists every IPv4 prefix the host routes or has an address in.
func hostPrefixes(t *testing.T) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, l := range lines(hostCmd(t, "ip", "-o", "-4", "route", "show", "table", "all")) {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "local" || dst == "broadcast" || dst == "unicast" {
			if len(f) < 2 {
				continue
			}
			dst = f[1]
		}
		if p, err := netip.ParsePrefix(dst); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(dst); err == nil {
			out = append(out, netip.PrefixFrom(a, 32))
		}
	}
	for _, l := range lines(hostCmd(t, "ip", "-o", "-4", "addr", "show")) {
		f := strings.Fields(l)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil {
					out = append(out, p.Masked())
				}
			}
		}
	}
	return out
}

// subnetSeq hands out /24s of 10.254.0.0/16 in turn.
var subnetSeq atomic.Int64

// freeSubnet returns a /24 in 10.254.0.0/16 that overlaps no host route or
// address and that no earlier call in this test binary returned.
func freeSubnet(t *testing.T) netip.Prefix {
	t.Helper()
	taken := hostPrefixes(t)
	for range 256 {
		n := 100 + int(subnetSeq.Add(1))%150
		p := netip.MustParsePrefix(fmt.Sprintf("10.254.%d.0/24", n))
		if !slices.ContainsFunc(taken, p.Overlaps) {
			return p
		}
	}
	t.Fatal("no free /24 in 10.254.0.0/16")
	return netip.Prefix{}
}

// nthAddr is the address n places after p's network address.
func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}

// testNS is a network namespace the test made, pinned at /run/netns/name.
type testNS struct {
	name string
	path string
}

// newTestNS makes a network namespace with lo up and deletes it (and every
// interface in it) when the test ends.
func newTestNS(t *testing.T) *testNS {
	t.Helper()
	name := btName("btns")
	ns := &testNS{name: name, path: filepath.Join("/run/netns", name)}
	hostCmd(t, "ip", "netns", "add", ns.name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.name, err, out)
		}
	})
	hostCmd(t, "ip", "-n", ns.name, "link", "set", "lo", "up")
	return ns
}

// testHost is a namespace on the far end of a veth pair from the host: the
// host end has hostAddr, the namespace end nsAddr, in one /30 of a free /24.
type testHost struct {
	ns       *testNS
	hostIf   string
	hostAddr netip.Addr
	nsAddr   netip.Addr
}

// newTestHost makes a test host reachable from the host by a connected
// route, with no route back beyond its /30 (so what reaches it from a
// container must come from the host's address: masquerade).
func newTestHost(t *testing.T) *testHost {
	t.Helper()
	sub := freeSubnet(t)
	h := &testHost{ns: newTestNS(t), hostIf: btName("bth"), hostAddr: nthAddr(sub, 1), nsAddr: nthAddr(sub, 2)}
	peer := btName("btp")
	hostCmd(t, "ip", "link", "add", h.hostIf, "type", "veth", "peer", "name", peer, "netns", h.ns.name)
	t.Cleanup(func() { deleteLink(h.hostIf) })
	hostCmd(t, "ip", "addr", "add", h.hostAddr.String()+"/30", "dev", h.hostIf)
	hostCmd(t, "ip", "link", "set", h.hostIf, "up")
	hostCmd(t, "ip", "-n", h.ns.name, "addr", "add", h.nsAddr.String()+"/30", "dev", peer)
	hostCmd(t, "ip", "-n", h.ns.name, "link", "set", peer, "up")
	return h
}

// macvlanSegment is a veth pair whose host end (parent) has no address and
// can serve as a macvlan parent; its other end sits in a namespace with
// nsAddr on subnet.
type macvlanSegment struct {
	parent string
	subnet netip.Prefix
	nsAddr netip.Addr
	ns     *testNS
}

func newMacvlanSegment(t *testing.T) *macvlanSegment {
	t.Helper()
	s := &macvlanSegment{parent: btName("btm"), subnet: freeSubnet(t), ns: newTestNS(t)}
	s.nsAddr = nthAddr(s.subnet, 2)
	peer := btName("btq")
	hostCmd(t, "ip", "link", "add", s.parent, "type", "veth", "peer", "name", peer, "netns", s.ns.name)
	t.Cleanup(func() { deleteLink(s.parent) })
	hostCmd(t, "ip", "link", "set", s.parent, "up")
	hostCmd(t, "ip", "-n", s.ns.name, "addr", "add", netip.PrefixFrom(s.nsAddr, s.subnet.Bits()).String(), "dev", peer)
	hostCmd(t, "ip", "-n", s.ns.name, "link", "set", peer, "up")
	return s
}

// deleteLink removes a host interface the test made; a missing one is fine
// (deleting a namespace takes its veth pairs with it).
func deleteLink(name string) {
	if _, err := net.InterfaceByName(name); err == nil {
		_ = exec.Command("ip", "link", "del", name).Run()
	}
}

// listenInNS opens a TCP listener inside ns (the socket keeps the
// namespace it was made in) and closes it when the test ends. The thread
// that enters the namespace switches back before it runs anything else:
// it may be the process's main thread, whose namespace /proc/self/net
// shows to every other test.
func listenInNS(t *testing.T, ns *testNS, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := bnet.InNetNS(ns.path, func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, ns.name, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// peerRecorder accepts connections on ln and records each peer's address
// and the first line it sent.
type peerRecorder struct {
	mu    sync.Mutex
	peers []string // "ip line"
	got   chan struct{}
}

func recordPeers(ln net.Listener) *peerRecorder {
	r := &peerRecorder{got: make(chan struct{}, 16)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				line, _ := bufio.NewReader(conn).ReadString('\n')
				_, _ = io.WriteString(conn, "pong\n")
				host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
				r.mu.Lock()
				r.peers = append(r.peers, host+" "+strings.TrimSpace(line))
				r.mu.Unlock()
				select {
				case r.got <- struct{}{}:
				default:
				}
			}()
		}
	}()
	return r
}

func (r *peerRecorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.peers)
}

// freePort returns a TCP port nothing listens on now, on every host address.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// httpGet fetches url with no proxy and no keep-alive, within 3 seconds.
func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(body), nil
}

// waitHTTP polls url until it answers 200 with body want.
func waitHTTP(t *testing.T, url, want string) {
	t.Helper()
	var last string
	var lastErr error
	if !pollUntil(time.Now().Add(20*time.Second), func() bool {
		last, lastErr = httpGet(url)
		return lastErr == nil && last == want
	}) {
		t.Fatalf("GET %s: no %q within 20s; last answer %q, %v", url, want, last, lastErr)
	}
}

// httpdScript serves "hi\n" at / on each given port with busybox httpd, the
// last one in the foreground.
func httpdScript(ports ...int) string {
	s := "mkdir -p /www && echo hi > /www/index.html"
	for i, p := range ports {
		if i == len(ports)-1 {
			s += fmt.Sprintf(" && exec httpd -f -p %d -h /www", p)
		} else {
			s += fmt.Sprintf(" && httpd -p %d -h /www", p)
		}
	}
	return s
}

// createNetwork runs `network create ARGS... NAME` and, when the test ends,
// removes the containers still attached to it and then the network, in
// whatever order the test registered its clean-ups.
func createNetwork(c *client, name string, args ...string) string {
	c.t.Helper()
	d := c.d
	c.t.Cleanup(func() { removeNetwork(d, name) })
	id := c.okTrim(append(append([]string{"network", "create"}, args...), name)...)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		c.t.Fatalf("network create printed %q, want a 64-hex ID", id)
	}
	return id
}

// removeNetwork force-removes the network's containers and then the
// network, through the API; a missing network is fine.
func removeNetwork(d *daemon, name string) {
	if !d.running() {
		return
	}
	status, _, body, err := d.api("GET", "/networks/"+name, "", nil)
	if err != nil || status != http.StatusOK {
		return
	}
	var nw struct {
		Containers map[string]json.RawMessage
	}
	if json.Unmarshal(body, &nw) == nil {
		for id := range nw.Containers {
			_, _, _, _ = d.api("DELETE", "/containers/"+id+"?force=1", "", nil)
		}
	}
	_, _, _, _ = d.api("DELETE", "/networks/"+name, "", nil)
}

// hostLinks lists the host's interface names (without "@peer").
func hostLinks(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, l := range lines(hostCmd(t, "ip", "-o", "link", "show")) {
		f := strings.SplitN(l, ": ", 3)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(f[1], "@")
		names = append(names, name)
	}
	return names
}

// berthLinks is the subset of links named like berth's bridges and veths.
func berthLinks(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, n := range hostLinks(t) {
		if strings.HasPrefix(n, "br-") || strings.HasPrefix(n, "veth") {
			out = append(out, n)
		}
	}
	return out
}

// newItems is what after has that before had not.
func newItems(before, after []string) []string {
	var out []string
	for _, a := range after {
		if !slices.Contains(before, a) {
			out = append(out, a)
		}
	}
	return out
}

// berthRuleset is the text of every nftables table whose name starts with
// "berth" (berth keeps its rules in tables of its own).
func berthRuleset(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, l := range lines(hostCmd(t, "nft", "list", "tables")) {
		f := strings.Fields(l) // table FAMILY NAME
		if len(f) == 3 && f[0] == "table" && strings.HasPrefix(f[2], "berth") {
			b.WriteString(hostCmd(t, "nft", "list", "table", f[1], f[2]))
		}
	}
	return b.String()
}

// mentions reports whether text has word as a whole token (an address, a
// port, an interface name).
func mentions(text, word string) bool {
	return regexp.MustCompile(`(^|[^0-9A-Za-z.:_-])` + regexp.QuoteMeta(word) + `($|[^0-9A-Za-z_-])`).MatchString(text)
}

// defaultRouteIface is the name of the host interface of the default route,
// or of the first interface that is not lo.
func defaultRouteIface(t *testing.T) string {
	t.Helper()
	f := strings.Fields(hostCmd(t, "ip", "-o", "-4", "route", "show", "default"))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "dev" {
			return f[i+1]
		}
	}
	for _, n := range hostLinks(t) {
		if n != "lo" {
			return n
		}
	}
	t.Fatal("the host has no interface but lo")
	return ""
}

// containerLinks lists interface names in `ip -o link` output from inside a
// container (busybox's ip prints "N: NAME: <...>" or "N: NAME@ifM: <...>").
func containerLinks(out string) []string {
	var names []string
	for _, l := range lines(out) {
		f := strings.SplitN(l, ": ", 3)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(f[1], "@")
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// mustAddr parses an address printed by the CLI.
func mustAddr(t *testing.T, what, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("%s: %q is not an address", what, s)
	}
	return a
}

// netIP is a container's IPv4 address on network nw, by inspect.
func netIP(c *client, ctr, nw string) netip.Addr {
	c.t.Helper()
	return mustAddr(c.t, ctr+" on "+nw, c.inspect(fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, nw), ctr))
}

// publishedPort is the host port `port CTR PORT/tcp` reports on 0.0.0.0.
func publishedPort(c *client, ctr, port string) int {
	c.t.Helper()
	for _, l := range lines(c.ok("port", ctr, port)) {
		if hp, ok := strings.CutPrefix(l, "0.0.0.0:"); ok {
			n, err := strconv.Atoi(hp)
			if err == nil {
				return n
			}
		}
	}
	c.t.Fatalf("port %s %s: no 0.0.0.0 binding", ctr, port)
	return 0
}
