package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNetworkWebStack is the seed's web stack: a user-defined network, a
// database and a web server on it, the server published on the host, names
// resolved by the embedded DNS, and isolation from another network until
// `network connect`.
func TestNetworkWebStack(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		webnet := c.uniqueName("webapp-network")
		createNetwork(c, webnet)
		other := c.uniqueName("othernet")
		createNetwork(c, other)
		db, web, probe := c.uniqueName("db"), c.uniqueName("web"), c.uniqueName("probe")
		port := freePort(t)

		c.ok("run", "-d", "--name", db, "--network", webnet, "busybox", "sleep", "300")
		c.ok("run", "-d", "--name", web, "--network", webnet, "-p", fmt.Sprintf("%d:80", port), "busybox", "sh", "-c", httpdScript(80))
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", port), "hi\n")

		if r := c.run("run", "--rm", "--network", webnet, "busybox", "ping", "-c1", "-W2", db); r.code != 0 {
			t.Errorf("ping %s by name on %s: %s", db, webnet, r)
		}
		webIP := netIP(c, web, webnet)
		r := c.run("run", "--rm", "--network", webnet, "busybox", "nslookup", web)
		if r.code != 0 || !mentions(r.stdout, webIP.String()) {
			t.Errorf("nslookup %s (at %s): %s", web, webIP, r)
		}
		if got := c.run("run", "--rm", "--network", webnet, "busybox", "wget", "-qO-", "http://"+web+"/"); got.code != 0 || got.stdout != "hi\n" {
			t.Errorf("wget http://%s/ from the same network: %s", web, got)
		}

		// Another network cannot reach db, not even by address.
		dbIP := netIP(c, db, webnet)
		c.ok("run", "-d", "--name", probe, "--network", other, "busybox", "sleep", "300")
		if r := c.run("exec", probe, "ping", "-c1", "-W1", dbIP.String()); r.code == 0 {
			t.Errorf("a container on %s reached %s (%s) on %s: %s", other, db, dbIP, webnet, r)
		}
		// (No negative name lookup here: a name the embedded DNS does not
		// know is forwarded to the host's resolvers, off this machine.)

		// After `network connect` it can, by address and by name.
		if out := c.ok("network", "connect", webnet, probe); out != "" {
			t.Errorf("network connect printed %q", out)
		}
		waitFor(t, 10*time.Second, probe+" to reach "+db+" after network connect", func() bool {
			return c.run("exec", probe, "ping", "-c1", "-W1", dbIP.String()).code == 0
		})
		if r := c.run("exec", probe, "ping", "-c1", "-W2", db); r.code != 0 {
			t.Errorf("ping %s by name after network connect: %s", db, r)
		}
		if sub, err := netip.ParsePrefix(subnetOf(c, webnet)); err != nil {
			t.Errorf("network inspect %s: IPAM subnet: %v", webnet, err)
		} else if got := netIP(c, probe, webnet); !sub.Contains(got) {
			t.Errorf("%s's address on %s is %s, outside the network's subnet %s", probe, webnet, got, sub)
		}

		// And after `network disconnect` it cannot again.
		if out := c.ok("network", "disconnect", webnet, probe); out != "" {
			t.Errorf("network disconnect printed %q", out)
		}
		if r := c.run("exec", probe, "ping", "-c1", "-W1", dbIP.String()); r.code == 0 {
			t.Errorf("%s still reaches %s after network disconnect: %s", probe, db, r)
		}
		r = c.expectExit(1, "network", "disconnect", webnet, probe)
		if !strings.Contains(r.stderr, "is not connected to network "+webnet) {
			t.Errorf("disconnecting twice: %s", r)
		}
		c.ok("rm", "-f", db, web, probe)
		if got := c.okTrim("network", "rm", webnet, other); got != webnet+"\n"+other {
			t.Errorf("network rm printed %q", got)
		}
	})
}

// subnetOf is a network's first IPAM subnet.
func subnetOf(c *client, nw string) string {
	c.t.Helper()
	return c.okTrim("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", nw)
}

// TestNetworkDefaultBridgeNAT: a container on the default bridge reaches a
// test host in a namespace of the test's own, which sees the host's address
// (masquerade); a container on an --internal network does not reach it.
func TestNetworkDefaultBridgeNAT(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		host := newTestHost(t)
		rec := recordPeers(listenInNS(t, host.ns, host.nsAddr.String()+":7777"))

		if r := c.run("run", "--rm", "busybox", "ping", "-c1", "-W2", host.nsAddr.String()); r.code != 0 {
			t.Fatalf("ping %s (a test host behind %s) from the default bridge: %s", host.nsAddr, host.hostIf, r)
		}
		msg := "hello-" + c.name
		r := c.run("run", "--rm", "busybox", "sh", "-c", fmt.Sprintf("echo %s | nc %s 7777", msg, host.nsAddr))
		if r.code != 0 || strings.TrimSpace(r.stdout) != "pong" {
			t.Errorf("nc to the test host: %s", r)
		}
		want := host.hostAddr.String() + " " + msg
		waitFor(t, 10*time.Second, "the test host to record the connection", func() bool { return slices.Contains(rec.list(), want) })

		internal := c.uniqueName("internal")
		createNetwork(c, internal, "--internal")
		if r := c.run("run", "--rm", "--network", internal, "busybox", "ping", "-c1", "-W1", host.nsAddr.String()); r.code == 0 {
			t.Errorf("a container on an --internal network reached the test host: %s", r)
		}
		if got := c.okTrim("network", "inspect", "-f", "{{.Internal}}", internal); got != "true" {
			t.Errorf("inspect .Internal: %q", got)
		}
	})
}

// TestNetworkPublishedPorts: two published ports, -P, the PortBindings and
// Ports reported, `port`, and a host port that is already taken.
func TestNetworkPublishedPorts(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		two := c.uniqueName("twoports")
		a, b := freePort(t), freePort(t)
		c.ok("run", "-d", "--name", two, "-p", fmt.Sprintf("%d:80", a), "-p", fmt.Sprintf("%d:443", b), "busybox", "sh", "-c", httpdScript(80, 443))
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", a), "hi\n")
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", b), "hi\n")

		portOut := lines(c.ok("port", two))
		for _, want := range []string{fmt.Sprintf("80/tcp -> 0.0.0.0:%d", a), fmt.Sprintf("443/tcp -> 0.0.0.0:%d", b)} {
			if !slices.Contains(portOut, want) {
				t.Errorf("port %s: no line %q in %q", two, want, portOut)
			}
		}
		if got := lines(c.ok("port", two, "443/tcp")); !slices.Contains(got, fmt.Sprintf("0.0.0.0:%d", b)) {
			t.Errorf("port %s 443/tcp: %q", two, got)
		}
		wantBindings := fmt.Sprintf(`{"443/tcp":[{"HostIp":"","HostPort":"%d"}],"80/tcp":[{"HostIp":"","HostPort":"%d"}]}`, b, a)
		if got := c.inspect("{{json .HostConfig.PortBindings}}", two); got != wantBindings {
			t.Errorf("HostConfig.PortBindings: %s, want %s", got, wantBindings)
		}
		ports := c.inspect(`{{range $p, $b := .NetworkSettings.Ports}}{{$p}}{{range $b}} {{.HostIp}}:{{.HostPort}}{{end}};{{end}}`, two)
		for _, want := range []string{fmt.Sprintf("80/tcp 0.0.0.0:%d", a), fmt.Sprintf("443/tcp 0.0.0.0:%d", b)} {
			if !strings.Contains(ports, want) {
				t.Errorf("NetworkSettings.Ports %q lacks %q", ports, want)
			}
		}

		// A second container asking for the same host port is refused, and
		// the first still answers.
		second := c.uniqueName("sameport")
		r := c.expectExit(125, "run", "-d", "--name", second, "-p", fmt.Sprintf("%d:80", a), "busybox", "sleep", "300")
		if want := fmt.Sprintf("Bind for 0.0.0.0:%d failed: port is already allocated", a); !strings.Contains(r.stderr, want) {
			t.Errorf("second container on port %d: want %q in %s", a, want, r)
		}
		if got := c.inspect("{{.State.Running}}", second); got != "false" {
			t.Errorf("the refused container is running: %q", got)
		}
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", a), "hi\n")

		// -P publishes the image's EXPOSEd port on an ephemeral host port.
		ref := c.uniqueName("exposed")
		importUnique(c, ref, "exposes 80", "EXPOSE 80", `CMD ["sh"]`)
		all := c.uniqueName("publishall")
		c.ok("run", "-d", "--name", all, "-P", ref, "sh", "-c", httpdScript(80))
		hp := publishedPort(c, all, "80/tcp")
		if hp == a || hp == b {
			t.Errorf("-P picked host port %d, already taken", hp)
		}
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", hp), "hi\n")
		if got := c.inspect("{{.HostConfig.PublishAllPorts}}", all); got != "true" {
			t.Errorf("HostConfig.PublishAllPorts: %q", got)
		}
		c.ok("rm", "-f", two, second, all)
	})
}

// TestNetworkHostAndNone: --network host sees the host's interfaces,
// --network none only lo.
func TestNetworkHostAndNone(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	hostIf := defaultRouteIface(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		got := containerLinks(c.ok("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link"))
		if !slices.Contains(got, hostIf) {
			t.Errorf("--network host: interfaces %v lack the host's %s", got, hostIf)
		}
		if got := containerLinks(c.ok("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")); !slices.Equal(got, []string{"lo"}) {
			t.Errorf("--network none: interfaces %v, want only lo", got)
		}
	})
}

// TestNetworkMacvlan: a macvlan network on a veth the test made; a
// container with --ip reaches the test host on the far end by address.
func TestNetworkMacvlan(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		seg := newMacvlanSegment(t)
		name := c.uniqueName("macnet")
		createNetwork(c, name, "-d", "macvlan", "-o", "parent="+seg.parent, "--subnet", seg.subnet.String(), "--gateway", nthAddr(seg.subnet, 1).String())
		if got := c.okTrim("network", "inspect", "-f", "{{.Driver}} {{.Options.parent}}", name); got != "macvlan "+seg.parent {
			t.Errorf("inspect: %q", got)
		}
		ip := nthAddr(seg.subnet, 10)
		r := c.run("run", "--rm", "--network", name, "--ip", ip.String(), "busybox", "sh", "-c",
			"ip -o -4 addr show eth0 && ping -c1 -W2 "+seg.nsAddr.String())
		if r.code != 0 {
			t.Fatalf("macvlan container pinging %s: %s", seg.nsAddr, r)
		}
		if want := netip.PrefixFrom(ip, seg.subnet.Bits()).String(); !strings.Contains(r.stdout, "inet "+want) {
			t.Errorf("eth0 lacks %s: %s", want, r.stdout)
		}
		c.ok("network", "rm", name)
	})
}

// TestNetworkRemovalLeavesNothing: with every container removed and the
// networks pruned, no bridge, veth or nftables rule of theirs remains.
// While they run, the published ports' rules live in berth's own tables.
func TestNetworkRemovalLeavesNothing(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		before := berthLinks(t)
		owner := "it.owner=" + c.uniqueName("prune")
		n1, n2 := c.uniqueName("prunenet"), c.uniqueName("prunenet")
		id1 := createNetwork(c, n1, "--label", owner, "--subnet", freeSubnet(t).String())
		id2 := createNetwork(c, n2, "--label", owner)
		bridges := []string{"br-" + id1[:12], "br-" + id2[:12]}
		if links := hostLinks(t); !slices.Contains(links, bridges[0]) || !slices.Contains(links, bridges[1]) {
			t.Errorf("bridges %v missing from the host's links %v", bridges, links)
		}

		type box struct {
			name, net string
			port      int
		}
		boxes := []box{{c.uniqueName("pa"), n1, freePort(t)}, {c.uniqueName("pb"), n2, freePort(t)}, {c.uniqueName("pc"), "bridge", freePort(t)}}
		var ips []string
		for _, bx := range boxes {
			c.ok("run", "-d", "--name", bx.name, "--network", bx.net, "-p", fmt.Sprintf("%d:80", bx.port), "busybox", "sh", "-c", httpdScript(80))
			waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", bx.port), "hi\n")
			ips = append(ips, netIP(c, bx.name, bx.net).String())
		}
		if veths := newItems(before, berthLinks(t)); len(veths) < len(boxes)+len(bridges) {
			t.Errorf("while running: new berth links %v, want both bridges and a veth per container", veths)
		}
		rules := berthRuleset(t)
		for _, bx := range boxes {
			if !mentions(rules, strconv.Itoa(bx.port)) {
				t.Errorf("published port %d is in no nftables table named berth*:\n%s", bx.port, rules)
			}
		}

		c.ok("rm", "-f", boxes[0].name, boxes[1].name, boxes[2].name)
		out := c.ok("network", "prune", "-f", "--filter", "label="+owner)
		if !strings.HasPrefix(out, "Deleted Networks:\n") || !slices.Contains(lines(out), n1) || !slices.Contains(lines(out), n2) {
			t.Errorf("network prune printed %q, want both %s and %s", out, n1, n2)
		}
		if got := c.okTrim("network", "ls", "-q", "--filter", "label="+owner); got != "" {
			t.Errorf("network ls after prune: %q", got)
		}
		if left := newItems(before, berthLinks(t)); len(left) > 0 {
			t.Errorf("links left after rm -f and network prune: %v", left)
		}
		rules = berthRuleset(t)
		for _, word := range append(append(bridges, ips...), strconv.Itoa(boxes[0].port), strconv.Itoa(boxes[1].port), strconv.Itoa(boxes[2].port)) {
			if mentions(rules, word) {
				t.Errorf("nftables still mention %s after the containers and networks went:\n%s", word, rules)
			}
		}
	})
}

// TestNetworkPublishedPortSurvivesDaemonKill: after kill -9 of berthd and a
// restart, a published port still answers, stays reserved, and is reported.
func TestNetworkPublishedPortSurvivesDaemonKill(t *testing.T) {
	needNetworking(t)
	d := startDaemon(t)
	if err := d.importBusybox(); err != nil {
		t.Fatal(err)
	}
	c := d.client(t, "berth")
	web := c.uniqueName("killweb")
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	c.ok("run", "-d", "--name", web, "-p", fmt.Sprintf("%d:80", port), "busybox", "sh", "-c", httpdScript(80))
	waitHTTP(t, url, "hi\n")

	d.signal(t, syscall.SIGKILL)
	if err := d.start(); err != nil {
		t.Fatalf("restarting berthd: %v", err)
	}
	waitHTTP(t, url, "hi\n")
	if got := lines(c.ok("port", web)); !slices.Contains(got, fmt.Sprintf("80/tcp -> 0.0.0.0:%d", port)) {
		t.Errorf("port %s after the restart: %q", web, got)
	}
	other := c.uniqueName("killother")
	r := c.expectExit(125, "run", "-d", "--name", other, "-p", fmt.Sprintf("%d:80", port), "busybox", "sleep", "300")
	if want := fmt.Sprintf("Bind for 0.0.0.0:%d failed: port is already allocated", port); !strings.Contains(r.stderr, want) {
		t.Errorf("after the restart, a second container took port %d: want %q in %s", port, want, r)
	}
	// A new container publishes a new port after the restart too.
	fresh, freshPort := c.uniqueName("killfresh"), freePort(t)
	c.ok("run", "-d", "--name", fresh, "-p", fmt.Sprintf("%d:80", freshPort), "busybox", "sh", "-c", httpdScript(80))
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", freshPort), "hi\n")
	c.ok("rm", "-f", web, other, fresh)
}

// TestNetworkBadInput: Docker's refusals, each leaving no network, bridge
// or veth behind.
func TestNetworkBadInput(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		taken := freeSubnet(t)
		base := c.uniqueName("badbase")
		createNetwork(c, base, "--subnet", taken.String(), "--ip-range", netip.PrefixFrom(nthAddr(taken, 128), 25).String())
		// refused runs "network create ARGS... NAME", expects exit 1 and
		// every want in stderr, and checks nothing was left.
		refused := func(doc string, wants []string, args ...string) {
			t.Helper()
			name := c.uniqueName("bad")
			t.Cleanup(func() { removeNetwork(d, name) })
			links := berthLinks(t)
			r := c.run(append(append([]string{"network", "create"}, args...), name)...)
			if r.code != 1 {
				t.Errorf("%s: want exit 1, got %s", doc, r)
			}
			for _, w := range wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("%s: want %q in %s", doc, w, r)
				}
			}
			if slices.Contains(lines(c.ok("network", "ls", "--format", "{{.Name}}")), name) {
				t.Errorf("%s: network %s exists after the refusal", doc, name)
			}
			if left := newItems(links, berthLinks(t)); len(left) > 0 {
				t.Errorf("%s: links left: %v", doc, left)
			}
		}

		refused("overlapping subnet", []string{"Pool overlaps with other one on this address space"},
			"--subnet", netip.PrefixFrom(nthAddr(taken, 128), 25).String())
		other := freeSubnet(t)
		outside := nthAddr(freeSubnet(t), 1)
		refused("gateway outside the subnet (the CLI's own check)", []string{"no matching subnet for gateway " + outside.String()},
			"--subnet", other.String(), "--gateway", outside.String())
		nope := btName("btnope")
		refused("unknown macvlan parent", []string{"invalid subinterface vlan name " + nope + ", example formatting is eth0.10"},
			"-d", "macvlan", "-o", "parent="+nope, "--subnet", other.String())
		refused("unknown base of a VLAN parent", []string{"-o parent interface was not found on the host: " + nope},
			"-d", "macvlan", "-o", "parent="+nope+".10", "--subnet", other.String())
		if slices.Contains(hostLinks(t), nope+".10") {
			t.Errorf("a VLAN link %s.10 was left on the host", nope)
		}

		// The daemon's own check of a gateway outside the subnet.
		name := c.uniqueName("badgw")
		t.Cleanup(func() { removeNetwork(d, name) })
		body, _ := json.Marshal(map[string]any{"Name": name, "IPAM": map[string]any{"Config": []map[string]string{{"Subnet": other.String(), "Gateway": outside.String()}}}})
		status, _, resp, err := d.api("POST", "/networks/create", "application/json", strings.NewReader(string(body)))
		want := fmt.Sprintf("invalid gateway %s: parent subnet %s doesn't contain this address", outside, other)
		if err != nil || status != http.StatusBadRequest || !strings.Contains(string(resp), want) {
			t.Errorf("POST /networks/create with a gateway outside the subnet: %d %s %v, want 400 with %q", status, resp, err, want)
		}

		// --ip outside the network's ip-range, or outside its subnet: refused
		// at create, so no container is left.
		for _, ip := range []netip.Addr{nthAddr(taken, 10), outside} {
			ctr := c.uniqueName("badip")
			r := c.expectExit(125, "run", "-d", "--name", ctr, "--network", base, "--ip", ip.String(), "busybox", "sleep", "300")
			for _, w := range []string{"invalid endpoint settings", "no configured subnet or ip-range contain the IP address " + ip.String()} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("--ip %s outside the range: want %q in %s", ip, w, r)
				}
			}
			if st, _, _, _ := d.api("GET", "/containers/"+ctr+"/json", "", nil); st != http.StatusNotFound {
				t.Errorf("--ip %s outside the range: container %s exists (%d)", ip, ctr, st)
			}
		}

		// --ip already held by another container: the second cannot start.
		inUse := nthAddr(taken, 200)
		holder, second := c.uniqueName("ipholder"), c.uniqueName("ipsecond")
		c.ok("run", "-d", "--name", holder, "--network", base, "--ip", inUse.String(), "busybox", "sleep", "300")
		links := berthLinks(t)
		r := c.expectExit(125, "run", "-d", "--name", second, "--network", base, "--ip", inUse.String(), "busybox", "sleep", "300")
		if !strings.Contains(r.stderr, "Address already in use") {
			t.Errorf("--ip %s in use: want %q in %s", inUse, "Address already in use", r)
		}
		if got := c.inspect("{{.State.Running}}", second); got != "false" {
			t.Errorf("the container refused its address is running: %q", got)
		}
		if left := newItems(links, berthLinks(t)); len(left) > 0 {
			t.Errorf("--ip in use: links left: %v", left)
		}
		if got := netIP(c, holder, base); got != inUse {
			t.Errorf("the holder's address changed to %s", got)
		}
		c.ok("rm", "-f", holder, second)
	})
}

// TestNetworkInspectAndEvents: network and container inspect report the
// endpoint as Docker does, and create, connect, disconnect and destroy
// appear in `events --since --until`.
func TestNetworkInspectAndEvents(t *testing.T) {
	needNetworking(t)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		since := time.Now().Add(-time.Second)
		sub := freeSubnet(t)
		gw, ip := nthAddr(sub, 1), nthAddr(sub, 20)
		name := c.uniqueName("insnet")
		id := createNetwork(c, name, "--subnet", sub.String(), "--gateway", gw.String(), "--label", "it.k=v")
		if got, want := c.okTrim("network", "inspect", "-f", `{{.Name}} {{.Id}} {{.Driver}} {{.Scope}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{index .Labels "it.k"}}`, name),
			fmt.Sprintf("%s %s bridge local %s %s v", name, id, sub, gw); got != want {
			t.Errorf("network inspect: %q, want %q", got, want)
		}
		if got := lines(c.ok("network", "ls", "--filter", "name="+name, "--format", "{{.Name}} {{.Driver}} {{.Scope}}")); !slices.Contains(got, name+" bridge local") {
			t.Errorf("network ls --filter name --format: %q", got)
		}
		if got := lines(c.ok("network", "ls", "-q", "--no-trunc", "--filter", "label=it.k=v")); !slices.Contains(got, id) {
			t.Errorf("network ls -q --no-trunc --filter label: %q", got)
		}

		ctr := c.uniqueName("insctr")
		port := freePort(t)
		cid := c.okTrim("run", "-d", "--name", ctr, "--network", name, "--ip", ip.String(), "--network-alias", "insalias", "-p", fmt.Sprintf("%d:80", port), "busybox", "sh", "-c", httpdScript(80))
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", port), "hi\n")

		if got, want := c.okTrim("network", "inspect", "-f", `{{range $id, $e := .Containers}}{{$id}} {{$e.Name}} {{$e.IPv4Address}}{{end}}`, name),
			fmt.Sprintf("%s %s %s/24", cid, ctr, ip); got != want {
			t.Errorf("network inspect .Containers: %q, want %q", got, want)
		}
		ep := func(field string) string {
			return c.inspect(fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{%s}}{{end}}`, name, field), ctr)
		}
		if got, want := ep(".IPAddress")+" "+ep(".Gateway")+" "+ep(".IPPrefixLen")+" "+ep(".NetworkID"), fmt.Sprintf("%s %s 24 %s", ip, gw, id); got != want {
			t.Errorf("NetworkSettings.Networks.%s: %q, want %q", name, got, want)
		}
		mac := ep(".MacAddress")
		if !regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`).MatchString(mac) {
			t.Errorf("MacAddress %q", mac)
		} else if inside := strings.TrimSpace(c.ok("exec", ctr, "cat", "/sys/class/net/eth0/address")); inside != mac {
			t.Errorf("MacAddress %s, but eth0 inside has %s", mac, inside)
		}
		var aliases, dnsNames []string
		if err := json.Unmarshal([]byte(ep("json .Aliases")), &aliases); err != nil || !slices.Contains(aliases, "insalias") {
			t.Errorf("Aliases %v (%v), want insalias among them", aliases, err)
		}
		if err := json.Unmarshal([]byte(ep("json .DNSNames")), &dnsNames); err != nil {
			t.Errorf("DNSNames: %v", err)
		}
		for _, w := range []string{ctr, "insalias", cid[:12]} {
			if !slices.Contains(dnsNames, w) {
				t.Errorf("DNSNames %v lack %s", dnsNames, w)
			}
		}
		if got := c.inspect(`{{range $p, $b := .NetworkSettings.Ports}}{{$p}}{{range $b}} {{.HostIp}}:{{.HostPort}}{{end}};{{end}}`, ctr); !strings.Contains(got, fmt.Sprintf("80/tcp 0.0.0.0:%d", port)) {
			t.Errorf("NetworkSettings.Ports: %q", got)
		}
		if got := lines(c.ok("port", ctr)); !slices.Contains(got, fmt.Sprintf("80/tcp -> 0.0.0.0:%d", port)) {
			t.Errorf("port %s: %q", ctr, got)
		}

		// connect and disconnect on a second network, for its events.
		second := c.uniqueName("insnet")
		sid := createNetwork(c, second)
		c.ok("network", "connect", "--alias", "second-alias", second, ctr)
		if got := c.inspect(`{{range $n, $e := .NetworkSettings.Networks}}{{$n}} {{end}}`, ctr); !slices.Contains(strings.Fields(got), name) || !slices.Contains(strings.Fields(got), second) {
			t.Errorf("networks after connect: %q", got)
		}
		var secAliases []string
		_ = json.Unmarshal([]byte(c.inspect(fmt.Sprintf(`{{json (index .NetworkSettings.Networks %q).Aliases}}`, second), ctr)), &secAliases)
		if !slices.Contains(secAliases, "second-alias") {
			t.Errorf("aliases on %s after connect --alias: %v", second, secAliases)
		}
		c.ok("network", "disconnect", second, ctr)
		c.ok("rm", "-f", ctr)
		if got := c.okTrim("network", "rm", second); got != second {
			t.Errorf("network rm printed %q", got)
		}

		want := []string{
			"create " + sid + " " + second,
			"connect " + sid + " " + second + " " + cid,
			"disconnect " + sid + " " + second + " " + cid,
			"destroy " + sid + " " + second,
		}
		var got []string
		var out string
		pollUntil(time.Now().Add(10*time.Second), func() bool {
			out = c.ok("events", "--since", unixNano(since), "--until", unixNano(time.Now()),
				"--filter", "type=network", "--filter", "network="+sid,
				"--format", `{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes "name"}} {{index .Actor.Attributes "container"}}`)
			got = nil
			for _, l := range lines(out) {
				got = append(got, strings.TrimSpace(l))
			}
			return slices.Equal(got, want)
		})
		if !slices.Equal(got, want) {
			t.Errorf("network events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
