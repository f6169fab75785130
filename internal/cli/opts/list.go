package opts

import (
	"fmt"
	"math/big"
	"sort"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
)

// ValidatorFunc checks and possibly rewrites one flag value.
type ValidatorFunc func(string) (string, error)

// ListOpts is a repeatable string flag ("list" in help).
type ListOpts struct {
	values    []string
	validator ValidatorFunc
}

// NewListOpts returns a list flag whose values pass through validator (may
// be nil).
func NewListOpts(validator ValidatorFunc) *ListOpts {
	return &ListOpts{validator: validator}
}

func (o *ListOpts) String() string {
	if len(o.values) == 0 {
		return ""
	}
	return fmt.Sprintf("%v", o.values)
}

// Set appends a value after validation.
func (o *ListOpts) Set(v string) error {
	if o.validator != nil {
		nv, err := o.validator(v)
		if err != nil {
			return err
		}
		v = nv
	}
	o.values = append(o.values, v)
	return nil
}

// Type is shown in help.
func (o *ListOpts) Type() string { return "list" }

// GetSlice returns the values in order.
func (o *ListOpts) GetSlice() []string { return append([]string(nil), o.values...) }

// Len is the number of values.
func (o *ListOpts) Len() int { return len(o.values) }

// MapOpts is a repeatable key=value flag ("map" in help).
type MapOpts struct {
	values map[string]string
}

// NewMapOpts returns an empty map flag.
func NewMapOpts() *MapOpts { return &MapOpts{values: map[string]string{}} }

func (o *MapOpts) String() string { return fmt.Sprintf("%v", o.values) }

// Set adds key=value.
func (o *MapOpts) Set(v string) error {
	k, val, _ := strings.Cut(v, "=")
	o.values[k] = val
	return nil
}

// Type is shown in help.
func (o *MapOpts) Type() string { return "map" }

// GetAll returns the map.
func (o *MapOpts) GetAll() map[string]string { return o.values }

// FilterOpt collects --filter key=value pairs ("filter" in help).
type FilterOpt struct {
	filters client.Filters
}

// NewFilterOpt returns an empty filter flag.
func NewFilterOpt() *FilterOpt { return &FilterOpt{filters: client.Filters{}} }

func (o *FilterOpt) String() string {
	var out []string
	for k, vs := range o.filters {
		for v := range vs {
			out = append(out, k+"="+v)
		}
	}
	if len(out) == 0 {
		return ""
	}
	sort.Strings(out)
	return fmt.Sprintf("%v", out)
}

// Set parses "key=value", as docker does.
func (o *FilterOpt) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("bad format of filter (expected name=value)")
	}
	k = strings.ToLower(strings.TrimSpace(k))
	val = strings.TrimSpace(val)
	o.filters.Add(k, val)
	return nil
}

// Type is shown in help.
func (o *FilterOpt) Type() string { return "filter" }

// Value returns the collected filters.
func (o *FilterOpt) Value() client.Filters { return o.filters }

// MemBytes is a size flag accepting docker's units ("bytes" in help).
type MemBytes int64

func (m *MemBytes) String() string {
	if m == nil || *m == 0 {
		return "0"
	}
	return units.BytesSize(float64(*m))
}

// Set parses a size such as 512m or 1g.
func (m *MemBytes) Set(v string) error {
	n, err := units.RAMInBytes(v)
	*m = MemBytes(n)
	return err
}

// Type is shown in help.
func (m *MemBytes) Type() string { return "bytes" }

// Value returns the size in bytes.
func (m *MemBytes) Value() int64 { return int64(*m) }

// MemSwapBytes is MemBytes that also accepts -1 (unlimited).
type MemSwapBytes int64

func (m *MemSwapBytes) String() string { return (*MemBytes)(m).String() }

// Set parses a size or -1.
func (m *MemSwapBytes) Set(v string) error {
	if v == "-1" {
		*m = -1
		return nil
	}
	return (*MemBytes)(m).Set(v)
}

// Type is shown in help.
func (m *MemSwapBytes) Type() string { return "bytes" }

// Value returns the size in bytes.
func (m *MemSwapBytes) Value() int64 { return int64(*m) }

// NanoCPUs is --cpus ("decimal" in help), stored in units of 1e-9 CPUs.
type NanoCPUs int64

func (c *NanoCPUs) String() string {
	if c == nil || *c == 0 {
		return ""
	}
	return fmt.Sprintf("%g", float64(*c)/1e9)
}

// Set parses a decimal number of CPUs exactly, as docker does.
func (c *NanoCPUs) Set(v string) error {
	r, ok := new(big.Rat).SetString(v)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", v)
	}
	nano := r.Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return fmt.Errorf("value is too precise")
	}
	*c = NanoCPUs(nano.Num().Int64())
	return nil
}

// Type is shown in help.
func (c *NanoCPUs) Type() string { return "decimal" }

// Value returns nano-CPUs.
func (c *NanoCPUs) Value() int64 { return int64(*c) }

// UlimitOpt collects --ulimit name=soft[:hard] ("ulimit" in help).
type UlimitOpt struct {
	values map[string]*units.Ulimit
	order  []string
}

// NewUlimitOpt returns an empty ulimit flag.
func NewUlimitOpt() *UlimitOpt { return &UlimitOpt{values: map[string]*units.Ulimit{}} }

func (o *UlimitOpt) String() string {
	var out []string
	for _, n := range o.order {
		out = append(out, o.values[n].String())
	}
	return fmt.Sprintf("%v", out)
}

// Set parses one ulimit.
func (o *UlimitOpt) Set(v string) error {
	u, err := units.ParseUlimit(v)
	if err != nil {
		return err
	}
	if _, ok := o.values[u.Name]; !ok {
		o.order = append(o.order, u.Name)
	}
	o.values[u.Name] = u
	return nil
}

// Type is shown in help.
func (o *UlimitOpt) Type() string { return "ulimit" }

// GetList returns the ulimits in the order first given.
func (o *UlimitOpt) GetList() []*units.Ulimit {
	var out []*units.Ulimit
	for _, n := range o.order {
		out = append(out, o.values[n])
	}
	return out
}
