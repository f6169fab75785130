package container

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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
	var hostsData []byte
	if c.HostConfig.NetworkMode.IsHost() {
		hostsData, _ = os.ReadFile("/etc/hosts")
	} else {
		var b bytes.Buffer
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
		for _, h := range c.HostConfig.ExtraHosts {
			name, ip, ok := strings.Cut(h, ":")
			if eq := strings.Index(h, "="); eq > 0 {
				name, ip, ok = h[:eq], h[eq+1:], true
			}
			if ok {
				fmt.Fprintf(&b, "%s\t%s\n", ip, name)
			}
		}
		hostsData = b.Bytes()
	}
	if err = os.WriteFile(hosts, hostsData, 0o644); err != nil {
		return
	}
	err = os.WriteFile(resolv, resolvConf(c), 0o644)
	return
}

// resolvConf is the host's resolver configuration as Docker hands it to a
// container: with host networking unchanged; otherwise without loopback
// nameservers (unreachable from the container), falling back to public
// resolvers when none is left, and with --dns/--dns-search/--dns-option.
func resolvConf(c *Container) []byte {
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
	if len(c.HostConfig.DNS) > 0 {
		ns = nil
		for _, a := range c.HostConfig.DNS {
			ns = append(ns, a.String())
		}
	}
	if len(ns) == 0 {
		ns = []string{"8.8.8.8", "8.8.4.4"}
	}
	if len(c.HostConfig.DNSSearch) > 0 {
		search = c.HostConfig.DNSSearch
	}
	if len(c.HostConfig.DNSOptions) > 0 {
		opts = c.HostConfig.DNSOptions
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
