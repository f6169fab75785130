package network

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// addMacvlan makes a bridge-mode macvlan device on l.Parent directly inside
// the namespace under its final name, then configures it. A "IF.VLAN" parent
// that does not exist is created first, and removed again if a later step
// fails.
func addMacvlan(host, inner *netlink.Handle, nsh netns.NsHandle, l Link) (err error) {
	parent, madeVLAN, err := ensureParent(host, l.Parent)
	if err != nil {
		return err
	}
	if madeVLAN {
		defer func() {
			if err != nil {
				_ = host.LinkDel(parent)
			}
		}()
	}

	attrs := netlink.NewLinkAttrs()
	attrs.Name = l.IfName
	attrs.ParentIndex = parent.Attrs().Index
	attrs.MTU = l.MTU
	attrs.HardwareAddr = l.MAC
	attrs.Namespace = netlink.NsFd(nsh)
	mv := &netlink.Macvlan{LinkAttrs: attrs, Mode: netlink.MACVLAN_MODE_BRIDGE}
	if err := host.LinkAdd(mv); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return errdefs.Conflict(fmt.Errorf("create macvlan %s on %s: %w", l.IfName, l.Parent, err))
		}
		return fmt.Errorf("create macvlan %s on %s: %w", l.IfName, l.Parent, err)
	}
	// mv.Attrs().Index may name a host device of the same name (LinkAdd looks
	// the name up on the host), so the device is only ever touched inside.
	defer func() {
		if err != nil {
			if link, lerr := inner.LinkByName(l.IfName); lerr == nil {
				_ = inner.LinkDel(link)
			}
		}
	}()
	return configureInside(inner, l)
}

// ensureParent returns the parent device, creating the 802.1q sub-interface
// when parent is "IF.VLAN", missing, and IF exists. Errors carry Docker's
// messages.
func ensureParent(host *netlink.Handle, parent string) (link netlink.Link, made bool, err error) {
	link, err = host.LinkByName(parent)
	if err == nil {
		return link, false, nil
	}
	if !isLinkNotFound(err) {
		return nil, false, fmt.Errorf("parent %s: %w", parent, err)
	}
	if !strings.Contains(parent, ".") {
		return nil, false, errdefs.Invalid(fmt.Errorf("invalid subinterface vlan name %s, example formatting is eth0.10", parent))
	}
	base, vid, err := parseVLAN(parent)
	if err != nil {
		return nil, false, err
	}
	baseLink, err := host.LinkByName(base)
	if isLinkNotFound(err) {
		return nil, false, errdefs.Invalid(fmt.Errorf("-o parent interface was not found on the host: %s", base))
	}
	if err != nil {
		return nil, false, fmt.Errorf("parent %s: %w", base, err)
	}
	if vid < 1 || vid > 4094 {
		return nil, false, errdefs.Invalid(fmt.Errorf("vlan id must be between 1-4094, received: %d", vid))
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = parent
	attrs.ParentIndex = baseLink.Attrs().Index
	attrs.Flags = net.FlagUp
	vlan := &netlink.Vlan{LinkAttrs: attrs, VlanId: vid}
	if err := host.LinkAdd(vlan); err != nil {
		return nil, false, fmt.Errorf("failed to create %s vlan link: %w", parent, err)
	}
	if vlan.Index == 0 {
		return nil, false, fmt.Errorf("vlan link %s vanished after creation", parent)
	}
	return vlan, true, nil
}

// parseVLAN splits "IF.VLAN", with Docker's messages.
func parseVLAN(parent string) (base string, vid int, err error) {
	parts := strings.Split(parent, ".")
	if len(parts) != 2 {
		return "", 0, errdefs.Invalid(fmt.Errorf("required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received: %s", parent))
	}
	vid, err = strconv.Atoi(parts[1])
	if err != nil {
		return "", 0, errdefs.Invalid(fmt.Errorf("unable to parse a valid vlan id from: %s (ex. eth0.10 for vlan 10)", parts[1]))
	}
	return parts[0], vid, nil
}

// ParentExists reports whether a macvlan parent (or the base of "IF.VLAN")
// exists on the host.
func ParentExists(parent string) bool {
	if parent == "" {
		return false
	}
	if _, err := netlink.LinkByName(parent); err == nil {
		return true
	}
	base, _, err := parseVLAN(parent)
	if err != nil {
		return false
	}
	_, err = netlink.LinkByName(base)
	return err == nil
}

// RemoveVLAN deletes a "IF.VLAN" sub-interface that EnsureVLAN-style
// creation made; missing is fine. A parent without a dot is left alone, and a
// device of that name that is not a VLAN is refused.
func RemoveVLAN(parent string) error {
	if !strings.Contains(parent, ".") {
		return nil
	}
	link, err := netlink.LinkByName(parent)
	if isLinkNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find %s: %w", parent, err)
	}
	if link.Type() != "vlan" {
		return errdefs.Conflict(fmt.Errorf("interface %s does not appear to be a vlan sub-interface (%s)", parent, link.Type()))
	}
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("failed to delete %s link: %w", parent, err)
	}
	return nil
}
