package formatter

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/image"
)

// History formats, as in docker's history.
const (
	DefaultHistoryTableFormat = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	HistoryQuietFormat        = "{{.ID}}"
)

func historyHeaderMap() Header {
	return Header{
		"ID":           "IMAGE",
		"CreatedSince": "CREATED",
		"CreatedAt":    "CREATED AT",
		"CreatedBy":    "CREATED BY",
		"Size":         "SIZE",
		"Comment":      "COMMENT",
	}
}

// HistoryHeader returns the header names of the history table; without
// human-readable output the CREATED column holds absolute times and is
// titled "CREATED AT", as in docker.
func HistoryHeader(human bool) Header {
	h := historyHeaderMap()
	if !human {
		h["CreatedSince"] = "CREATED AT"
	}
	return h
}

// HistoryContext is one layer row of `history`.
type HistoryContext struct {
	h     image.HistoryResponseItem
	trunc bool
	human bool
	now   time.Time
}

// ID is the layer's image ID or "<missing>".
func (c *HistoryContext) ID() string {
	if c.trunc {
		return TruncateID(c.h.ID)
	}
	return c.h.ID
}

// CreatedAt is the creation time in RFC 3339.
func (c *HistoryContext) CreatedAt() string {
	return time.Unix(c.h.Created, 0).Format(time.RFC3339)
}

// CreatedSince is relative with -H (the default), else CreatedAt.
func (c *HistoryContext) CreatedSince() string {
	if !c.human {
		return c.CreatedAt()
	}
	return HumanAgo(c.now, time.Unix(c.h.Created, 0))
}

// CreatedBy is the instruction that made the layer, cut to 45 characters
// when truncated.
func (c *HistoryContext) CreatedBy() string {
	s := strings.ReplaceAll(c.h.CreatedBy, "\t", " ")
	if c.trunc {
		return Ellipsis(s, 45)
	}
	return s
}

// Size is human-readable with -H, else bytes.
func (c *HistoryContext) Size() string {
	if c.human {
		return HumanSize(c.h.Size)
	}
	return strconv.FormatInt(c.h.Size, 10)
}

// Comment is the layer comment.
func (c *HistoryContext) Comment() string { return c.h.Comment }

// MarshalJSON renders every field.
func (c *HistoryContext) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Comment":      c.Comment(),
		"CreatedAt":    c.CreatedAt(),
		"CreatedBy":    c.CreatedBy(),
		"CreatedSince": c.CreatedSince(),
		"ID":           c.ID(),
		"Size":         c.Size(),
	})
}

// HistoryRows wraps history items for Context.Write.
func HistoryRows(items []image.HistoryResponseItem, trunc, human bool, now time.Time) []any {
	rows := make([]any, len(items))
	for i, h := range items {
		rows[i] = &HistoryContext{h: h, trunc: trunc, human: human, now: now}
	}
	return rows
}
