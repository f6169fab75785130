package filters

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cases := []struct {
		doc  string
		raw  string
		key  string
		want []string
		bad  bool
	}{
		{doc: "empty", raw: "", key: "x"},
		{doc: "modern form", raw: `{"label":{"a=b":true,"c":true}}`, key: "label", want: []string{"a=b", "c"}},
		{doc: "legacy form", raw: `{"status":["running"]}`, key: "status", want: []string{"running"}},
		{doc: "garbage", raw: `{nope`, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			a, err := Parse(tc.raw)
			if tc.bad {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := a.Get(tc.key)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestMatchLabels(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front"}
	cases := []struct {
		filter []string
		want   bool
	}{
		{nil, true},
		{[]string{"app"}, true},
		{[]string{"app=web"}, true},
		{[]string{"app=db"}, false},
		{[]string{"app", "tier=front"}, true},
		{[]string{"missing"}, false},
		{[]string{"app!=db"}, true},
		{[]string{"app!=web"}, false},
	}
	for _, tc := range cases {
		if got := (Args{"label": tc.filter}).MatchLabels("label", labels); got != tc.want {
			t.Errorf("MatchLabels(%v) = %v, want %v", tc.filter, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := (Args{"status": {"x"}}).Validate("status"); err != nil {
		t.Fatal(err)
	}
	err := (Args{"bogus": {"x"}}).Validate("status")
	if err == nil || err.Error() != "invalid filter 'bogus'" {
		t.Fatalf("err = %v", err)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Now()
	cases := []struct {
		in   string
		want time.Time
	}{
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.5", time.Unix(1700000000, 500000000)},
		{"2023-11-14T22:13:20Z", time.Unix(1700000000, 0)},
	}
	for _, tc := range cases {
		got, err := ParseTime(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	got, err := ParseTime("10m")
	if err != nil || got.After(now.Add(-9*time.Minute)) {
		t.Errorf("ParseTime(10m) = %v, %v", got, err)
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("ParseTime(yesterday) accepted")
	}
}
