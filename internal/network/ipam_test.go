package network

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"

	"berth/internal/errdefs"
)

func TestChoosePool(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name  string
		taken []netip.Prefix
		want  string
	}{
		{"empty host", nil, "172.17.0.0/16"},
		{"default bridge taken", []netip.Prefix{p("172.17.0.0/16")}, "172.18.0.0/16"},
		{"host route inside a pool", []netip.Prefix{p("172.17.0.0/16"), p("172.18.5.0/24")}, "172.19.0.0/16"},
		{"wide host route", []netip.Prefix{p("172.16.0.0/12")}, "192.168.0.0/20"},
		{"first /20 taken", []netip.Prefix{p("172.16.0.0/12"), p("192.168.0.0/24")}, "192.168.16.0/20"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := choosePool(DefaultAddressPools(), tc.taken)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Errorf("choosePool = %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := choosePool(DefaultAddressPools(), []netip.Prefix{p("172.16.0.0/12"), p("192.168.0.0/16")}); !errdefs.IsForbidden(err) {
		t.Errorf("all pools taken: err = %v, want forbidden", err)
	}
}

func TestPoolFromConfig(t *testing.T) {
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	tests := []struct {
		name    string
		cfg     network.IPAMConfig
		wantGW  string
		wantErr string
	}{
		{"gateway defaults to the first address", network.IPAMConfig{Subnet: p("10.9.0.0/24")}, "10.9.0.1", ""},
		{"gateway given", network.IPAMConfig{Subnet: p("10.9.0.0/24"), Gateway: a("10.9.0.254")}, "10.9.0.254", ""},
		{"gateway outside", network.IPAMConfig{Subnet: p("10.9.0.0/24"), Gateway: a("10.8.0.1")}, "", "invalid gateway 10.8.0.1"},
		{"subnet not masked", network.IPAMConfig{Subnet: p("10.9.0.5/24")}, "", "it should be 10.9.0.0/24"},
		{"range outside", network.IPAMConfig{Subnet: p("10.9.0.0/24"), IPRange: p("10.9.1.0/25")}, "", "doesn't contain ip-range"},
		{"aux outside", network.IPAMConfig{Subnet: p("10.9.0.0/24"), AuxAddress: map[string]netip.Addr{"r": a("10.7.0.1")}}, "", "invalid auxiliary address r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := poolFromConfig(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !errdefs.IsInvalid(err) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want invalid with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pool.Gateway.String() != tc.wantGW {
				t.Errorf("gateway = %s, want %s", pool.Gateway, tc.wantGW)
			}
		})
	}
}

func TestAllocate(t *testing.T) {
	pool := Pool{
		Subnet: netip.MustParsePrefix("10.9.0.0/29"), Gateway: netip.MustParseAddr("10.9.0.1"),
		Aux: map[string]netip.Addr{"router": netip.MustParseAddr("10.9.0.3")},
	}
	used := map[netip.Addr]bool{}
	inUse := func(a netip.Addr) bool { return used[a] }
	var got []string
	for {
		a, err := pool.allocate(inUse)
		if err != nil {
			if !errdefs.IsUnavailable(err) {
				t.Fatalf("exhausted pool: err = %v, want unavailable", err)
			}
			break
		}
		used[a] = true
		got = append(got, a.String())
	}
	// .0 network, .1 gateway, .3 aux, .7 broadcast are never handed out.
	want := []string{"10.9.0.2", "10.9.0.4", "10.9.0.5", "10.9.0.6"}
	if len(got) != len(want) {
		t.Fatalf("allocated %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allocated %v, want %v", got, want)
		}
	}
	if err := pool.checkStatic(netip.MustParseAddr("10.9.0.4"), inUse); !errdefs.IsConflict(err) {
		t.Errorf("static address in use: err = %v, want conflict", err)
	}
	if err := pool.checkStatic(netip.MustParseAddr("10.9.1.4"), inUse); !errdefs.IsInvalid(err) {
		t.Errorf("static address outside: err = %v, want invalid", err)
	}
}
