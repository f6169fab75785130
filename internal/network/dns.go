package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"berth/internal/errdefs"
)

// The embedded DNS server matches dockerd's (libnetwork resolver.go, API
// v1.45+): it answers on 127.0.0.11:53 inside the container's namespace
// (its sockets are on other ports of 127.0.0.11, see dnsredirect.go),
// answers A/AAAA/PTR (and "implicit MX") for the names berth knows with TTL
// 600, and forwards everything else to the upstream servers from the host's
// namespace, answering SERVFAIL when none answers.
const (
	dnsListenAddr = "127.0.0.11:53"
	// dnsBindAddr is where the sockets are bound: ports the kernel picks.
	dnsBindAddr = "127.0.0.11:0"
	dnsTTL      = 600
	// dnsUpstreamTimeout bounds one exchange with one upstream server
	// (dial, write and read) before the next one is tried.
	dnsUpstreamTimeout = 2 * time.Second
	// dnsMaxForwards bounds the forwarded queries in flight per server; past
	// it a query is REFUSED, as dockerd does past its own limit.
	dnsMaxForwards = 256
	// dnsReadSize is the buffer for incoming UDP queries (the EDNS size
	// most resolvers advertise; queries are far smaller).
	dnsReadSize = 1232
	// dnsMaxRotations caps the round-robin counters kept per server.
	dnsMaxRotations = 4096
)

// Resolver answers for the names berth knows, as seen by one container.
type Resolver interface {
	// Lookup returns the addresses of name (lower case, no trailing dot) on the container's networks;
	// ok is false when the name is not berth's (the query is forwarded).
	Lookup(containerID, name string) (v4, v6 []netip.Addr, ok bool)
	// LookupPTR returns the name for ip on the container's networks.
	LookupPTR(containerID string, ip netip.Addr) (name string, ok bool)
}

// DNSServer is the embedded DNS server of one container. Its sockets live in
// the container's network namespace; its goroutines (one per socket, plus one
// per query being answered) run in the host's, which is where forwarded
// queries go out from.
type DNSServer struct {
	containerID string
	resolver    Resolver
	upstream    []string // "ip:port", tried in order
	timeout     time.Duration
	log         *slog.Logger

	// ctx is cancelled by Close so forwarded queries stop at once.
	ctx    context.Context
	cancel context.CancelFunc

	udp, tcp *dns.Server
	wg       sync.WaitGroup // the two serving goroutines

	forwards chan struct{} // semaphore: forwarded queries in flight

	closeOnce sync.Once
	closeErr  error

	mu    sync.Mutex
	turns map[rotationKey]uint32 // guarded by mu; next rotation per name and type
}

type rotationKey struct {
	name  string
	qtype uint16
}

// StartDNS serves DNS on 127.0.0.11:53 (UDP and TCP; redirected there
// to its own ports) inside the namespace at netnsPath, forwarding
// what the Resolver does not know to upstream ("ip:port", tried in order) from the host's namespace.
//
// ctx bounds start-up only; the server runs until Close. log may be nil.
func StartDNS(ctx context.Context, netnsPath, containerID string, r Resolver, upstream []string, log *slog.Logger) (*DNSServer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errdefs.Invalid(errors.New("embedded DNS needs a resolver"))
	}
	for _, u := range upstream {
		if _, err := netip.ParseAddrPort(u); err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("invalid upstream DNS server %q: %w", u, err))
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	var (
		pc net.PacketConn
		ln net.Listener
	)
	err := InNetNS(netnsPath, func() error {
		// Sockets belong to the namespace of the thread that creates them,
		// and net's Listen* create them synchronously on this thread.
		var lc net.ListenConfig
		var err error
		if pc, err = lc.ListenPacket(ctx, "udp4", dnsBindAddr); err != nil {
			return err
		}
		if ln, err = lc.Listen(ctx, "tcp4", dnsBindAddr); err != nil {
			pc.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded DNS for container %s: %w", containerID, err)
	}
	udpPort := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	tcpPort := uint16(ln.Addr().(*net.TCPAddr).Port)
	if err := redirectDNS(netnsPath, udpPort, tcpPort); err != nil {
		pc.Close()
		ln.Close()
		return nil, fmt.Errorf("embedded DNS for container %s: %w", containerID, err)
	}

	d := &DNSServer{
		containerID: containerID,
		resolver:    r,
		upstream:    append([]string(nil), upstream...),
		timeout:     dnsUpstreamTimeout,
		log:         log.With("container_id", containerID),
		forwards:    make(chan struct{}, dnsMaxForwards),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	handler := dns.HandlerFunc(d.serveDNS)
	d.udp = &dns.Server{PacketConn: pc, Handler: handler, UDPSize: dnsReadSize}
	d.tcp = &dns.Server{Listener: ln, Handler: handler}

	ready := make(chan error, 2)
	d.wg.Add(2)
	go d.serve(d.udp, "udp", ready)
	go d.serve(d.tcp, "tcp", ready)
	var startErr error
	for range 2 {
		startErr = errors.Join(startErr, <-ready)
	}
	if startErr != nil {
		d.cancel()
		// Shut down whichever server did start; the other returned already.
		for _, s := range []*dns.Server{d.udp, d.tcp} {
			s.Shutdown() //nolint:errcheck // "not started" for the one that failed
		}
		d.wg.Wait()
		pc.Close()
		ln.Close()
		return nil, fmt.Errorf("embedded DNS for container %s: %w", containerID, startErr)
	}
	return d, nil
}

// serve runs srv until it is shut down, reporting on ready once whether it
// started.
func (d *DNSServer) serve(srv *dns.Server, proto string, ready chan<- error) {
	defer d.wg.Done()
	notified := false // touched only by this goroutine: ActivateAndServe calls NotifyStartedFunc synchronously
	srv.NotifyStartedFunc = func() {
		notified = true
		ready <- nil
	}
	err := srv.ActivateAndServe()
	switch {
	case !notified && err == nil:
		ready <- fmt.Errorf("%s DNS server did not start", proto)
	case !notified:
		ready <- fmt.Errorf("start %s DNS server: %w", proto, err)
	case err != nil:
		d.log.Error("embedded DNS stopped serving", "proto", proto, "error", err)
	}
}

// Close stops both listeners and waits until every query being answered is
// done. It is safe to call more than once.
func (d *DNSServer) Close() error {
	d.closeOnce.Do(func() {
		d.cancel()
		var errs []error
		for _, s := range []*dns.Server{d.udp, d.tcp} {
			if err := s.Shutdown(); err != nil {
				errs = append(errs, err)
			}
		}
		d.wg.Wait()
		if err := errors.Join(errs...); err != nil {
			d.closeErr = fmt.Errorf("stop embedded DNS for container %s: %w", d.containerID, err)
		}
	})
	return d.closeErr
}

// serveDNS answers one query. miekg/dns calls it on its own goroutine per UDP
// packet (and per TCP connection); it returns once the reply is written.
func (d *DNSServer) serveDNS(w dns.ResponseWriter, q *dns.Msg) {
	if len(q.Question) != 1 {
		// The default accept function already answers FORMERR; be safe.
		return
	}
	proto := w.LocalAddr().Network()
	resp := d.answerLocal(q)
	if resp == nil {
		resp = d.forward(proto, q)
	}
	if resp == nil {
		resp = new(dns.Msg).SetRcode(q, dns.RcodeServerFailure)
		resp.RecursionAvailable = true
	}
	// A UDP reply that does not fit what the client can take is cut short
	// with TC set, so the client asks again over TCP.
	resp.Truncate(replySize(proto, q))
	if err := w.WriteMsg(resp); err != nil {
		d.log.Debug("embedded DNS reply failed", "proto", proto, "question", q.Question[0].String(), "error", err)
	}
}

// replySize is the largest reply the client accepts (RFC 6891 section 6.2.5).
func replySize(proto string, q *dns.Msg) int {
	if proto == "tcp" {
		return dns.MaxMsgSize
	}
	size := dns.MinMsgSize
	if opt := q.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
		size = int(opt.UDPSize())
	}
	return size
}

// answerLocal answers q from the Resolver, or returns nil when the name is
// not berth's and the query goes upstream.
func (d *DNSServer) answerLocal(q *dns.Msg) *dns.Msg {
	question := q.Question[0]
	if question.Qclass != dns.ClassINET {
		return nil
	}
	switch question.Qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeMX:
		name := strings.ToLower(strings.TrimSuffix(question.Name, "."))
		if name == "" {
			return nil
		}
		v4, v6, ok := d.resolver.Lookup(d.containerID, name)
		if !ok {
			return nil
		}
		resp := localReply(q)
		switch question.Qtype {
		case dns.TypeA:
			resp.Answer = d.addressRecords(question.Name, name, dns.TypeA, v4)
		case dns.TypeAAAA:
			resp.Answer = d.addressRecords(question.Name, name, dns.TypeAAAA, v6)
		}
		// MX for a known name: an empty NOERROR, so mailers fall back to
		// the "implicit MX" of RFC 5321 section 5.1, as dockerd answers.
		return resp
	case dns.TypePTR:
		ip, ok := ptrAddr(question.Name)
		if !ok {
			return nil
		}
		host, ok := d.resolver.LookupPTR(d.containerID, ip)
		if !ok || host == "" {
			return nil
		}
		resp := localReply(q)
		resp.Answer = []dns.RR{&dns.PTR{
			Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: dnsTTL},
			Ptr: dns.Fqdn(host),
		}}
		return resp
	}
	return nil
}

// localReply starts a reply berth answers itself. Like dockerd it sets RA but
// not AA, so nslookup prints "Non-authoritative answer" as it does on Docker.
func localReply(q *dns.Msg) *dns.Msg {
	resp := new(dns.Msg).SetReply(q)
	resp.RecursionAvailable = true
	if opt := q.IsEdns0(); opt != nil {
		resp.SetEdns0(dnsReadSize, false)
	}
	return resp
}

// addressRecords makes the A or AAAA records for addrs, rotated one step per
// query of that name and type so clients taking the first address spread
// over them. qname is the name as asked (case kept); name is its key.
func (d *DNSServer) addressRecords(qname, name string, qtype uint16, addrs []netip.Addr) []dns.RR {
	n := len(addrs)
	if n == 0 {
		return nil
	}
	start := d.nextTurn(rotationKey{name: name, qtype: qtype}, n)
	rrs := make([]dns.RR, 0, n)
	hdr := dns.RR_Header{Name: qname, Rrtype: qtype, Class: dns.ClassINET, Ttl: dnsTTL}
	for i := range n {
		a := addrs[(start+i)%n]
		switch {
		case qtype == dns.TypeA && a.Unmap().Is4():
			rrs = append(rrs, &dns.A{Hdr: hdr, A: a.Unmap().AsSlice()})
		case qtype == dns.TypeAAAA && a.Is6() && !a.Is4In6():
			rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	return rrs
}

// nextTurn returns where the answer for key starts this time.
func (d *DNSServer) nextTurn(key rotationKey, n int) int {
	if n < 2 {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.turns == nil {
		d.turns = make(map[rotationKey]uint32)
	}
	t, ok := d.turns[key]
	if !ok && len(d.turns) >= dnsMaxRotations {
		clear(d.turns)
	}
	d.turns[key] = t + 1
	return int(t % uint32(n))
}

// ptrAddr parses a reverse-lookup name (d.c.b.a.in-addr.arpa. or the 32
// nibbles of ip6.arpa.) into its address.
func ptrAddr(name string) (netip.Addr, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, l := range labels {
			v, err := strconv.ParseUint(l, 10, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			b[3-i] = byte(v)
		}
		return netip.AddrFrom4(b), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, l := range labels {
			if len(l) != 1 {
				return netip.Addr{}, false
			}
			v, err := strconv.ParseUint(l, 16, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			nibble := 31 - i // labels run from the lowest nibble up
			if nibble%2 == 0 {
				b[nibble/2] |= byte(v) << 4
			} else {
				b[nibble/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// forward asks the upstream servers in order, over proto, and returns the
// first answer that is neither SERVFAIL nor REFUSED; nil when none gives one.
// It runs on a host-namespace goroutine, so the host's loopback resolvers
// (127.0.0.53 and the like) are reachable.
func (d *DNSServer) forward(proto string, q *dns.Msg) *dns.Msg {
	if len(d.upstream) == 0 {
		return nil
	}
	select {
	case d.forwards <- struct{}{}:
		defer func() { <-d.forwards }()
	default:
		d.log.Warn("embedded DNS: too many forwarded queries in flight", "limit", dnsMaxForwards)
		resp := new(dns.Msg).SetRcode(q, dns.RcodeRefused)
		resp.RecursionAvailable = true
		return resp
	}
	for _, up := range d.upstream {
		if d.ctx.Err() != nil {
			return nil
		}
		resp, err := d.exchange(proto, up, q)
		if err != nil {
			d.log.Debug("embedded DNS: upstream failed", "upstream", up, "proto", proto,
				"question", q.Question[0].String(), "error", err)
			continue
		}
		if resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused {
			// Possibly transient, or this server will not serve us: try the next.
			continue
		}
		resp.Compress = true
		return resp
	}
	return nil
}

// exchange sends q to one upstream server over proto and returns its reply.
// The query goes out with a fresh ID (restored on the reply) so a guessable
// client ID is not what protects the answer.
func (d *DNSServer) exchange(proto, upstream string, q *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, proto, upstream)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// Close cancels d.ctx; unblock the read at once rather than at the deadline.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) }) //nolint:errcheck
	defer stop()

	id := q.Id
	q.Id = dns.Id()
	defer func() { q.Id = id }()
	// UDPSize: take oversized replies from servers that ignore the EDNS size
	// (or get no EDNS); serveDNS truncates to what the client accepts.
	c := &dns.Client{Net: proto, UDPSize: dns.MaxMsgSize}
	resp, _, err := c.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: conn})
	if err != nil {
		return nil, err
	}
	resp.Id = id
	return resp, nil
}
