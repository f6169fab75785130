package network

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"berth/internal/cli/opts"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

func ipamOpts(subnets, ranges, gateways []string, aux ...string) ipamOptions {
	o := ipamOptions{driver: "default", subnets: subnets, ipRanges: ranges, gateways: gateways, auxAddresses: opts.NewMapOpts(), driverOpts: opts.NewMapOpts()}
	for _, a := range aux {
		_ = o.auxAddresses.Set(a)
	}
	return o
}

func TestIPAMConfig(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	cases := []struct {
		doc  string
		in   ipamOptions
		want []network.IPAMConfig
		err  string // the Docker CLI's own message
	}{
		{doc: "no subnet", in: ipamOpts(nil, nil, nil), want: []network.IPAMConfig{}},
		{
			doc:  "gateway and range belong to the subnet containing them, not the one at their position",
			in:   ipamOpts([]string{"10.1.0.0/24", "10.2.0.0/24"}, []string{"10.2.0.128/25"}, []string{"10.2.0.1", "10.1.0.254"}, "host1=10.1.0.5"),
			want: []network.IPAMConfig{{Subnet: p("10.1.0.0/24"), Gateway: a("10.1.0.254"), AuxAddress: map[string]netip.Addr{"host1": a("10.1.0.5")}}, {Subnet: p("10.2.0.0/24"), IPRange: p("10.2.0.128/25"), Gateway: a("10.2.0.1")}},
		},
		{doc: "bare address is a /32", in: ipamOpts([]string{"10.3.0.1"}, nil, nil), want: []network.IPAMConfig{{Subnet: p("10.3.0.1/32")}}},
		{doc: "gateway without subnet", in: ipamOpts(nil, nil, []string{"10.2.0.1"}), err: "every ip-range or gateway must have a corresponding subnet"},
		{doc: "gateway outside", in: ipamOpts([]string{"10.1.0.0/24"}, nil, []string{"10.2.0.1"}), err: "no matching subnet for gateway 10.2.0.1"},
		{doc: "gateway unparsable", in: ipamOpts([]string{"10.1.0.0/24"}, nil, []string{"foo"}), err: "no matching subnet for gateway foo"},
		{doc: "range outside", in: ipamOpts([]string{"10.1.0.0/24"}, []string{"10.2.0.0/25"}, nil), err: "no matching subnet for range 10.2.0.0/25"},
		{doc: "range unparsable", in: ipamOpts([]string{"10.1.0.0/24"}, []string{"foo"}, nil), err: "invalid CIDR address: foo"},
		{doc: "overlapping subnets", in: ipamOpts([]string{"10.1.0.0/16", "10.1.2.0/24"}, nil, nil), err: "multiple overlapping subnet configuration is not supported"},
		{doc: "two gateways in one subnet", in: ipamOpts([]string{"10.1.0.0/24", "10.2.0.0/24"}, nil, []string{"10.1.0.1", "10.1.0.2"}), err: "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet (10.1.0.0/24)"},
		{doc: "aux outside", in: ipamOpts([]string{"10.1.0.0/24"}, nil, nil, "a=10.2.0.3"), err: "no matching subnet for aux-address 10.2.0.3"},
		{doc: "aux unparsable", in: ipamOpts([]string{"10.1.0.0/24"}, nil, nil, "a=foo"), err: "no matching subnet for aux-address foo"},
		{doc: "subnet unparsable", in: ipamOpts([]string{"foo"}, nil, nil), err: "invalid subnet: invalid CIDR address: foo"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			got, err := ipamConfig(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Driver != "default" || !reflect.DeepEqual(got.Config, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEndpointSettings(t *testing.T) {
	cases := []struct {
		doc  string
		in   connectOptions
		want network.EndpointSettings
		err  string
	}{
		{
			doc: "everything",
			in:  connectOptions{ipv4: "172.30.100.104", ipv6: "2001:db8::33", aliases: []string{"db"}, linkLocalIPs: []string{"169.254.1.1"}, driverOpts: []string{"k = v"}, gwPriority: -1},
			want: network.EndpointSettings{
				IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("172.30.100.104"), IPv6Address: netip.MustParseAddr("2001:db8::33"), LinkLocalIPs: []netip.Addr{netip.MustParseAddr("169.254.1.1")}},
				Aliases:    []string{"db"}, DriverOpts: map[string]string{"k": "v"}, GwPriority: -1,
			},
		},
		{doc: "IPv6 given as --ip", in: connectOptions{ipv4: "2001:db8::1"}, err: "invalid endpoint settings:\ninvalid IPv4 address: 2001:db8::1"},
		{doc: "IPv4 given as --ip6", in: connectOptions{ipv6: "10.0.0.1"}, err: "invalid endpoint settings:\ninvalid IPv6 address: 10.0.0.1"},
		{doc: "every bad address is named", in: connectOptions{ipv4: "x", linkLocalIPs: []string{"y"}}, err: "invalid endpoint settings:\ninvalid IPv4 address: x\ninvalid link-local IP address: y"},
		{doc: "driver option without =", in: connectOptions{driverOpts: []string{"foo"}}, err: "invalid key/value pair format in driver options"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			tc.in.links = opts.NewListOpts(validateLink)
			got, err := tc.in.endpointSettings()
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestValidateLink(t *testing.T) {
	for in, want := range map[string]string{"db": "", "db:alias": "", "a:b:c": "bad format for links: a:b:c", "": "empty string specified for links"} {
		_, err := validateLink(in)
		if got := ""; err != nil {
			got = err.Error()
			if got != want {
				t.Errorf("validateLink(%q): %q, want %q", in, got, want)
			}
		} else if want != "" {
			t.Errorf("validateLink(%q) accepted, want %q", in, want)
		}
	}
}

type fakeNetworkAPI struct {
	connect    []client.NetworkConnectOptions
	disconnect []client.NetworkDisconnectOptions
	nets       []string
}

func (f *fakeNetworkAPI) NetworkConnect(_ context.Context, nw string, o client.NetworkConnectOptions) (client.NetworkConnectResult, error) {
	f.nets = append(f.nets, nw)
	f.connect = append(f.connect, o)
	return client.NetworkConnectResult{}, nil
}

func (f *fakeNetworkAPI) NetworkDisconnect(_ context.Context, nw string, o client.NetworkDisconnectOptions) (client.NetworkDisconnectResult, error) {
	f.nets = append(f.nets, nw)
	f.disconnect = append(f.disconnect, o)
	return client.NetworkDisconnectResult{}, nil
}

func TestConnectDisconnectRequests(t *testing.T) {
	f := &fakeNetworkAPI{}
	links := opts.NewListOpts(validateLink)
	_ = links.Set("web:w")
	o := connectOptions{ipv4: "10.9.0.5", links: links}
	s, err := o.endpointSettings()
	if err != nil {
		t.Fatal(err)
	}
	if err := runConnect(context.Background(), f, "net1", "ctr1", s); err != nil {
		t.Fatal(err)
	}
	if err := runDisconnect(context.Background(), f, "net1", "ctr1", true); err != nil {
		t.Fatal(err)
	}
	if len(f.connect) != 1 || f.connect[0].Container != "ctr1" || f.connect[0].EndpointConfig.IPAMConfig.IPv4Address != netip.MustParseAddr("10.9.0.5") || !reflect.DeepEqual(f.connect[0].EndpointConfig.Links, []string{"web:w"}) {
		t.Errorf("connect request: %+v", f.connect)
	}
	if len(f.disconnect) != 1 || f.disconnect[0] != (client.NetworkDisconnectOptions{Container: "ctr1", Force: true}) {
		t.Errorf("disconnect request: %+v", f.disconnect)
	}
	if !reflect.DeepEqual(f.nets, []string{"net1", "net1"}) {
		t.Errorf("networks: %v", f.nets)
	}
}
