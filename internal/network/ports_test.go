package network

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"

	"berth/internal/errdefs"

	"golang.org/x/sys/unix"
)

// Every test here binds inside a network namespace of its own.
func portsTestIn(t *testing.T, ns string, fn func()) {
	t.Helper()
	if err := nftTestIn(ns, func() error { fn(); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestPortReservationsConflicts(t *testing.T) {
	ns := nftTestNS(t, "ports")
	type step struct {
		proto   string
		ip      string // "": zero netip.Addr
		port    uint16
		wantErr string
	}
	const inUse = " failed: port is already allocated"
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"same address", []step{{"tcp", "0.0.0.0", 8080, ""}, {"tcp", "0.0.0.0", 8080, "Bind for 0.0.0.0:8080" + inUse}}},
		{"zero address is 0.0.0.0", []step{{"tcp", "", 8080, ""}, {"tcp", "0.0.0.0", 8080, "Bind for 0.0.0.0:8080" + inUse}}},
		{"wildcard then specific", []step{{"tcp", "0.0.0.0", 8080, ""}, {"tcp", "127.0.0.1", 8080, "Bind for 127.0.0.1:8080" + inUse}}},
		{"specific then wildcard", []step{{"tcp", "127.0.0.1", 8080, ""}, {"tcp", "", 8080, "Bind for 0.0.0.0:8080" + inUse}}},
		{"two specific addresses", []step{{"tcp", "127.0.0.1", 8080, ""}, {"tcp", "127.0.0.2", 8080, ""}}},
		{"tcp and udp", []step{{"tcp", "0.0.0.0", 8080, ""}, {"udp", "0.0.0.0", 8080, ""}}},
		{"udp twice", []step{{"udp", "0.0.0.0", 8080, ""}, {"udp", "127.0.0.1", 8080, "Bind for 127.0.0.1:8080" + inUse}}},
		{"v6 wildcard", []step{{"tcp", "::", 8080, ""}, {"tcp", "::", 8080, "Bind for [::]:8080" + inUse}}},
		{"v6 wildcard then ::1", []step{{"tcp", "::", 8080, ""}, {"tcp", "::1", 8080, "Bind for [::1]:8080" + inUse}}},
		{"v4 and v6 wildcards", []step{{"tcp", "0.0.0.0", 8080, ""}, {"tcp", "::", 8080, ""}}},
		{"sctp", []step{{"sctp", "0.0.0.0", 8080, ""}, {"sctp", "0.0.0.0", 8080, "Bind for 0.0.0.0:8080" + inUse}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPortReservations()
			portsTestIn(t, ns, func() {
				for _, s := range tc.steps {
					var ip netip.Addr
					if s.ip != "" {
						ip = netip.MustParseAddr(s.ip)
					}
					got, err := p.Reserve(s.proto, ip, s.port)
					if s.wantErr == "" {
						if err != nil || got != s.port {
							t.Fatalf("Reserve(%s, %s, %d) = %d, %v", s.proto, s.ip, s.port, got, err)
						}
						defer p.Release(s.proto, ip, s.port)
						continue
					}
					if err == nil || err.Error() != s.wantErr || !errdefs.IsConflict(err) {
						t.Fatalf("Reserve(%s, %s, %d) = %v, want Conflict %q", s.proto, s.ip, s.port, err, s.wantErr)
					}
				}
			})
		})
	}
}

// A reserved port is held against other programs, even ones that set
// SO_REUSEADDR (Go's listeners do), and freed by Release.
func TestPortReservationsHoldPort(t *testing.T) {
	ns := nftTestNS(t, "hold")
	for _, proto := range []string{"tcp", "udp"} {
		t.Run(proto, func(t *testing.T) {
			portsTestIn(t, ns, func() {
				p := NewPortReservations()
				if _, err := p.Reserve(proto, netip.IPv4Unspecified(), 8080); err != nil {
					t.Fatal(err)
				}
				listen := func() error {
					if proto == "udp" {
						c, err := net.ListenPacket("udp4", "127.0.0.1:8080")
						if err == nil {
							c.Close()
						}
						return err
					}
					l, err := net.Listen("tcp4", "127.0.0.1:8080")
					if err == nil {
						l.Close()
					}
					return err
				}
				if err := listen(); !errors.Is(err, unix.EADDRINUSE) {
					t.Fatalf("listen on a reserved port: %v, want EADDRINUSE", err)
				}
				p.Release(proto, netip.IPv4Unspecified(), 8080)
				if err := listen(); err != nil {
					t.Fatalf("listen after Release: %v", err)
				}
			})
		})
	}
}

// A port another program holds is refused with Docker's message and
// leaves no reservation behind.
func TestPortReservationsForeignHolder(t *testing.T) {
	ns := nftTestNS(t, "foreign")
	portsTestIn(t, ns, func() {
		l, err := net.Listen("tcp4", "127.0.0.1:9090")
		if err != nil {
			t.Fatal(err)
		}
		p := NewPortReservations()
		_, err = p.Reserve("tcp", netip.Addr{}, 9090)
		if !errdefs.IsConflict(err) || err.Error() != "Bind for 0.0.0.0:9090 failed: port is already allocated" {
			t.Fatalf("Reserve of a foreign port: %v", err)
		}
		l.Close()
		if _, err := p.Reserve("tcp", netip.Addr{}, 9090); err != nil {
			t.Fatalf("Reserve after the holder left: %v", err)
		}
		p.Release("tcp", netip.Addr{}, 9090)
	})
}

// Port 0 picks from ip_local_port_range, skipping ports taken by berth or
// by other programs, and reuses released ones.
func TestPortReservationsEphemeral(t *testing.T) {
	ns := nftTestNS(t, "ephemeral")
	nftTestSysctl(t, ns, "net.ipv4.ip_local_port_range", "40000 40003")
	portsTestIn(t, ns, func() {
		l, err := net.Listen("tcp4", "0.0.0.0:40001")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		p := NewPortReservations()
		any4 := netip.IPv4Unspecified()
		var got []uint16
		for range 3 {
			port, err := p.Reserve("tcp", any4, 0)
			if err != nil {
				t.Fatalf("Reserve(tcp, 0) after %v: %v", got, err)
			}
			got = append(got, port)
			defer p.Release("tcp", any4, port)
		}
		if want := []uint16{40000, 40002, 40003}; !slices.Equal(got, want) {
			t.Fatalf("ephemeral ports %v, want %v", got, want)
		}
		if _, err := p.Reserve("tcp", any4, 0); !errors.Is(err, errdefs.ErrUnavailable) {
			t.Fatalf("Reserve with the range used up: %v, want Unavailable", err)
		}
		p.Release("tcp", any4, 40002)
		if port, err := p.Reserve("tcp", any4, 0); err != nil || port != 40002 {
			t.Fatalf("Reserve after Release = %d, %v; want 40002", port, err)
		}
		if port, err := p.Reserve("udp", any4, 0); err != nil || port < 40000 || port > 40003 {
			t.Fatalf("Reserve(udp, 0) = %d, %v", port, err)
		} else {
			p.Release("udp", any4, port)
		}
	})
}

func TestPortReservationsInvalid(t *testing.T) {
	if _, err := NewPortReservations().Reserve("icmp", netip.Addr{}, 80); !errdefs.IsInvalid(err) {
		t.Fatalf("Reserve(icmp): %v, want Invalid", err)
	}
}
