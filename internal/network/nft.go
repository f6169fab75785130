package network

// The nftables rule set: published ports (DNAT), masquerade, isolation
// between bridges, internal bridges and inter-container communication,
// built in-process over netlink (github.com/google/nftables) and swapped in
// as one atomic batch.
//
// Layout, for a Firewall named N (production: "berth"):
//
//	table inet N
//	  set bridges      ifname: every berth bridge
//	  chain prerouting nat/prerouting/-100: ip daddr 127.0.0.0/8 return; fib daddr type local jump ports
//	  chain output     nat/output/-100:     ip6 daddr ::1 return; fib daddr type local jump ports
//	  chain ports      one DNAT rule per PortRule (specific host addresses first),
//	                   its comment naming the port ("tcp *:8080 172.17.0.2:80")
//	  chain postrouting nat/postrouting/100: per bridge: masquerade of 127.0.0.0/8 sent out the
//	                   bridge (route_localnet), hairpin (in and out the same bridge, ct status dnat),
//	                   the subnets leaving by another interface (Masquerade)
//	  chain forward    filter/forward/0, policy accept: isolation and internal drops, then
//	                   established/related accept, then per bridge what may come in and out
//	table bridge N     (only when a bridge has ICC off)
//	  chain forward    filter/forward/0: ip saddr <subnet of X> drop (and ip6)
//
// Bridged frames (container to container on one bridge) do not reach the
// inet forward hook unless br_netfilter is loaded, so ICC=false is enforced
// in the bridge family table, which sees every bridged frame either way.
//
// Hosts where iptables-nft (dockerd, firewalld's iptables backend, ...) has
// set the policy of `ip filter FORWARD` (or `ip6 filter FORWARD`) to drop
// would drop berth's forwarded traffic however berth's own table votes:
// every base chain on a hook must accept a packet. So when such a chain
// exists, Apply also inserts, at its head, `iifname X accept` and
// `oifname X accept` for each berth bridge, tagged with the rule comment N
// (nftables user data), and Apply and Delete remove exactly the rules
// carrying that tag. The policy decisions stay in berth's table: those
// accepts only stop the foreign chain from overruling it. Hosts using
// iptables-legacy are not handled (that needs the iptables binary).

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"berth/internal/errdefs"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// BridgeRules is what the firewall needs to know about one bridge.
type BridgeRules struct {
	Name       string
	Subnets    []netip.Prefix
	Internal   bool // nothing in or out except within the bridge (and not to the host's other interfaces)
	ICC        bool // containers on the bridge may talk to each other
	Masquerade bool // traffic from the subnets leaving by another interface is masqueraded
}

// PortRule publishes HostIP:HostPort/Proto as ContainerIP:ContainerPort.
type PortRule struct {
	Proto         string     // "tcp", "udp", "sctp"
	HostIP        netip.Addr // zero or unspecified: every host address (v4 rule for 0.0.0.0, v6 for ::)
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
	Bridge        string // the bridge ContainerIP is on (informational; not matched on)
}

// Ruleset is the whole of berth's firewall nftState.
type Ruleset struct {
	Bridges []BridgeRules
	Ports   []PortRule
}

// Firewall manages berth's nftables tables in one network namespace.
// Its methods may be called from several goroutines.
type Firewall struct {
	name  string
	netns int // fd of the network namespace to manage; 0: the caller's
	mu    sync.Mutex
	// applied is what the last full rebuild put in the tables, with the
	// ports of the updates since; nil when unknown (nothing applied yet,
	// or a batch failed). Guarded by mu.
	applied *Ruleset
	// conn is the netlink socket every batch goes through, kept open:
	// closing an nfnetlink socket after a batch that deleted anything makes
	// the kernel wait for the deferred release of those objects (an RCU
	// grace period, 8-17 ms measured here), which would land on every
	// container stop. Guarded by mu; nil until first used and after a
	// failed batch.
	conn *nftables.Conn
}

// connLocked returns the Firewall's netlink connection, opening it when
// needed. Preconditions: f.mu held.
func (f *Firewall) connLocked() (*nftables.Conn, error) {
	if f.conn != nil {
		return f.conn, nil
	}
	c, err := nftables.New(nftables.WithNetNSFd(f.netns), nftables.AsLasting(),
		nftables.WithSockOptions(nftReceiveBuffer))
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	f.conn = c
	return c, nil
}

// dropConnLocked closes the connection after a failed batch (replies may
// still be queued on it, messages of a batch never sent may be buffered
// in it): the next batch opens a new one.
// Preconditions: f.mu held.
func (f *Firewall) dropConnLocked() {
	if f.conn != nil {
		_ = f.conn.CloseLasting()
		f.conn = nil
	}
}

// Close releases the Firewall's netlink socket; the rules stay. The
// Firewall may be used again afterwards.
func (f *Firewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn == nil {
		return nil
	}
	err := f.conn.CloseLasting()
	f.conn = nil
	return err
}

// NewFirewall manages the nftables tables named name (production: "berth")
// in the current network namespace.
func NewFirewall(name string) *Firewall {
	return &Firewall{name: name}
}

// newFirewallInNetNS manages the tables in the network namespace open as
// netnsFD (which must stay open while the Firewall is used); tests use it to
// keep away from the host's rule set.
func newFirewallInNetNS(name string, netnsFD int) *Firewall {
	return &Firewall{name: name, netns: netnsFD}
}

// Apply brings berth's tables to rs in one atomic batch, so no packet sees
// a half-built state. When only the published ports differ from what this
// Firewall applied last (a container starting or stopping), the batch only
// adds and deletes those ports' rules; otherwise the old tables and tagged
// foreign-chain rules are deleted and the new ones added in the same
// netlink transaction. A failed ports update falls back to the rebuild, so
// tables someone else removed are made again.
func (f *Firewall) Apply(rs Ruleset) error {
	if err := rs.validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied != nil && slices.EqualFunc(f.applied.Bridges, rs.Bridges, sameBridge) {
		if err := f.commitPorts(f.applied.Ports, rs.Ports); err == nil {
			f.applied.Ports = slices.Clone(rs.Ports)
			return nil
		}
		f.dropConnLocked()
	}
	f.applied = nil
	if err := f.commit(&rs); err != nil {
		f.dropConnLocked()
		return err
	}
	f.applied = &Ruleset{Bridges: slices.Clone(rs.Bridges), Ports: slices.Clone(rs.Ports)}
	return nil
}

// sameBridge reports whether two bridges get the same rules.
func sameBridge(a, b BridgeRules) bool {
	return a.Name == b.Name && a.Internal == b.Internal && a.ICC == b.ICC &&
		a.Masquerade == b.Masquerade && slices.Equal(a.Subnets, b.Subnets)
}

// Delete removes berth's tables and its tagged rules in foreign FORWARD
// chains; missing ones are fine.
func (f *Firewall) Delete() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = nil
	err := f.commit(nil)
	if err != nil {
		f.dropConnLocked()
	}
	return err
}

// commitPorts changes the ports chain from the rules of old to those of
// want in one batch: it deletes the rules of ports no longer wanted (found
// by the comment each port rule carries) and adds the new ones, rules for
// a specific host address at the head of the chain and catch-all ones at
// its tail. It touches no base chain: deleting and re-adding berth's
// tables unregisters and registers their netfilter hooks, which makes the
// kernel wait for RCU grace periods (10-15 ms here, more under load), and
// every rule added costs tens of microseconds, while a container's own
// rules cost a fraction of a millisecond.
func (f *Firewall) commitPorts(old, want []PortRule) error {
	have := map[string]bool{}
	for _, p := range old {
		have[p.tag()] = true
	}
	wanted := map[string]bool{}
	var add []PortRule
	for _, p := range want {
		tag := p.tag()
		if !have[tag] && !wanted[tag] {
			add = append(add, p)
		}
		wanted[tag] = true
	}
	removed := 0
	for tag := range have {
		if !wanted[tag] {
			removed++
		}
	}
	if len(add) == 0 && removed == 0 {
		return nil
	}
	c, err := f.connLocked()
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: f.name, Family: nftables.TableFamilyINet}
	ch := &nftables.Chain{Name: "ports", Table: t}
	if removed > 0 {
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return fmt.Errorf("nftables: list published ports in %q: %w", f.name, err)
		}
		found := 0
		for _, r := range rules {
			if tag, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && have[tag] && !wanted[tag] {
				r.Table, r.Chain = t, ch
				if err := c.DelRule(r); err != nil {
					return fmt.Errorf("nftables: %w", err)
				}
				found++
			}
		}
		if found != removed {
			// Not what this Firewall left there (the table went, or was
			// changed by hand): the caller rebuilds.
			return fmt.Errorf("nftables: %d of %d published ports missing from %q", removed-found, removed, f.name)
		}
	}
	for _, p := range add {
		r := &nftables.Rule{Table: t, Chain: ch, Exprs: dnatRule(p), UserData: userdata.AppendString(nil, userdata.TypeComment, p.tag())}
		if p.specific() {
			c.InsertRule(r)
		} else {
			c.AddRule(r)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: update published ports in %q: %w", f.name, err)
	}
	return nil
}

// tag names a port rule in the ports chain (its comment).
func (p PortRule) tag() string {
	host := "*"
	if p.specific() {
		host = p.HostIP.Unmap().String()
	} else if p.ContainerIP.Unmap().Is6() {
		host = "[*]"
	}
	return fmt.Sprintf("%s %s:%d %s", p.Proto, host, p.HostPort,
		netip.AddrPortFrom(p.ContainerIP.Unmap(), p.ContainerPort))
}

// specific reports whether p is for one host address (not every one).
func (p PortRule) specific() bool { return p.HostIP.IsValid() && !p.HostIP.IsUnspecified() }

// commit brings the namespace to rs (nil: nothing of berth's) in one batch:
// berth's tables are deleted and rebuilt, tagged rules in foreign FORWARD
// chains deleted and reinserted.
//
// Cost: about 10-15 ms for the default rule set here, most of it the
// kernel unregistering and registering the base chains' hooks; flushing
// the tables instead of deleting them measured no cheaper. Apply takes
// this path only when bridges change (a network made or removed, daemon
// start); container starts and stops go through commitPorts.
func (f *Firewall) commit(rs *Ruleset) error {
	c, err := f.connLocked()
	if err != nil {
		return err
	}

	cur, err := f.current(c)
	if err != nil {
		return err
	}
	for _, r := range cur.tagged {
		if err := c.DelRule(r); err != nil {
			return fmt.Errorf("nftables: %w", err)
		}
	}
	if rs == nil {
		for _, t := range cur.tables {
			c.DelTable(t)
		}
	} else {
		b := nftBuilder{c: c, name: f.name, cur: &cur}
		b.inet(rs)
		b.bridge(rs)
		for _, fw := range cur.forward {
			b.foreignAccepts(fw, rs.Bridges)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: update tables %q: %w", f.name, err)
	}
	return nil
}

// nftReceiveBuffer enlarges the netlink socket's receive buffer: the kernel
// echoes every added rule back (google/nftables asks it to, to learn rule
// handles), and a few hundred rules overflow the default buffer (ENOBUFS).
// SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it the size is capped by
// net.core.rmem_max.
func nftReceiveBuffer(c *netlink.Conn) error {
	const size = 16 << 20
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
	}); err == nil && serr == nil {
		return nil
	}
	return c.SetReadBuffer(size)
}

// nftState is what exists now in the namespace that commit must deal with.
type nftState struct {
	tables  map[nftables.TableFamily]*nftables.Table // berth's own tables (inet and bridge)
	forward []*nftables.Chain                        // foreign "filter FORWARD" chains (ip, ip6)
	tagged  []*nftables.Rule                         // rules tagged with berth's name in those chains
}

func (f *Firewall) current(c *nftables.Conn) (nftState, error) {
	st := nftState{tables: map[nftables.TableFamily]*nftables.Table{}}
	tables, err := c.ListTables()
	if err != nil {
		return st, fmt.Errorf("nftables: list tables: %w", err)
	}
	for _, t := range tables {
		switch {
		case t.Name == f.name && (t.Family == nftables.TableFamilyINet || t.Family == nftables.TableFamilyBridge):
			st.tables[t.Family] = t
		case t.Name == "filter" && (t.Family == nftables.TableFamilyIPv4 || t.Family == nftables.TableFamilyIPv6):
			chains, err := c.ListChainsOfTableFamily(t.Family)
			if err != nil {
				return st, fmt.Errorf("nftables: list chains: %w", err)
			}
			for _, ch := range chains {
				if ch.Table.Name != t.Name || ch.Name != "FORWARD" {
					continue
				}
				ch.Table = t
				st.forward = append(st.forward, ch)
				rules, err := c.GetRules(t, ch)
				if err != nil {
					return st, fmt.Errorf("nftables: list rules of FORWARD: %w", err)
				}
				for _, r := range rules {
					if s, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && s == f.name {
						r.Table, r.Chain = t, ch
						st.tagged = append(st.tagged, r)
					}
				}
			}
		}
	}
	return st, nil
}

func (rs *Ruleset) validate() error {
	seen := map[string]bool{}
	for _, b := range rs.Bridges {
		if b.Name == "" || len(b.Name) >= unix.IFNAMSIZ {
			return errdefs.Invalid(fmt.Errorf("invalid bridge name %q", b.Name))
		}
		if seen[b.Name] {
			return errdefs.Invalid(fmt.Errorf("bridge %s listed twice", b.Name))
		}
		seen[b.Name] = true
		for _, p := range b.Subnets {
			if !p.IsValid() {
				return errdefs.Invalid(fmt.Errorf("bridge %s: invalid subnet", b.Name))
			}
		}
	}
	for _, p := range rs.Ports {
		if _, err := l4proto(p.Proto); err != nil {
			return err
		}
		if p.HostPort == 0 || p.ContainerPort == 0 {
			return errdefs.Invalid(fmt.Errorf("invalid port mapping %d:%d/%s", p.HostPort, p.ContainerPort, p.Proto))
		}
		if !p.ContainerIP.IsValid() {
			return errdefs.Invalid(fmt.Errorf("port %d/%s: no container address", p.HostPort, p.Proto))
		}
		if p.HostIP.IsValid() && p.HostIP.Unmap().Is4() != p.ContainerIP.Unmap().Is4() {
			return errdefs.Invalid(fmt.Errorf("port %d/%s: host address %s and container address %s are of different families",
				p.HostPort, p.Proto, p.HostIP, p.ContainerIP))
		}
	}
	return nil
}

func l4proto(proto string) (byte, error) {
	switch proto {
	case "tcp":
		return unix.IPPROTO_TCP, nil
	case "udp":
		return unix.IPPROTO_UDP, nil
	case "sctp":
		return unix.IPPROTO_SCTP, nil
	}
	return 0, errdefs.Invalid(fmt.Errorf("invalid proto: %s", proto))
}

// nftBuilder queues the messages of one batch.
type nftBuilder struct {
	c    *nftables.Conn
	name string
	cur  *nftState
}

// rule queues a rule made of the parts, in order.
func (b *nftBuilder) rule(ch *nftables.Chain, parts ...[]expr.Any) {
	b.c.AddRule(&nftables.Rule{Table: ch.Table, Chain: ch, Exprs: slices.Concat(parts...)})
}

// nftChainSpec describes a chain: a base chain when hook is set.
type nftChainSpec struct {
	name string
	typ  nftables.ChainType
	hook *nftables.ChainHook
	prio *nftables.ChainPriority
}

// table queues berth's table of family fam, new and empty (an existing one
// is deleted first, in the same batch), with the chains specs.
func (b *nftBuilder) table(fam nftables.TableFamily, specs []nftChainSpec) map[string]*nftables.Chain {
	if old, ok := b.cur.tables[fam]; ok {
		b.c.DelTable(old)
	}
	t := b.c.AddTable(&nftables.Table{Name: b.name, Family: fam})
	accept := nftables.ChainPolicyAccept
	chains := map[string]*nftables.Chain{}
	for _, sp := range specs {
		ch := &nftables.Chain{Name: sp.name, Table: t, Type: sp.typ, Hooknum: sp.hook, Priority: sp.prio}
		if sp.hook != nil {
			ch.Policy = &accept
		}
		chains[sp.name] = b.c.AddChain(ch)
	}
	return chains
}

func (b *nftBuilder) inet(rs *Ruleset) {
	chains := b.table(nftables.TableFamilyINet, []nftChainSpec{
		{name: "ports"},
		{"prerouting", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest},
		{"output", nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest},
		{"postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource},
		{"forward", nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter},
	})
	ports, pre, out, post, fwd := chains["ports"], chains["prerouting"], chains["output"], chains["postrouting"], chains["forward"]
	t := ports.Table

	// Port publishing. 127.0.0.0/8 arriving from outside is never DNAT-ed
	// (it would otherwise slip past the martian check, which runs after
	// prerouting). ::1 has no route_localnet, so it is left alone too.
	jumpPorts := []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: ports.Name},
	}
	loop4 := netip.MustParsePrefix("127.0.0.0/8")
	b.rule(pre, nftAddrMatch(false, loop4), nftVerdict(expr.VerdictReturn))
	b.rule(pre, jumpPorts)
	b.rule(out, nftAddrMatch(false, netip.PrefixFrom(netip.IPv6Loopback(), 128)), nftVerdict(expr.VerdictReturn))
	b.rule(out, jumpPorts)
	for _, p := range sortedPorts(rs.Ports) {
		b.c.AddRule(&nftables.Rule{Table: t, Chain: ports, Exprs: dnatRule(p),
			UserData: userdata.AppendString(nil, userdata.TypeComment, p.tag())})
	}

	var bridges *nftables.Set
	if len(rs.Bridges) > 1 {
		bridges = &nftables.Set{Table: t, ID: 1, Name: "bridges", KeyType: nftables.TypeIFName}
		elems := make([]nftables.SetElement, 0, len(rs.Bridges))
		for _, br := range rs.Bridges {
			elems = append(elems, nftables.SetElement{Key: nftIfname(br.Name)})
		}
		// AddSet only fails for anonymous sets that are not constant.
		_ = b.c.AddSet(bridges, elems)
	}
	masq := []expr.Any{&expr.Masq{}}
	accept, drop := nftVerdict(expr.VerdictAccept), nftVerdict(expr.VerdictDrop)

	for _, br := range rs.Bridges {
		in := nftMeta(expr.MetaKeyIIFNAME, expr.CmpOpEq, nftIfname(br.Name))
		notIn := nftMeta(expr.MetaKeyIIFNAME, expr.CmpOpNeq, nftIfname(br.Name))
		outTo := nftMeta(expr.MetaKeyOIFNAME, expr.CmpOpEq, nftIfname(br.Name))
		notOut := nftMeta(expr.MetaKeyOIFNAME, expr.CmpOpNeq, nftIfname(br.Name))

		// Source NAT: loopback sources sent out the bridge, hairpin, and the
		// subnets leaving by another interface.
		b.rule(post, outTo, nftAddrMatch(true, loop4), masq)
		b.rule(post, in, outTo, nftCtStatusDNAT(true), masq)
		if br.Masquerade && !br.Internal {
			for _, s := range br.Subnets {
				b.rule(post, nftAddrMatch(true, s), notOut, masq)
			}
		}

		// Isolation, before anything is accepted.
		switch {
		case br.Internal:
			b.rule(fwd, in, notOut, drop)
			b.rule(fwd, outTo, notIn, drop)
		case bridges != nil:
			// To another berth bridge: dropped, unless it is a published
			// port (DNAT-ed) of a container there.
			toBridge := []expr.Any{
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Lookup{SourceRegister: 1, SetName: bridges.Name, SetID: bridges.ID},
			}
			b.rule(fwd, in, toBridge, notOut, nftCtStatusDNAT(false), drop)
		}
	}

	b.rule(fwd, []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}, accept)

	for _, br := range rs.Bridges {
		in := nftMeta(expr.MetaKeyIIFNAME, expr.CmpOpEq, nftIfname(br.Name))
		outTo := nftMeta(expr.MetaKeyOIFNAME, expr.CmpOpEq, nftIfname(br.Name))
		if !br.ICC {
			// Only seen with br_netfilter; the bridge table covers the rest.
			b.rule(fwd, in, outTo, nftCtStatusDNAT(true), accept)
			b.rule(fwd, in, outTo, drop)
		}
		b.rule(fwd, in, accept)
		// From elsewhere only published ports come in.
		b.rule(fwd, outTo, nftCtStatusDNAT(true), accept)
		b.rule(fwd, outTo, drop)
	}
}

// bridge builds the bridge family table that stops containers on an ICC=false
// bridge from talking to each other. Bridged frames are matched by their
// source address being in one of the bridge's subnets (IPAM keeps subnets
// apart, so that identifies the bridge): `meta ibrname` would be neater but
// needs nft_meta_bridge, which not every kernel has. ARP still passes, and
// so does IPv6 link-local traffic.
func (b *nftBuilder) bridge(rs *Ruleset) {
	if !slices.ContainsFunc(rs.Bridges, func(br BridgeRules) bool { return !br.ICC }) {
		if t, ok := b.cur.tables[nftables.TableFamilyBridge]; ok {
			b.c.DelTable(t)
		}
		return
	}
	fwd := b.table(nftables.TableFamilyBridge, []nftChainSpec{
		{"forward", nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter},
	})["forward"]
	for _, br := range rs.Bridges {
		if br.ICC {
			continue
		}
		for _, s := range br.Subnets {
			ethType := uint16(unix.ETH_P_IP)
			if s.Addr().Unmap().Is6() {
				ethType = unix.ETH_P_IPV6
			}
			b.rule(fwd, nftMeta(expr.MetaKeyPROTOCOL, expr.CmpOpEq, binaryutil.BigEndian.PutUint16(ethType)),
				nftAddrCmp(true, s), nftVerdict(expr.VerdictDrop))
		}
	}
}

// foreignAccepts inserts the tagged accepts for berth's bridges at the head of
// a foreign FORWARD chain (see the file comment).
func (b *nftBuilder) foreignAccepts(ch *nftables.Chain, bridges []BridgeRules) {
	tag := userdata.AppendString(nil, userdata.TypeComment, b.name)
	for _, br := range bridges {
		for _, key := range []expr.MetaKey{expr.MetaKeyOIFNAME, expr.MetaKeyIIFNAME} {
			b.c.InsertRule(&nftables.Rule{Table: ch.Table, Chain: ch, UserData: tag,
				Exprs: slices.Concat(nftMeta(key, expr.CmpOpEq, nftIfname(br.Name)), nftVerdict(expr.VerdictAccept))})
		}
	}
}

// sortedPorts puts rules for a specific host address before catch-all ones.
func sortedPorts(ports []PortRule) []PortRule {
	out := slices.Clone(ports)
	slices.SortStableFunc(out, func(a, b PortRule) int {
		sa := a.HostIP.IsValid() && !a.HostIP.IsUnspecified()
		sb := b.HostIP.IsValid() && !b.HostIP.IsUnspecified()
		switch {
		case sa && !sb:
			return -1
		case sb && !sa:
			return 1
		}
		return 0
	})
	return out
}

// dnatRule is the rule for one published port, in the inet family.
func dnatRule(p PortRule) []expr.Any {
	cip := p.ContainerIP.Unmap()
	v6 := cip.Is6()
	proto, _ := l4proto(p.Proto)
	var e []expr.Any
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		hip := p.HostIP.Unmap()
		e = nftAddrMatch(false, netip.PrefixFrom(hip, hip.BitLen()))
	} else {
		e = nftNFProto(v6)
	}
	e = append(e, nftMeta(expr.MetaKeyL4PROTO, expr.CmpOpEq, []byte{proto})...)
	e = append(e,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p.HostPort)},
		&expr.Immediate{Register: 1, Data: cip.AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.ContainerPort)},
	)
	fam := uint32(unix.NFPROTO_IPV4)
	if v6 {
		fam = unix.NFPROTO_IPV6
	}
	return append(e, &expr.NAT{Type: expr.NATTypeDestNAT, Family: fam, RegAddrMin: 1, RegProtoMin: 2, Specified: true})
}

// nftNFProto matches the packet's address family (needed before any address
// match in an inet table).
func nftNFProto(v6 bool) []expr.Any {
	fam := byte(unix.NFPROTO_IPV4)
	if v6 {
		fam = unix.NFPROTO_IPV6
	}
	return nftMeta(expr.MetaKeyNFPROTO, expr.CmpOpEq, []byte{fam})
}

// nftAddrMatch matches the source (src) or destination address against p,
// including the address family check.
func nftAddrMatch(src bool, p netip.Prefix) []expr.Any {
	return append(nftNFProto(p.Addr().Unmap().Is6()), nftAddrCmp(src, p)...)
}

// nftAddrCmp compares the network header's source or destination address
// with p; the caller has made sure of the address family.
func nftAddrCmp(src bool, p netip.Prefix) []expr.Any {
	p = p.Masked()
	addr := p.Addr().Unmap()
	off, n := uint32(16), uint32(4)
	if src {
		off = 12
	}
	if addr.Is6() {
		off, n = 24, 16
		if src {
			off = 8
		}
	}
	e := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}}
	if p.Bits() < addr.BitLen() {
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n,
			Mask: nftPrefixMask(netip.PrefixFrom(addr, p.Bits())), Xor: make([]byte, n)})
	}
	return append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr.AsSlice()})
}

func nftPrefixMask(p netip.Prefix) []byte {
	m := make([]byte, p.Addr().BitLen()/8)
	for i := range p.Bits() {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// ipsDstNAT is the conntrack status bit IPS_DST_NAT (linux/netfilter/nf_conntrack_common.h).
const ipsDstNAT = 1 << 5

// nftCtStatusDNAT matches connections that were (dnat) or were not (!dnat) DNAT-ed.
func nftCtStatusDNAT(dnat bool) []expr.Any {
	op := expr.CmpOpNeq
	if !dnat {
		op = expr.CmpOpEq
	}
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: op, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func nftMeta(key expr.MetaKey, op expr.CmpOp, data []byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: data},
	}
}

func nftVerdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

// nftIfname is an interface name as nftables compares it: NUL-padded to IFNAMSIZ.
func nftIfname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}
