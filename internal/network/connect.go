package network

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/network"

	"berth/internal/errdefs"
)

// Connect joins a running container to one more network and returns the
// new endpoint's settings.
func (s *Service) Connect(ctx context.Context, containerID, name, hostname, ref string, es *network.EndpointSettings) (*network.EndpointSettings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, ok := s.sandboxes[containerID]
	if !ok {
		return nil, errdefs.Conflict(fmt.Errorf("container %s is not running", containerID))
	}
	n, err := s.findLocked(ref)
	if err != nil {
		return nil, err
	}
	for _, ep := range sb.Endpoints {
		if ep.NetworkID == n.ID {
			return nil, errdefs.Forbidden(fmt.Errorf("endpoint with name %s already exists in network %s", name, n.Name))
		}
	}
	if es == nil {
		es = &network.EndpointSettings{}
	}
	req := AttachRequest{ContainerID: containerID, Name: name, Hostname: hostname}
	ep, err := s.newEndpointLocked(sb, n, req, es, nextIfIndex(sb))
	if err != nil {
		return nil, err
	}
	// The first endpoint gives the default route; a later one only adds
	// its subnet.
	if err := AddLink(ep.link(sb, n, len(sb.Endpoints) == 0)); err != nil {
		return nil, fmt.Errorf("failed to connect container to network %s: %w", n.Name, err)
	}
	sb.Endpoints = append(sb.Endpoints, ep)
	if err := s.store.put(bucketSandboxes, sb.ContainerID, sb); err != nil {
		sb.Endpoints = sb.Endpoints[:len(sb.Endpoints)-1]
		_ = RemoveLink(ep.link(sb, n, false))
		return nil, err
	}
	if _, running := s.dns[containerID]; !running && n.userDefined() {
		if len(sb.Upstream) == 0 {
			sb.Upstream = s.upstream(nil)
		}
		d, err := StartDNS(context.WithoutCancel(ctx), sb.NetNSPath, containerID, s, sb.Upstream, s.log)
		if err != nil {
			s.log.Warn("start the embedded DNS server", "container_id", containerID, "error", err.Error())
		} else {
			s.dns[containerID] = d
		}
	}
	s.publish(n, "connect", map[string]string{"container": containerID})
	return ep.settings(), nil
}

func nextIfIndex(sb *Sandbox) int {
	for i := 0; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if !slices.ContainsFunc(sb.Endpoints, func(ep *Endpoint) bool { return ep.IfName == name }) {
			return i
		}
	}
}

// Disconnect removes a running container's endpoint on a network.
func (s *Service) Disconnect(ctx context.Context, containerID, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, ok := s.sandboxes[containerID]
	if !ok {
		return nil
	}
	n, err := s.findLocked(ref)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(sb.Endpoints, func(ep *Endpoint) bool { return ep.NetworkID == n.ID })
	if i < 0 {
		return errdefs.Forbidden(fmt.Errorf("container %s is not connected to network %s", containerID, n.Name))
	}
	ep := sb.Endpoints[i]
	if err := RemoveLink(ep.link(sb, n, false)); err != nil {
		return fmt.Errorf("disconnect from network %s: %w", n.Name, err)
	}
	sb.Endpoints = slices.Delete(sb.Endpoints, i, i+1)
	if err := s.store.put(bucketSandboxes, sb.ContainerID, sb); err != nil {
		return err
	}
	s.publish(n, "disconnect", map[string]string{"container": containerID})
	return nil
}

// FindNetwork resolves a network reference to its ID and name.
func (s *Service) FindNetwork(ref string) (id, name, driver string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.findLocked(ref)
	if err != nil {
		return "", "", "", err
	}
	return n.ID, n.Name, n.Driver, nil
}

// Lookup answers the embedded DNS server for a container: the addresses of
// the endpoints whose names match, on the user-defined networks the
// container shares with them. "name.network" is accepted too.
func (s *Service) Lookup(containerID, name string) (v4, v6 []netip.Addr, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, found := s.sandboxes[containerID]
	if !found {
		return nil, nil, false
	}
	for _, mine := range sb.Endpoints {
		n := s.nets[mine.NetworkID]
		if n == nil || !n.userDefined() {
			continue
		}
		want := name
		if suffix := "." + strings.ToLower(n.Name); strings.HasSuffix(want, suffix) {
			want = strings.TrimSuffix(want, suffix)
		}
		for _, other := range s.sandboxes {
			for _, ep := range other.Endpoints {
				if ep.NetworkID != n.ID || !slices.ContainsFunc(ep.DNSNames, func(d string) bool { return strings.EqualFold(d, want) }) {
					continue
				}
				ok = true
				if ep.IPv4.IsValid() && !slices.Contains(v4, ep.IPv4.Addr()) {
					v4 = append(v4, ep.IPv4.Addr())
				}
				if ep.IPv6.IsValid() && !slices.Contains(v6, ep.IPv6.Addr()) {
					v6 = append(v6, ep.IPv6.Addr())
				}
			}
		}
	}
	return v4, v6, ok
}

// LookupPTR answers a reverse query with "name.network".
func (s *Service) LookupPTR(containerID string, ip netip.Addr) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, found := s.sandboxes[containerID]
	if !found {
		return "", false
	}
	for _, mine := range sb.Endpoints {
		n := s.nets[mine.NetworkID]
		if n == nil || !n.userDefined() {
			continue
		}
		for _, other := range s.sandboxes {
			for _, ep := range other.Endpoints {
				if ep.NetworkID == n.ID && len(ep.DNSNames) > 0 && (ep.IPv4.Addr() == ip || ep.IPv6.Addr() == ip) {
					return ep.DNSNames[0] + "." + n.Name, true
				}
			}
		}
	}
	return "", false
}
