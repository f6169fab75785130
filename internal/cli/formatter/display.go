package formatter

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
)

// TruncateID drops an algorithm prefix ("sha256:") and keeps 12 characters.
func TruncateID(id string) string {
	if i := strings.IndexRune(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// Ellipsis shortens s to max runes, ending in "…" when cut.
func Ellipsis(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	rs := []rune(s)
	if max == 1 {
		return string(rs[0])
	}
	return string(rs[:max-1]) + "…"
}

// HumanAgo renders the time since t the way docker does ("About a minute
// ago", "3 hours ago").
func HumanAgo(now, t time.Time) string {
	return units.HumanDuration(now.Sub(t)) + " ago"
}

// HumanSize renders a byte count with docker's precision ("1.23MB").
func HumanSize(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3)
}

// StripNamePrefix drops the leading "/" of container names.
func StripNamePrefix(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimPrefix(n, "/")
	}
	return out
}

// DisplayablePorts renders a container's ports as docker's ps does:
// consecutive unpublished ports grouped into ranges, then host mappings,
// e.g. "80-81/tcp, 0.0.0.0:8080->80/tcp".
func DisplayablePorts(ports []container.PortSummary) string {
	type group struct{ first, last uint16 }
	sorted := append([]container.PortSummary(nil), ports...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if a.IP != b.IP {
			return a.IP.Less(b.IP)
		}
		if a.PublicPort != b.PublicPort {
			return a.PublicPort < b.PublicPort
		}
		return a.Type < b.Type
	})
	groups := map[string]*group{}
	var keys, result, mappings []string
	for _, p := range sorted {
		cur := p.PrivatePort
		key := p.Type
		if p.IP.IsValid() {
			ip := p.IP.String()
			if p.PublicPort != cur {
				hp := net.JoinHostPort(ip, strconv.Itoa(int(p.PublicPort)))
				mappings = append(mappings, fmt.Sprintf("%s->%d/%s", hp, p.PrivatePort, p.Type))
				continue
			}
			key = ip + "/" + p.Type
		}
		g := groups[key]
		if g == nil {
			groups[key] = &group{cur, cur}
			keys = append(keys, key)
			continue
		}
		if cur == g.last+1 {
			g.last = cur
			continue
		}
		result = append(result, formGroup(key, g.first, g.last))
		groups[key] = &group{cur, cur}
	}
	for _, k := range keys {
		g := groups[k]
		result = append(result, formGroup(k, g.first, g.last))
	}
	result = append(result, mappings...)
	return strings.Join(result, ", ")
}

func formGroup(key string, first, last uint16) string {
	ip, proto, ok := strings.Cut(key, "/")
	if !ok {
		proto, ip = ip, ""
	}
	g := strconv.Itoa(int(first))
	if first != last {
		g = fmt.Sprintf("%s-%d", g, last)
	}
	if ip != "" {
		g = fmt.Sprintf("%s:%s->%s", ip, g, g)
	}
	return g + "/" + proto
}

// joinLabels renders labels as sorted "k=v" pairs joined by commas.
func joinLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}
