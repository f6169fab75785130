// Package network gives containers their networks, in-process: network
// namespaces, bridges, veth pairs and macvlan devices over netlink, NAT,
// port publishing and isolation as rules in berth's own nftables tables,
// IPAM, and the embedded DNS server that answers on 127.0.0.11 inside each
// container on a user-defined network.
//
// Files by concern:
//   - netns.go, link.go, macvlan.go: namespaces and devices (netlink)
//   - nft.go, ports.go: the nftables rule set and host-port reservations
//   - dns.go, dnsredirect.go: the embedded DNS server and the NAT rule in
//     each container namespace that sends 127.0.0.11:53 to it
//   - ipam.go: address pools and allocation
//   - network.go, store.go, service.go, endpoint.go: the network model,
//     its bbolt store, and the service the daemon and containers call
package network
