package container

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// containerFiles writes /etc/hostname, /etc/hosts and /etc/resolv.conf for
// c into its data directory and returns their paths. They are made anew at
// every start, before the container can read them, so they need neither
// fsync nor rename: a crash loses nothing the next start does not rewrite.
func (s *Service) containerFiles(c *Container) (hostname, hosts, resolv string, err error) {
	dir := s.dataDir(c.ID)
	hostname = filepath.Join(dir, "hostname")
	hosts = filepath.Join(dir, "hosts")
	resolv = filepath.Join(dir, "resolv.conf")

	if err = os.WriteFile(hostname, []byte(c.Config.Hostname+"\n"), 0o644); err != nil {
		return
	}
	if err = os.WriteFile(hosts, s.hostsFile(c), 0o644); err != nil {
		return
	}
	err = os.WriteFile(resolv, s.resolvConf(c), 0o644)
	return
}

// hostsFile is the container's /etc/hosts: the host's with host
// networking; otherwise localhost, --add-host entries (host-gateway is the
// default bridge's gateway), legacy links, and the container's own
// addresses under its hostname. Preconditions: c.mu held; it is let go
// while linked containers are read, so two that link each other cannot
// deadlock.
func (s *Service) hostsFile(c *Container) []byte {
	if c.HostConfig.NetworkMode.IsHost() {
		data, _ := os.ReadFile("/etc/hosts")
		return data
	}
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	for _, h := range c.HostConfig.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if eq := strings.Index(h, "="); eq > 0 {
			name, ip, ok = h[:eq], h[eq+1:], true
		}
		if ip == "host-gateway" {
			ip = s.hostGateway()
		}
		if ok && ip != "" {
			fmt.Fprintf(&b, "%s\t%s\n", ip, name)
		}
	}
	c.mu.Unlock()
	links, _ := s.linkEntries(c) // network.go; takes other containers' locks
	c.mu.Lock()
	for _, l := range links {
		b.WriteString(l + "\n")
	}
	names := c.Config.Hostname
	if c.Config.Domainname != "" {
		names = c.Config.Hostname + "." + c.Config.Domainname + " " + c.Config.Hostname
	}
	for _, a := range c.addressesLocked() {
		fmt.Fprintf(&b, "%s\t%s\n", a, names)
	}
	return b.Bytes()
}

// rewriteNetworkFiles writes /etc/hosts and /etc/resolv.conf of a running
// container again after its networks changed. The files are bind-mounted,
// so they are rewritten in place.
func (s *Service) rewriteNetworkFiles(c *Container) {
	dir := s.dataDir(c.ID)
	c.mu.Lock()
	hosts := s.hostsFile(c)
	resolv := s.resolvConf(c)
	c.mu.Unlock()
	logErr(s.log, "rewrite /etc/hosts", os.WriteFile(filepath.Join(dir, "hosts"), hosts, 0o644), "container_id", c.ID)
	logErr(s.log, "rewrite /etc/resolv.conf", os.WriteFile(filepath.Join(dir, "resolv.conf"), resolv, 0o644), "container_id", c.ID)
}

// resolvConf is the host's resolver configuration as Docker hands it to a
// container: with host networking unchanged; otherwise without loopback
// nameservers (unreachable from the container), falling back to public
// resolvers when none is left, and with --dns/--dns-search/--dns-option.
// Preconditions: c.mu held.
func (s *Service) resolvConf(c *Container) []byte {
	host, _ := os.ReadFile("/etc/resolv.conf")
	if c.HostConfig.NetworkMode.IsHost() && len(c.HostConfig.DNS) == 0 {
		return host
	}
	var ns, search, opts []string
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if !strings.HasPrefix(f[1], "127.") && f[1] != "::1" {
				ns = append(ns, f[1])
			}
		case "search":
			search = f[1:]
		case "options":
			opts = append(opts, f[1:]...)
		}
	}
	if c.embeddedDNSLocked() {
		// The embedded server forwards to the host's resolvers (or --dns)
		// from the host's namespace.
		ns = []string{"127.0.0.11"}
	} else if len(c.HostConfig.DNS) > 0 {
		ns = nil
		for _, a := range c.HostConfig.DNS {
			ns = append(ns, a.String())
		}
	} else if len(s.cfg.DNS) > 0 {
		ns = append([]string(nil), s.cfg.DNS...)
	}
	if len(ns) == 0 {
		ns = []string{"8.8.8.8", "8.8.4.4"}
	}
	if len(c.HostConfig.DNSSearch) > 0 {
		search = c.HostConfig.DNSSearch
	} else if len(s.cfg.DNSSearch) > 0 {
		search = s.cfg.DNSSearch
	}
	if len(c.HostConfig.DNSOptions) > 0 {
		opts = c.HostConfig.DNSOptions
	} else if len(s.cfg.DNSOptions) > 0 {
		opts = s.cfg.DNSOptions
	}
	if c.embeddedDNSLocked() && !slices.ContainsFunc(opts, func(o string) bool { return strings.HasPrefix(o, "ndots:") }) {
		opts = append([]string{"ndots:0"}, opts...)
	}
	var b bytes.Buffer
	for _, n := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", n)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.Bytes()
}
