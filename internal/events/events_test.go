package events

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"

	"berth/internal/api/filters"
)

func TestMatch(t *testing.T) {
	msg := events.Message{
		Type: events.ContainerEventType, Action: "exec_start: sh -c true", Scope: "local",
		Actor: events.Actor{ID: "abcdef0123456789", Attributes: map[string]string{"name": "web", "image": "busybox", "app": "x"}},
	}
	cases := []struct {
		doc  string
		f    filters.Args
		want bool
	}{
		{doc: "no filter", f: filters.Args{}, want: true},
		{doc: "type", f: filters.Args{"type": {"container"}}, want: true},
		{doc: "other type", f: filters.Args{"type": {"image"}}, want: false},
		{doc: "container by name", f: filters.Args{"container": {"web"}}, want: true},
		{doc: "container by id prefix", f: filters.Args{"container": {"abcdef"}}, want: true},
		{doc: "other container", f: filters.Args{"container": {"db"}}, want: false},
		{doc: "exec event by its base name", f: filters.Args{"event": {"exec_start"}}, want: true},
		{doc: "other event", f: filters.Args{"event": {"die"}}, want: false},
		{doc: "image of a container event", f: filters.Args{"image": {"busybox"}}, want: true},
		{doc: "label", f: filters.Args{"label": {"app=x"}}, want: true},
		{doc: "other label", f: filters.Args{"label": {"app=y"}}, want: false},
		{doc: "scope", f: filters.Args{"scope": {"local"}}, want: true},
		{doc: "swarm scope", f: filters.Args{"scope": {"swarm"}}, want: false},
		{doc: "a volume filter excludes container events", f: filters.Args{"volume": {"v"}}, want: false},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			if got := Match(tc.f, msg); got != tc.want {
				t.Fatalf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSubscribeReplaysAndStreams(t *testing.T) {
	b := New()
	b.Publish(events.ContainerEventType, "create", "a", nil)
	since := time.Now()
	b.Publish(events.ContainerEventType, "start", "a", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	past, live := b.Subscribe(ctx, since)
	if len(past) != 1 || past[0].Action != "start" {
		t.Fatalf("past = %+v", past)
	}
	b.Publish(events.ContainerEventType, "die", "a", nil)
	select {
	case m := <-live:
		if m.Action != "die" {
			t.Fatalf("live got %s", m.Action)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no live event")
	}
	cancel()
	for range live {
	}
}
