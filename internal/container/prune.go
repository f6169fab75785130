package container

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"

	mevents "github.com/moby/moby/api/types/events"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
)

// Prune removes every stopped container that matches the filters (until,
// label) and reports what it removed.
func (s *Service) Prune(ctx context.Context, f filters.Args) (container.PruneReport, error) {
	rep := container.PruneReport{ContainersDeleted: []string{}}
	if err := f.Validate("until", "label", "label!"); err != nil {
		return rep, err
	}
	var until time.Time
	if v := f.Get("until"); len(v) > 0 {
		t, err := filters.ParseTime(v[0])
		if err != nil {
			return rep, err
		}
		until = t
	}
	for _, c := range s.store.all() {
		c.mu.Lock()
		stopped := !c.State.Running() && c.State.Status != container.StateRemoving
		created, labels := c.Created, c.Config.Labels
		c.mu.Unlock()
		if !stopped || (!until.IsZero() && !created.Before(until)) || !f.MatchLabels("label", labels) {
			continue
		}
		if f.Has("label!") && !notLabels(f.Get("label!"), labels) {
			continue
		}
		rw, _, _ := s.cfg.Images.RootfsSize(ctx, c.ID)
		if err := s.Remove(ctx, c.ID, RemoveOptions{}); err != nil {
			if errdefs.IsConflict(err) || errdefs.IsNotFound(err) {
				continue
			}
			return rep, err
		}
		rep.ContainersDeleted = append(rep.ContainersDeleted, c.ID)
		if rw > 0 {
			rep.SpaceReclaimed += uint64(rw)
		}
	}
	if s.cfg.Events != nil {
		s.cfg.Events.Publish(mevents.ContainerEventType, mevents.ActionPrune, "", map[string]string{})
	}
	return rep, nil
}

func notLabels(vals []string, labels map[string]string) bool {
	for _, v := range vals {
		if (filters.Args{"l": {v}}).MatchLabels("l", labels) {
			return false
		}
	}
	return true
}
