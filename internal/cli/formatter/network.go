package formatter

import (
	"encoding/json"
	"fmt"

	"github.com/moby/moby/api/types/network"
)

// Network list formats, as in docker's network ls.
const (
	DefaultNetworkTableFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
	NetworkQuietFormat        = "{{.ID}}"
)

// NetworkHeader returns the header names of the networks table.
func NetworkHeader() Header {
	return Header{
		"ID":        "NETWORK ID",
		"Name":      "NAME",
		"Driver":    "DRIVER",
		"Scope":     "SCOPE",
		"IPv4":      "IPV4",
		"IPv6":      "IPV6",
		"Internal":  "INTERNAL",
		"Labels":    "LABELS",
		"CreatedAt": "CREATED",
	}
}

// NetworkContext is one row of `network ls`.
type NetworkContext struct {
	n     network.Summary
	trunc bool
}

// ID is the network ID, 12 characters when truncated.
func (c *NetworkContext) ID() string {
	if c.trunc {
		return TruncateID(c.n.ID)
	}
	return c.n.ID
}

// Name is the network name.
func (c *NetworkContext) Name() string { return c.n.Name }

// Driver is the network driver.
func (c *NetworkContext) Driver() string { return c.n.Driver }

// Scope is local, global or swarm.
func (c *NetworkContext) Scope() string { return c.n.Scope }

// IPv4 reports whether IPv4 is enabled.
func (c *NetworkContext) IPv4() string { return fmt.Sprintf("%v", c.n.EnableIPv4) }

// IPv6 reports whether IPv6 is enabled.
func (c *NetworkContext) IPv6() string { return fmt.Sprintf("%v", c.n.EnableIPv6) }

// Internal reports whether the network is internal.
func (c *NetworkContext) Internal() string { return fmt.Sprintf("%v", c.n.Internal) }

// Labels lists the labels.
func (c *NetworkContext) Labels() string { return joinLabels(c.n.Labels) }

// Label returns one label's value.
func (c *NetworkContext) Label(name string) string { return c.n.Labels[name] }

// CreatedAt is the creation time.
func (c *NetworkContext) CreatedAt() string { return c.n.Created.String() }

// MarshalJSON renders every field.
func (c *NetworkContext) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"CreatedAt": c.CreatedAt(),
		"Driver":    c.Driver(),
		"ID":        c.ID(),
		"IPv4":      c.IPv4(),
		"IPv6":      c.IPv6(),
		"Internal":  c.Internal(),
		"Labels":    c.Labels(),
		"Name":      c.Name(),
		"Scope":     c.Scope(),
	})
}

// NetworkRows wraps networks for Context.Write.
func NetworkRows(ns []network.Summary, trunc bool) []any {
	rows := make([]any, len(ns))
	for i, n := range ns {
		rows[i] = &NetworkContext{n: n, trunc: trunc}
	}
	return rows
}
