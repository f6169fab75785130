// Package filters parses the "filters" query parameter of the Engine API:
// a JSON object mapping a key to its accepted values, sent either as
// {"key": {"value": true}} (current clients) or {"key": ["value"]} (old ones).
package filters

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"berth/internal/errdefs"
)

// Args is a parsed filter set: key → accepted values.
type Args map[string][]string

// Parse decodes the raw parameter; "" gives an empty set.
func Parse(raw string) (Args, error) {
	args := Args{}
	if raw == "" {
		return args, nil
	}
	var modern map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &modern); err == nil {
		for k, vs := range modern {
			for v, on := range vs {
				if on {
					args[k] = append(args[k], v)
				}
			}
			sort.Strings(args[k])
		}
		return args, nil
	}
	var legacy map[string][]string
	if err := json.Unmarshal([]byte(raw), &legacy); err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("invalid filter: %w", err))
	}
	for k, vs := range legacy {
		args[k] = append(args[k], vs...)
	}
	return args, nil
}

// Validate rejects keys outside allowed, as Docker does: "invalid filter 'x'".
func (a Args) Validate(allowed ...string) error {
	for k := range a {
		ok := false
		for _, al := range allowed {
			if k == al {
				ok = true
				break
			}
		}
		if !ok {
			return errdefs.Invalid(fmt.Errorf("invalid filter '%s'", k))
		}
	}
	return nil
}

// Get returns the values given for key.
func (a Args) Get(key string) []string { return a[key] }

// Has reports whether key was given at all.
func (a Args) Has(key string) bool { return len(a[key]) > 0 }

// ExactMatch reports whether the key is absent or one of its values equals s.
func (a Args) ExactMatch(key, s string) bool {
	vs, ok := a[key]
	if !ok || len(vs) == 0 {
		return true
	}
	for _, v := range vs {
		if v == s {
			return true
		}
	}
	return false
}

// MatchLabels reports whether labels satisfy every "label" filter value:
// "key" (present) or "key=value" (equal); "key!=value" excludes.
func (a Args) MatchLabels(key string, labels map[string]string) bool {
	for _, f := range a[key] {
		if k, v, ok := strings.Cut(f, "!="); ok {
			if lv, has := labels[k]; has && lv == v {
				return false
			}
			continue
		}
		k, v, hasValue := strings.Cut(f, "=")
		lv, has := labels[k]
		if !has || (hasValue && lv != v) {
			return false
		}
	}
	return true
}

// GlobMatch reports whether the key is absent or one value, as a shell
// pattern, matches s.
func (a Args) GlobMatch(key, s string) bool {
	vs, ok := a[key]
	if !ok || len(vs) == 0 {
		return true
	}
	for _, v := range vs {
		if m, _ := path.Match(v, s); m {
			return true
		}
	}
	return false
}
