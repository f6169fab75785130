package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	bnet "berth/internal/network"
)

// The tests here cover what network_test.go does not: legacy links,
// --add-host, the DNS options, forwarding to an upstream server, shared
// aliases, IPv6, ICC off, the daemon's bridge options, the container:
// network mode, connect across a restart, network stats, and port 53 left
// free for the container.

// bridgeGateway is the default bridge's gateway address.
func bridgeGateway(c *client) netip.Addr {
	c.t.Helper()
	return mustAddr(c.t, "the default bridge's gateway",
		c.okTrim("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "bridge"))
}

// hasFieldsLine reports whether text has a line whose fields are exactly fields.
func hasFieldsLine(text string, fields ...string) bool {
	for _, l := range lines(text) {
		if slices.Equal(strings.Fields(l), fields) {
			return true
		}
	}
	return false
}

// TestNetworkLegacyLinkAndHosts: on the default bridge, --link db:alias
// writes the hosts entry and the ALIAS_… variables of an image that
// EXPOSEs a port; --add-host (host-gateway too) and --dns, --dns-search,
// --dns-option land in /etc/hosts and /etc/resolv.conf.
func TestNetworkLegacyLinkAndHosts(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		ref := c.uniqueName("linkimg")
		importUnique(c, ref, "exposes 80", "EXPOSE 80", "ENV DB_PASS=secret", `CMD ["sh"]`)
		db := c.uniqueName("linkdb")
		c.ok("run", "-d", "--name", db, ref, "sleep", "300")
		dbIP := netIP(c, db, "bridge").String()
		gw := bridgeGateway(c)

		out := c.ok("run", "--rm", "--link", db+":alias",
			"--add-host", "name1:1.2.3.4", "--add-host", "gw:host-gateway",
			"--dns", "192.0.2.53", "--dns-search", "example.test", "--dns-option", "ndots:2",
			"busybox", "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; env")
		parts := strings.SplitN(out, "---\n", 3)
		if len(parts) != 3 {
			t.Fatalf("unexpected output:\n%s", out)
		}
		hosts, resolv, env := parts[0], parts[1], lines(parts[2])

		if !slices.ContainsFunc(lines(hosts), func(l string) bool {
			f := strings.Fields(l)
			return len(f) >= 3 && f[0] == dbIP && slices.Contains(f[1:], "alias") && slices.Contains(f[1:], db)
		}) {
			t.Errorf("/etc/hosts has no line for %s with alias and %s:\n%s", dbIP, db, hosts)
		}
		if !hasFieldsLine(hosts, "1.2.3.4", "name1") {
			t.Errorf("/etc/hosts lacks --add-host name1:1.2.3.4:\n%s", hosts)
		}
		if !hasFieldsLine(hosts, gw.String(), "gw") {
			t.Errorf("/etc/hosts lacks gw at the default bridge's gateway %s:\n%s", gw, hosts)
		}
		for _, want := range [][]string{{"nameserver", "192.0.2.53"}, {"search", "example.test"}, {"options", "ndots:2"}} {
			if !hasFieldsLine(resolv, want...) {
				t.Errorf("/etc/resolv.conf lacks %q:\n%s", strings.Join(want, " "), resolv)
			}
		}
		if strings.Contains(resolv, "127.0.0.11") {
			t.Errorf("/etc/resolv.conf on the default bridge names the embedded DNS:\n%s", resolv)
		}
		url := "tcp://" + dbIP + ":80"
		for _, want := range []string{
			"ALIAS_PORT=" + url,
			"ALIAS_PORT_80_TCP=" + url,
			"ALIAS_PORT_80_TCP_ADDR=" + dbIP,
			"ALIAS_PORT_80_TCP_PORT=80",
			"ALIAS_PORT_80_TCP_PROTO=tcp",
			"ALIAS_ENV_DB_PASS=secret",
		} {
			if !slices.Contains(env, want) {
				t.Errorf("environment lacks %s:\n%s", want, strings.Join(env, "\n"))
			}
		}
		if !slices.ContainsFunc(env, func(kv string) bool {
			return strings.HasPrefix(kv, "ALIAS_NAME=/") && strings.HasSuffix(kv, "/alias")
		}) {
			t.Errorf("environment lacks ALIAS_NAME=/…/alias:\n%s", strings.Join(env, "\n"))
		}
		c.ok("rm", "-f", db)
	})
}

// testDNSServer answers A queries for name with addr (other types of name
// with no records, other names with NXDOMAIN), on UDP port 53 of the test
// host, inside its namespace.
func testDNSServer(t *testing.T, host *testHost, name string, addr netip.Addr) {
	t.Helper()
	var pc net.PacketConn
	err := bnet.InNetNS(host.ns.path, func() error {
		var err error
		pc, err = net.ListenPacket("udp4", net.JoinHostPort(host.nsAddr.String(), "53"))
		return err
	})
	if err != nil {
		t.Fatalf("test DNS server: %v", err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		resp := new(dns.Msg).SetReply(q)
		switch {
		case len(q.Question) != 1 || q.Question[0].Name != dns.Fqdn(name):
			resp.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			resp.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: addr.AsSlice()}}
		}
		_ = w.WriteMsg(resp)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("test DNS server: %v", err)
	}
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
}

// TestNetworkEmbeddedDNS: on a user network resolv.conf names 127.0.0.11
// with --dns-search and --dns-option; a name berth does not know goes to
// --dns (a test server in a namespace of the test's own); two containers
// sharing a --network-alias both answer; and a container may bind port
// 53 itself while the embedded DNS still answers.
func TestNetworkEmbeddedDNS(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		host := newTestHost(t)
		const outside = "outside.berth.test"
		outsideAddr := netip.MustParseAddr("192.0.2.77")
		testDNSServer(t, host, outside, outsideAddr)

		nw := c.uniqueName("dnsnet")
		createNetwork(c, nw)
		out := c.ok("run", "--rm", "--network", nw, "--dns", host.nsAddr.String(),
			"--dns-search", "example.test", "--dns-option", "ndots:3",
			"busybox", "sh", "-c", "cat /etc/resolv.conf; echo ---; nslookup "+outside)
		resolv, lookup, _ := strings.Cut(out, "---\n")
		for _, want := range [][]string{{"nameserver", "127.0.0.11"}, {"search", "example.test"}, {"options", "ndots:3"}} {
			if !hasFieldsLine(resolv, want...) {
				t.Errorf("/etc/resolv.conf on a user network lacks %q:\n%s", strings.Join(want, " "), resolv)
			}
		}
		if strings.Contains(resolv, host.nsAddr.String()) {
			t.Errorf("/etc/resolv.conf names the upstream %s itself:\n%s", host.nsAddr, resolv)
		}
		if !mentions(lookup, outsideAddr.String()) {
			t.Errorf("nslookup %s through the embedded DNS to %s: %s", outside, host.nsAddr, lookup)
		}

		// Round robin: both containers with the alias answer.
		a, b := c.uniqueName("rra"), c.uniqueName("rrb")
		for _, n := range []string{a, b} {
			c.ok("run", "-d", "--name", n, "--network", nw, "--network-alias", "rr", "busybox", "sleep", "300")
		}
		ipA, ipB := netIP(c, a, nw).String(), netIP(c, b, nw).String()

		// Port 53 of every address in a's namespace is taken (UDP and TCP,
		// as a DNS server in the container would), and a still asks
		// 127.0.0.11 for the alias.
		pid := c.inspect("{{.State.Pid}}", a)
		var pc net.PacketConn
		var ln net.Listener
		err := bnet.InNetNS("/proc/"+pid+"/ns/net", func() error {
			var err error
			if pc, err = net.ListenPacket("udp4", "0.0.0.0:53"); err != nil {
				return err
			}
			ln, err = net.Listen("tcp4", "0.0.0.0:53")
			return err
		})
		if err != nil {
			t.Fatalf("binding 0.0.0.0:53 in %s's namespace: %v", a, err)
		}
		defer pc.Close()
		defer ln.Close()
		r := c.run("exec", a, "nslookup", "rr", "127.0.0.11")
		if r.code != 0 || !mentions(r.stdout, ipA) || !mentions(r.stdout, ipB) {
			t.Errorf("nslookup rr with port 53 taken in the container: want both %s and %s: %s", ipA, ipB, r)
		}
		c.ok("rm", "-f", a, b)
	})
}

// TestNetworkIPv6: an --ipv6 network with a given subnet gives containers
// an address in it, AAAA records, and IPv6 between them.
func TestNetworkIPv6(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		sub := netip.MustParsePrefix(fmt.Sprintf("fd00:b7:%x:%x::/64", os.Getpid()%0xffff, names.Add(1)))
		nw := c.uniqueName("v6net")
		createNetwork(c, nw, "--ipv6", "--subnet", sub.String())
		a := c.uniqueName("v6a")
		c.ok("run", "-d", "--name", a, "--network", nw, "busybox", "sleep", "300")
		ip6 := mustAddr(t, a+" IPv6", c.inspect(fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).GlobalIPv6Address}}`, nw), a))
		if !sub.Contains(ip6) {
			t.Errorf("%s's IPv6 address %s is outside %s", a, ip6, sub)
		}
		if ip4 := netIP(c, a, nw); !ip4.Is4() {
			t.Errorf("%s has no IPv4 address on %s: %s", a, nw, ip4)
		}
		r := c.run("run", "--rm", "--network", nw, "busybox", "sh", "-c",
			"ip -o -6 addr show dev eth0 scope global; nslookup -type=AAAA "+a+" && ping6 -c1 -W2 "+ip6.String())
		if r.code != 0 {
			t.Fatalf("AAAA lookup and ping6 of %s (%s): %s", a, ip6, r)
		}
		if !mentions(r.stdout, ip6.String()) {
			t.Errorf("nslookup -type=AAAA %s: no %s in\n%s", a, ip6, r.stdout)
		}
		if !strings.Contains(r.stdout, "inet6 ") {
			t.Errorf("the second container has no global IPv6 address:\n%s", r.stdout)
		}
		c.ok("rm", "-f", a)
	})
}

// TestNetworkICCOffAndInternal: with enable_icc=false containers on one
// bridge cannot reach each other; an --internal network has no default
// route.
func TestNetworkICCOffAndInternal(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		nw := c.uniqueName("noicc")
		createNetwork(c, nw, "-o", "com.docker.network.bridge.enable_icc=false")
		a := c.uniqueName("icca")
		c.ok("run", "-d", "--name", a, "--network", nw, "busybox", "sleep", "300")
		if r := c.run("run", "--rm", "--network", nw, "busybox", "ping", "-c1", "-W1", netIP(c, a, nw).String()); r.code == 0 {
			t.Errorf("with enable_icc=false a container reached %s: %s", a, r)
		}
		internal := c.uniqueName("internal")
		createNetwork(c, internal, "--internal")
		if out := c.ok("run", "--rm", "--network", internal, "busybox", "ip", "route"); strings.Contains(out, "default") {
			t.Errorf("a container on an --internal network has a default route:\n%s", out)
		}
		c.ok("rm", "-f", a)
	})
}

// TestNetworkContainerModeStatsAndRestart: --network container:NAME
// shares the namespace (same address, its localhost); stats show network
// traffic; a connected network stays connected across a restart.
func TestNetworkContainerModeStatsAndRestart(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		web := c.uniqueName("shareweb")
		c.ok("run", "-d", "--name", web, "busybox", "sh", "-c", httpdScript(80))
		webIP := netIP(c, web, "bridge").String()
		r := c.run("run", "--rm", "--network", "container:"+web, "busybox", "sh", "-c",
			"ip -o -4 addr show dev eth0; i=0; until wget -qO- http://localhost/; do i=$((i+1)); [ $i -gt 100 ] && exit 3; sleep 0.05; done")
		if r.code != 0 {
			t.Fatalf("--network container:%s: %s", web, r)
		}
		if !strings.Contains(r.stdout, "inet "+webIP+"/") || !strings.HasSuffix(r.stdout, "hi\n") {
			t.Errorf("--network container:%s: want its address %s and its httpd's answer:\n%s", web, webIP, r.stdout)
		}

		// Traffic on eth0, then NET I/O in stats.
		c.ok("exec", web, "ping", "-c2", "-W1", bridgeGateway(c).String())
		netio := c.okTrim("stats", "--no-stream", "--format", "{{.NetIO}}", web)
		if rx, _, _ := strings.Cut(netio, " / "); netio == "" || strings.HasPrefix(rx, "0B") || strings.Contains(netio, "--") {
			t.Errorf("stats NET I/O after traffic: %q", netio)
		}

		// connect, then restart: both networks stay, both with addresses.
		n1, n2 := c.uniqueName("rsnet"), c.uniqueName("rsnet")
		createNetwork(c, n1)
		createNetwork(c, n2)
		box := c.uniqueName("rsbox")
		c.ok("run", "-d", "--name", box, "--network", n1, "busybox", "sleep", "300")
		c.ok("network", "connect", n2, box)
		c.ok("restart", "-t", "0", box)
		var nets map[string]struct{ IPAddress string }
		if err := json.Unmarshal([]byte(c.inspect("{{json .NetworkSettings.Networks}}", box)), &nets); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{n1, n2} {
			if nets[n].IPAddress == "" {
				t.Errorf("after restart, %s has no address on %s: %v", box, n, nets)
			}
		}
		if got := containerLinks(c.ok("exec", box, "ip", "-o", "link")); !slices.Equal(got, []string{"eth0", "eth1", "lo"}) {
			t.Errorf("interfaces after restart: %v, want eth0 eth1 lo", got)
		}
		c.ok("rm", "-f", web, box)
	})
}

// TestNetworkDaemonBridgeOptions: daemon.json's bip, fixed-cidr, mtu,
// default-address-pools and icc on a private daemon.
func TestNetworkDaemonBridgeOptions(t *testing.T) {
	needNetworking(t)
	bipNet, poolNet := freeSubnet(t), freeSubnet(t)
	bip := netip.PrefixFrom(nthAddr(bipNet, 1), 24)
	fixed := netip.PrefixFrom(nthAddr(bipNet, 128), 25)
	cfg, _ := json.Marshal(map[string]any{
		"bip": bip.String(), "fixed-cidr": fixed.String(), "mtu": 1400, "icc": false,
		"default-address-pools": []map[string]any{{"base": poolNet.String(), "size": 26}},
	})
	d := startDaemonConfig(t, string(cfg))
	if err := d.importBusybox(); err != nil {
		t.Fatal(err)
	}
	eachClient(t, d, func(t *testing.T, c *client) {
		if got, want := c.okTrim("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{.IPRange}}{{end}}", "bridge"),
			fmt.Sprintf("%s %s %s", bipNet, bip.Addr(), fixed); got != want {
			t.Errorf("default bridge IPAM: %q, want %q", got, want)
		}
		a := c.uniqueName("opta")
		c.ok("run", "-d", "--name", a, "busybox", "sleep", "300")
		ip := netIP(c, a, "bridge")
		if !fixed.Contains(ip) {
			t.Errorf("address %s outside fixed-cidr %s", ip, fixed)
		}
		if mtu := c.okTrim("exec", a, "cat", "/sys/class/net/eth0/mtu"); mtu != "1400" {
			t.Errorf("eth0 mtu %s, want 1400", mtu)
		}
		if r := c.run("run", "--rm", "busybox", "ping", "-c1", "-W1", ip.String()); r.code == 0 {
			t.Errorf("with icc=false a container on the default bridge reached %s: %s", ip, r)
		}
		nw := c.uniqueName("poolnet")
		createNetwork(c, nw)
		sub, err := netip.ParsePrefix(subnetOf(c, nw))
		if err != nil || sub.Bits() != 26 || !poolNet.Contains(sub.Addr()) {
			t.Errorf("network %s got subnet %s (%v), want a /26 of %s", nw, sub, err, poolNet)
		}
		c.ok("rm", "-f", a)
	})
}
