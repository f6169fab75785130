package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"path/filepath"

	"berth/internal/config"
	bnet "berth/internal/network"
)

// openNetworks starts the network service from daemon.json's bridge and
// pool settings.
func (d *Daemon) openNetworks() (*bnet.Service, error) {
	cfg := d.cfg
	var pools []bnet.AddressPool
	for _, p := range cfg.DefaultAddressPools {
		base, err := netip.ParsePrefix(p.Base)
		if err != nil {
			return nil, fmt.Errorf("default-address-pools: invalid base %q: %w", p.Base, err)
		}
		if p.Size < base.Bits() || p.Size > base.Addr().BitLen() {
			return nil, fmt.Errorf("default-address-pools: invalid size %d for %s", p.Size, base)
		}
		pools = append(pools, bnet.AddressPool{Base: base, Size: p.Size})
	}
	return bnet.New(bnet.Config{
		DB:       d.db,
		ExecRoot: cfg.ExecRoot,
		Bridge: bnet.DefaultBridge{
			Name: defaultBridgeName(cfg), Bip: cfg.Bip, FixedCIDR: cfg.FixedCIDR, MTU: cfg.MTU,
			ICC: config.Enabled(cfg.ICC), IPMasq: config.Enabled(cfg.IPMasq),
		},
		AddressPools: pools,
		IPForward:    config.Enabled(cfg.IPForward),
		DNS:          cfg.DNS,
		FirewallName: firewallName(cfg.ExecRoot),
		Events:       d.events,
		Logger:       d.log.With("component", "network"),
	})
}

// firewallName keeps the nftables tables of a daemon with its own
// exec-root (a test daemon) apart from the system daemon's.
func firewallName(execRoot string) string {
	if filepath.Clean(execRoot) == "/run/berth" {
		return "berth"
	}
	return "berth-" + shortHash(execRoot)
}

// defaultBridgeName is the device of the "bridge" network: daemon.json's
// bridge, else berth0 for the system daemon and a name of its own for a
// daemon with another exec-root, so two daemons never share a bridge.
func defaultBridgeName(cfg config.Config) string {
	if cfg.Bridge != "" {
		return cfg.Bridge
	}
	if filepath.Clean(cfg.ExecRoot) == "/run/berth" {
		return bnet.DefaultBridgeName
	}
	return "berth-" + shortHash(cfg.ExecRoot)
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(s)))
	return hex.EncodeToString(sum[:3])
}
