package container

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"berth/internal/statedb"

	"berth/internal/errdefs"
)

// On-disk schema in berth.db:
//
//	containers/<id>   JSON of Container's exported fields
//	container-names/<name without slash>   <id>
var (
	bucketContainers = []byte("containers")
	bucketNames      = []byte("container-names")
)

// store keeps containers in bbolt and indexes them in memory.
type store struct {
	db *bolt.DB

	mu     sync.RWMutex
	byID   map[string]*Container // guarded by mu
	byName map[string]string     // guarded by mu; name without slash → id
}

func newStore(db *bolt.DB) (*store, error) {
	s := &store{db: db, byID: map[string]*Container{}, byName: map[string]string{}}
	if err := statedb.EnsureBuckets(db, bucketContainers, bucketNames); err != nil {
		return nil, fmt.Errorf("init container store: %w", err)
	}
	return s, nil
}

// load reads every container from disk into memory.
func (s *store) load() ([]*Container, error) {
	var out []*Container
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContainers).ForEach(func(k, v []byte) error {
			c := newContainer()
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("container %s: %w", k, err)
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for _, c := range out {
		s.byID[c.ID] = c
		s.byName[c.displayName()] = c.ID
	}
	s.mu.Unlock()
	return out, nil
}

// add reserves c's name and stores c in one transaction.
func (s *store) add(c *Container) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	name := c.displayName()
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byName[name]; ok {
		return errdefs.Conflict(fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, id))
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketNames).Put([]byte(name), []byte(c.ID)); err != nil {
			return err
		}
		return tx.Bucket(bucketContainers).Put([]byte(c.ID), data)
	})
	if err != nil {
		return fmt.Errorf("store container: %w", err)
	}
	s.byID[c.ID] = c
	s.byName[name] = c.ID
	return nil
}

// save persists c's exported fields. Preconditions: c.mu held (so the
// fields do not change while they are encoded).
func (s *store) saveLocked(c *Container) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContainers).Put([]byte(c.ID), data)
	})
}

// remove deletes c and frees its name in one transaction.
func (s *store) remove(c *Container) error {
	name := c.displayName()
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketNames).Delete([]byte(name)); err != nil {
			return err
		}
		return tx.Bucket(bucketContainers).Delete([]byte(c.ID))
	})
	if err != nil {
		return fmt.Errorf("remove container from store: %w", err)
	}
	s.mu.Lock()
	delete(s.byID, c.ID)
	if s.byName[name] == c.ID {
		delete(s.byName, name)
	}
	s.mu.Unlock()
	return nil
}

// rename moves c to newName in one transaction.
func (s *store) rename(c *Container, newName string) error {
	old := c.displayName()
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byName[newName]; ok {
		return errdefs.Conflict(fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", newName, id))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Name = "/" + newName
	data, err := json.Marshal(c)
	if err != nil {
		c.Name = "/" + old
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketNames).Delete([]byte(old)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketNames).Put([]byte(newName), []byte(c.ID)); err != nil {
			return err
		}
		return tx.Bucket(bucketContainers).Put([]byte(c.ID), data)
	})
	if err != nil {
		c.Name = "/" + old
		return fmt.Errorf("rename container: %w", err)
	}
	delete(s.byName, old)
	s.byName[newName] = c.ID
	return nil
}

// get finds a container by full ID, name (with or without slash), or a
// unique ID prefix, in that order, as dockerd does.
func (s *store) get(ref string) (*Container, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ref == "" {
		return nil, errdefs.NotFound(fmt.Errorf("No such container: %s", ref))
	}
	if c, ok := s.byID[ref]; ok {
		return c, nil
	}
	if id, ok := s.byName[strings.TrimPrefix(ref, "/")]; ok {
		return s.byID[id], nil
	}
	var found *Container
	for id, c := range s.byID {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, errdefs.Invalid(fmt.Errorf("multiple IDs found with provided prefix: %s", ref))
			}
			found = c
		}
	}
	if found == nil {
		return nil, errdefs.NotFound(fmt.Errorf("No such container: %s", ref))
	}
	return found, nil
}

// all returns every container, newest first.
func (s *store) all() []*Container {
	s.mu.RLock()
	out := make([]*Container, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}
