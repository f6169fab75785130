package filters

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"berth/internal/errdefs"
)

// ParseTime reads a time the way Docker's since/until filters and
// parameters accept it: a Go duration before now ("10m"), Unix seconds with
// optional fraction, or an RFC 3339 date/time (with or without zone).
func ParseTime(v string) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	if sec, frac, ok := strings.Cut(v, "."); ok || sec != "" {
		if s, err := strconv.ParseInt(sec, 10, 64); err == nil {
			var ns int64
			if ok {
				frac = (frac + "000000000")[:9]
				if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
					return time.Time{}, errdefs.Invalid(fmt.Errorf("invalid time %q", v))
				}
			}
			return time.Unix(s, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errdefs.Invalid(fmt.Errorf("failed to parse value as time or duration: %q", v))
}
