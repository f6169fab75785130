package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"berth/internal/errdefs"
)

// dnsTestResolver is a fixed table of names, as the network service would
// answer for one container.
type dnsTestResolver struct {
	v4, v6 map[string][]netip.Addr
	ptr    map[netip.Addr]string

	mu   sync.Mutex
	seen []string // names asked, guarded by mu
}

func (r *dnsTestResolver) Lookup(containerID, name string) (v4, v6 []netip.Addr, ok bool) {
	r.mu.Lock()
	r.seen = append(r.seen, name)
	r.mu.Unlock()
	if containerID != "c1" {
		return nil, nil, false
	}
	v4, ok4 := r.v4[name]
	v6, ok6 := r.v6[name]
	return v4, v6, ok4 || ok6
}

func (r *dnsTestResolver) LookupPTR(containerID string, ip netip.Addr) (string, bool) {
	name, ok := r.ptr[ip]
	return name, ok && containerID == "c1"
}

func (r *dnsTestResolver) asked(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.seen, name)
}

func newDNSTestResolver() *dnsTestResolver {
	many := make([]netip.Addr, 60)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)})
	}
	return &dnsTestResolver{
		v4: map[string][]netip.Addr{
			"db":       {netip.MustParseAddr("172.18.0.2")},
			"db.mynet": {netip.MustParseAddr("172.18.0.2")},
			"web": {
				netip.MustParseAddr("172.18.0.3"),
				netip.MustParseAddr("172.18.0.4"),
				netip.MustParseAddr("172.18.0.5"),
			},
			"many": many,
		},
		v6: map[string][]netip.Addr{
			"web":    {netip.MustParseAddr("fd00::3")},
			"v6only": {netip.MustParseAddr("fd00::9")},
		},
		ptr: map[netip.Addr]string{
			netip.MustParseAddr("172.18.0.2"): "db.mynet",
			netip.MustParseAddr("fd00::3"):    "web.mynet",
		},
	}
}

// dnsTestNetNS makes a network namespace (lo up) under t's temp dir and
// removes it when the test ends.
func dnsTestNetNS(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() {
		if err := DeleteNetNS(path); err != nil {
			t.Errorf("delete netns: %v", err)
		}
	})
	if err := CreateNetNS(path); err != nil {
		t.Fatalf("create netns: %v", err)
	}
	return path
}

// fakeUpstream is a DNS server on 127.0.0.1 in the host's namespace, on the
// same random port for UDP and TCP.
type fakeUpstream struct {
	addr string
	stop func() // shuts both servers down and waits for them; idempotent
	mu   sync.Mutex
	got  []string // "proto name type" per query, guarded by mu
}

func (u *fakeUpstream) queries() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.got)
}

// startFakeUpstream serves answer on UDP and TCP; answer == nil gives SERVFAIL.
func startFakeUpstream(t testing.TB, answer func(q *dns.Msg) *dns.Msg) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		u.mu.Lock()
		u.got = append(u.got, fmt.Sprintf("%s %s %s", w.LocalAddr().Network(),
			q.Question[0].Name, dns.TypeToString[q.Question[0].Qtype]))
		u.mu.Unlock()
		var resp *dns.Msg
		if answer != nil {
			resp = answer(q)
		} else {
			resp = new(dns.Msg).SetRcode(q, dns.RcodeServerFailure)
		}
		w.WriteMsg(resp) //nolint:errcheck
	})
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 10 { // the random UDP port may be taken for TCP; try another
		if pc, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp4", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("listen fake upstream: %v", err)
	}
	u.addr = pc.LocalAddr().String()
	var (
		stops []func()
		once  sync.Once
	)
	u.stop = func() {
		once.Do(func() {
			for _, stop := range stops {
				stop()
			}
		})
	}
	t.Cleanup(u.stop)
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan error, 1)
		go func() { done <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-done:
			t.Fatalf("fake upstream: %v", err)
		}
		stops = append(stops, func() {
			srv.Shutdown() //nolint:errcheck
			<-done
		})
	}
	return u
}

// answerA answers every A question with 192.0.2.7 (nothing is ever sent there).
func answerA(q *dns.Msg) *dns.Msg {
	resp := new(dns.Msg).SetReply(q)
	if q.Question[0].Qtype == dns.TypeA {
		resp.Answer = append(resp.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
			A:   net.IPv4(192, 0, 2, 7),
		})
	}
	return resp
}

// closedUDPPort returns a loopback address where nothing listens (the kernel
// answers port unreachable at once).
func closedUDPPort(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// silentUpstream returns a loopback address that takes queries and never answers.
func silentUpstream(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func startTestDNS(t testing.TB, nsPath string, r Resolver, upstream []string) *DNSServer {
	t.Helper()
	d, err := StartDNS(context.Background(), nsPath, "c1", r, upstream, nil)
	if err != nil {
		t.Fatalf("StartDNS: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// queryIn asks 127.0.0.11 from inside the namespace at nsPath.
func queryIn(t testing.TB, nsPath, proto string, q *dns.Msg) *dns.Msg {
	t.Helper()
	var resp *dns.Msg
	err := InNetNS(nsPath, func() error {
		c := &dns.Client{Net: proto, Timeout: 10 * time.Second}
		var err error
		resp, _, err = c.Exchange(q, dnsListenAddr)
		return err
	})
	if err != nil {
		t.Fatalf("%s query %s: %v", proto, q.Question[0].String(), err)
	}
	return resp
}

func question(name string, qtype uint16) *dns.Msg {
	return new(dns.Msg).SetQuestion(name, qtype)
}

// answers renders the answer section as "type value" strings in order.
func answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, "A "+rr.A.String())
		case *dns.AAAA:
			out = append(out, "AAAA "+rr.AAAA.String())
		case *dns.PTR:
			out = append(out, "PTR "+rr.Ptr)
		default:
			out = append(out, rr.String())
		}
	}
	return out
}

func TestDNSServer(t *testing.T) {
	ns := dnsTestNetNS(t)
	res := newDNSTestResolver()
	up := startFakeUpstream(t, answerA)
	startTestDNS(t, ns, res, []string{up.addr})

	edns := func(m *dns.Msg) *dns.Msg { return m.SetEdns0(4096, false) }
	tests := []struct {
		doc       string
		proto     string
		q         *dns.Msg
		rcode     int
		want      []string
		truncated bool
		forwarded string // the query the fake upstream must have seen, if any
	}{
		{doc: "known name A", proto: "udp", q: question("db.", dns.TypeA),
			want: []string{"A 172.18.0.2"}},
		{doc: "search-domain name asked as given, case folded for the resolver", proto: "udp",
			q: question("DB.MyNet.", dns.TypeA), want: []string{"A 172.18.0.2"}},
		{doc: "known name AAAA", proto: "udp", q: question("web.", dns.TypeAAAA),
			want: []string{"AAAA fd00::3"}},
		{doc: "known name without an address of the type: empty NOERROR", proto: "udp",
			q: question("v6only.", dns.TypeA)},
		{doc: "known name MX: empty NOERROR (implicit MX)", proto: "udp", q: question("db.", dns.TypeMX)},
		{doc: "PTR v4", proto: "udp", q: question("2.0.18.172.in-addr.arpa.", dns.TypePTR),
			want: []string{"PTR db.mynet."}},
		{doc: "PTR v6", proto: "udp",
			q:    question("3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR),
			want: []string{"PTR web.mynet."}},
		{doc: "unknown name forwarded over UDP from the host namespace", proto: "udp",
			q: question("example.test.", dns.TypeA), want: []string{"A 192.0.2.7"},
			forwarded: "udp example.test. A"},
		{doc: "known name over TCP", proto: "tcp", q: question("db.", dns.TypeA),
			want: []string{"A 172.18.0.2"}},
		{doc: "unknown name forwarded over TCP", proto: "tcp",
			q: question("tcp.example.test.", dns.TypeA), want: []string{"A 192.0.2.7"},
			forwarded: "tcp tcp.example.test. A"},
		{doc: "unknown PTR forwarded", proto: "udp", q: question("9.9.18.172.in-addr.arpa.", dns.TypePTR),
			forwarded: "udp 9.9.18.172.in-addr.arpa. PTR"},
		{doc: "known name, other type (TXT): forwarded", proto: "udp", q: question("db.", dns.TypeTXT),
			forwarded: "udp db. TXT"},
		{doc: "60 addresses over plain UDP: truncated to 512 bytes with TC", proto: "udp",
			q: question("many.", dns.TypeA), truncated: true},
		{doc: "60 addresses over UDP with EDNS 4096: whole", proto: "udp",
			q: edns(question("many.", dns.TypeA))},
		{doc: "60 addresses over TCP: whole", proto: "tcp", q: question("many.", dns.TypeA)},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			resp := queryIn(t, ns, tc.proto, tc.q)
			if resp.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
			}
			if resp.Id != tc.q.Id {
				t.Errorf("reply id %d, query id %d", resp.Id, tc.q.Id)
			}
			if resp.Truncated != tc.truncated {
				t.Errorf("TC %v, want %v", resp.Truncated, tc.truncated)
			}
			got := answers(resp)
			if tc.q.Question[0].Name == "many." {
				switch {
				case tc.truncated && (len(got) == 0 || len(got) >= 60):
					t.Errorf("truncated reply has %d answers", len(got))
				case !tc.truncated && len(got) != 60:
					t.Errorf("%d answers, want 60", len(got))
				}
			} else if !slices.Equal(got, tc.want) {
				t.Errorf("answers %q, want %q", got, tc.want)
			}
			local := tc.forwarded == ""
			for _, rr := range resp.Answer {
				if local && rr.Header().Ttl != dnsTTL {
					t.Errorf("TTL %d, want %d", rr.Header().Ttl, dnsTTL)
				}
				if rr.Header().Name != tc.q.Question[0].Name {
					t.Errorf("answer name %q, asked %q", rr.Header().Name, tc.q.Question[0].Name)
				}
			}
			if !local && !slices.Contains(up.queries(), tc.forwarded) {
				t.Errorf("upstream saw %q, want it to see %q", up.queries(), tc.forwarded)
			}
		})
	}
	if !res.asked("db.mynet") {
		t.Errorf("resolver never asked for %q (lower case, no dot)", "db.mynet")
	}
	// Only forwarded queries reached the upstream: answers berth owns stay local.
	want := []string{"udp example.test. A", "tcp tcp.example.test. A",
		"udp 9.9.18.172.in-addr.arpa. PTR", "udp db. TXT"}
	if got := up.queries(); !slices.Equal(got, want) {
		t.Errorf("upstream saw %q, want %q", got, want)
	}
}

func TestDNSRoundRobin(t *testing.T) {
	ns := dnsTestNetNS(t)
	startTestDNS(t, ns, newDNSTestResolver(), nil)

	set := []string{"A 172.18.0.3", "A 172.18.0.4", "A 172.18.0.5"}
	var orders [][]string
	for i := range 3 {
		// An AAAA query between them (as getaddrinfo sends) must not disturb
		// the rotation of the A answers.
		queryIn(t, ns, "udp", question("web.", dns.TypeAAAA))
		got := answers(queryIn(t, ns, "udp", question("web.", dns.TypeA)))
		if !slices.Equal(slices.Sorted(slices.Values(got)), set) {
			t.Fatalf("query %d: answers %q, want the set %q", i, got, set)
		}
		orders = append(orders, got)
	}
	if slices.Equal(orders[0], orders[1]) || slices.Equal(orders[1], orders[2]) {
		t.Errorf("order did not rotate across queries: %q", orders)
	}
	if orders[1][0] != orders[0][1] {
		t.Errorf("second answer starts with %s, want %s (one step on)", orders[1][0], orders[0][1])
	}
}

func TestDNSUpstreamFailure(t *testing.T) {
	ns := dnsTestNetNS(t)
	good := startFakeUpstream(t, answerA)
	servfail := startFakeUpstream(t, nil)
	refused := startFakeUpstream(t, func(q *dns.Msg) *dns.Msg { return new(dns.Msg).SetRcode(q, dns.RcodeRefused) })
	nxdomain := startFakeUpstream(t, func(q *dns.Msg) *dns.Msg { return new(dns.Msg).SetRcode(q, dns.RcodeNameError) })

	tests := []struct {
		doc      string
		upstream []string
		rcode    int
		want     []string
	}{
		{doc: "no upstream: SERVFAIL (dockerd's answer)", rcode: dns.RcodeServerFailure},
		{doc: "upstream not listening: SERVFAIL", upstream: []string{closedUDPPort(t)}, rcode: dns.RcodeServerFailure},
		{doc: "upstream answers SERVFAIL: SERVFAIL", upstream: []string{servfail.addr}, rcode: dns.RcodeServerFailure},
		{doc: "SERVFAIL and REFUSED upstreams, then a good one", rcode: dns.RcodeSuccess,
			upstream: []string{servfail.addr, refused.addr, good.addr}, want: []string{"A 192.0.2.7"}},
		{doc: "NXDOMAIN is an answer, passed on", rcode: dns.RcodeNameError,
			upstream: []string{nxdomain.addr, good.addr}},
		{doc: "dead upstream, then a good one", rcode: dns.RcodeSuccess,
			upstream: []string{closedUDPPort(t), good.addr}, want: []string{"A 192.0.2.7"}},
		{doc: "silent upstream times out, then a good one", rcode: dns.RcodeSuccess,
			upstream: []string{silentUpstream(t), good.addr}, want: []string{"A 192.0.2.7"}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			d := startTestDNS(t, ns, newDNSTestResolver(), tc.upstream)
			start := time.Now()
			resp := queryIn(t, ns, "udp", question("example.test.", dns.TypeA))
			if resp.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
			}
			if got := answers(resp); !slices.Equal(got, tc.want) {
				t.Errorf("answers %q, want %q", got, tc.want)
			}
			if elapsed := time.Since(start); elapsed > 2*dnsUpstreamTimeout {
				t.Errorf("took %v; each upstream should be given at most %v", elapsed, dnsUpstreamTimeout)
			}
			// The next subtest binds 127.0.0.11:53 in the same namespace again.
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestStartDNSErrors(t *testing.T) {
	ns := dnsTestNetNS(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		doc      string
		ctx      context.Context
		ns       string
		upstream []string
		check    func(error) bool
	}{
		{doc: "upstream without port", ctx: context.Background(), ns: ns, upstream: []string{"10.0.0.1"},
			check: func(err error) bool { return errors.Is(err, errdefs.ErrInvalid) }},
		{doc: "missing namespace", ctx: context.Background(), ns: filepath.Join(t.TempDir(), "nope"),
			check: func(err error) bool { return errors.Is(err, os.ErrNotExist) }},
		{doc: "cancelled context", ctx: cancelled, ns: ns,
			check: func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			d, err := StartDNS(tc.ctx, tc.ns, "c1", newDNSTestResolver(), tc.upstream, nil)
			if err == nil {
				d.Close()
				t.Fatal("StartDNS succeeded")
			}
			if !tc.check(err) {
				t.Errorf("wrong error class: %v", err)
			}
		})
	}
	t.Run("second server takes over", func(t *testing.T) {
		// A daemon restart starts the server of a running container again:
		// the redirect follows the new one.
		first := startTestDNS(t, ns, newDNSTestResolver(), nil)
		second := startTestDNS(t, ns, newDNSTestResolver(), nil)
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		if resp := queryIn(t, ns, "udp", question("db.", dns.TypeA)); len(resp.Answer) != 1 {
			t.Errorf("after a second start: %v", resp)
		}
		if err := second.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDNSLeavesPort53 checks that a program in the container's namespace
// can serve port 53 itself (UDP and TCP, every address) while queries to
// 127.0.0.11:53 still reach the embedded server.
func TestDNSLeavesPort53(t *testing.T) {
	ns := dnsTestNetNS(t)
	startTestDNS(t, ns, newDNSTestResolver(), nil)
	var pc net.PacketConn
	var ln net.Listener
	err := InNetNS(ns, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", "0.0.0.0:53"); err != nil {
			return err
		}
		ln, err = net.Listen("tcp4", "0.0.0.0:53")
		return err
	})
	if err != nil {
		t.Fatalf("binding 0.0.0.0:53 in the namespace: %v", err)
	}
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
	})
	for _, proto := range []string{"udp", "tcp"} {
		if resp := queryIn(t, ns, proto, question("db.", dns.TypeA)); len(answers(resp)) != 1 {
			t.Errorf("%s query to 127.0.0.11:53 with 0.0.0.0:53 taken: %v", proto, resp)
		}
	}
}

// TestDNSCloseLeavesNothing checks that Close releases the sockets (a new
// server binds the same address) and that no goroutine outlives it, whatever
// the queries served.
func TestDNSCloseLeavesNothing(t *testing.T) {
	ns := dnsTestNetNS(t)
	before := runtime.NumGoroutine()
	up := startFakeUpstream(t, answerA)
	d, err := StartDNS(context.Background(), ns, "c1", newDNSTestResolver(), []string{up.addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		proto := []string{"udp", "tcp"}[i%2]
		name := []string{"db.", "x" + strconv.Itoa(i) + ".example.test."}[i/2%2]
		if resp := queryIn(t, ns, proto, question(name, dns.TypeA)); len(resp.Answer) != 1 {
			t.Fatalf("%s %s: %d answers", proto, name, len(resp.Answer))
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	d2 := startTestDNS(t, ns, newDNSTestResolver(), nil)
	if resp := queryIn(t, ns, "udp", question("db.", dns.TypeA)); len(resp.Answer) != 1 {
		t.Errorf("restarted server: %d answers", len(resp.Answer))
	}
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
	// Stop the fake upstream too; then every goroutine started since before must be gone.
	up.stop()
	waitGoroutines(t, before)
}

// waitGoroutines waits (up to 5 s) for the goroutine count to come back to
// want: a goroutine that has handed over its result may still be returning.
func waitGoroutines(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		<-tick.C
	}
}

// TestDNSBusyboxNslookup asks the server the way a container does: busybox
// nslookup (A and AAAA, then PTR) run inside the namespace.
func TestDNSBusyboxNslookup(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox on PATH")
	}
	ns := dnsTestNetNS(t)
	startTestDNS(t, ns, newDNSTestResolver(), nil)
	tests := []struct {
		doc  string
		arg  string
		want []string
	}{
		{doc: "name", arg: "web", want: []string{"172.18.0.3", "172.18.0.4", "172.18.0.5", "fd00::3"}},
		{doc: "address", arg: "172.18.0.2", want: []string{"db.mynet"}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			var out []byte
			err := InNetNS(ns, func() error {
				// The child is forked from this thread and so starts in the namespace.
				var err error
				out, err = exec.Command(busybox, "nslookup", tc.arg, "127.0.0.11").CombinedOutput()
				return err
			})
			if err != nil {
				t.Fatalf("nslookup: %v\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("nslookup output lacks %s:\n%s", w, out)
				}
			}
		})
	}
}

// BenchmarkDNSServerMemory starts 50 servers in 50 namespaces, one query
// each, and reports what one server costs: live Go heap and goroutine stacks
// (kernel socket buffers not included) and goroutines. The figures are from
// the first round; later rounds reuse the stacks the previous round freed and
// would understate them.
func BenchmarkDNSServerMemory(b *testing.B) {
	const n = 50
	namespaces := make([]string, n)
	for i := range namespaces {
		namespaces[i] = dnsTestNetNS(b)
	}
	res := newDNSTestResolver()
	goroutinesBefore := runtime.NumGoroutine()
	first := true
	for b.Loop() {
		before := goMemory()
		servers := make([]*DNSServer, 0, n)
		for _, ns := range namespaces {
			d, err := StartDNS(context.Background(), ns, "c1", res, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			servers = append(servers, d)
		}
		for _, ns := range namespaces {
			if resp := queryIn(b, ns, "udp", question("db.", dns.TypeA)); len(resp.Answer) != 1 {
				b.Fatalf("%d answers", len(resp.Answer))
			}
		}
		if first {
			after := goMemory()
			heap := float64(after.HeapAlloc-before.HeapAlloc) / n
			stack := float64(after.StackInuse-before.StackInuse) / n
			b.ReportMetric(heap, "heap-B/server")
			b.ReportMetric(stack, "stack-B/server")
			b.ReportMetric(float64(runtime.NumGoroutine()-goroutinesBefore)/n, "goroutines/server")
			first = false
		}
		for _, d := range servers {
			if err := d.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// goMemory reads the memory statistics after a collection.
func goMemory() runtime.MemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}
