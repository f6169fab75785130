// Package events is berth's event bus: domain packages publish what happened
// (container start, image tag, …) and the /events endpoint replays recent
// history and streams new events, filtered as Docker filters them.
package events

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"

	"berth/internal/api/filters"
)

// historySize is how many past events `events --since` can replay.
const historySize = 1024

// Bus fans events out to subscribers and keeps a bounded history.
type Bus struct {
	mu      sync.Mutex
	history []events.Message         // guarded by mu; oldest first
	subs    map[*subscriber]struct{} // guarded by mu
}

type subscriber struct {
	ch chan events.Message
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{subs: map[*subscriber]struct{}{}}
}

// Publish records an event of typ/action on the actor with id and attributes
// and delivers it to every subscriber. A subscriber too slow to keep up
// loses events rather than stalling the publisher.
func (b *Bus) Publish(typ events.Type, action events.Action, id string, attrs map[string]string) {
	now := time.Now()
	msg := events.Message{
		Type:     typ,
		Action:   action,
		Actor:    events.Actor{ID: id, Attributes: attrs},
		Scope:    "local",
		Time:     now.Unix(),
		TimeNano: now.UnixNano(),
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.history) == historySize {
		copy(b.history, b.history[1:])
		b.history = b.history[:historySize-1]
	}
	b.history = append(b.history, msg)
	for s := range b.subs {
		select {
		case s.ch <- msg:
		default:
		}
	}
}

// Subscribe returns the recorded events at or after since (zero: none) and
// a channel of new events. The channel closes when ctx ends.
func (b *Bus) Subscribe(ctx context.Context, since time.Time) ([]events.Message, <-chan events.Message) {
	s := &subscriber{ch: make(chan events.Message, 256)}
	b.mu.Lock()
	var past []events.Message
	if !since.IsZero() {
		for _, m := range b.history {
			if m.TimeNano >= since.UnixNano() {
				past = append(past, m)
			}
		}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	out := make(chan events.Message)
	go func() {
		defer close(out)
		defer func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-s.ch:
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return past, out
}

// Match reports whether msg passes Docker's event filters: type, event
// (action), container, image, label, and the generic id/name keys.
func Match(f filters.Args, msg events.Message) bool {
	if !f.ExactMatch("type", string(msg.Type)) || !f.ExactMatch("scope", msg.Scope) {
		return false
	}
	if f.Has("event") {
		action := string(msg.Action)
		if i := strings.Index(action, ":"); i > 0 && strings.HasPrefix(action, "exec_") {
			action = action[:i]
		}
		if !f.ExactMatch("event", action) && !f.ExactMatch("event", string(msg.Action)) {
			return false
		}
	}
	name := msg.Actor.Attributes["name"]
	matchActor := func(key string) bool {
		return f.ExactMatch(key, msg.Actor.ID) || f.ExactMatch(key, name) || prefixMatch(f.Get(key), msg.Actor.ID)
	}
	switch msg.Type {
	case events.ContainerEventType:
		if f.Has("container") && !matchActor("container") {
			return false
		}
		if f.Has("image") && !f.ExactMatch("image", msg.Actor.Attributes["image"]) {
			return false
		}
	case events.ImageEventType:
		if f.Has("image") && !matchActor("image") {
			return false
		}
	default:
		if f.Has("image") {
			return false
		}
	case events.NetworkEventType:
		if f.Has("network") && !matchActor("network") {
			return false
		}
	case events.VolumeEventType:
		if f.Has("volume") && !matchActor("volume") {
			return false
		}
	}
	// An image filter also picks container events by their image, so it is
	// not among the filters that select a type.
	for _, typ := range []string{"container", "network", "volume"} {
		if f.Has(typ) && string(msg.Type) != typ {
			return false
		}
	}
	return f.MatchLabels("label", msg.Actor.Attributes)
}

func prefixMatch(vals []string, id string) bool {
	for _, v := range vals {
		if len(v) >= 3 && strings.HasPrefix(id, v) {
			return true
		}
	}
	return false
}
