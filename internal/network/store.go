package network

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"berth/internal/statedb"
)

// On-disk schema in berth.db:
//
//	networks/<id>             JSON of Network
//	sandboxes/<container id>  JSON of Sandbox: the namespace, endpoints
//	                          (addresses in use) and published ports of a
//	                          running container
//
// IPAM keeps no table of its own: the addresses in use are those of the
// stored sandboxes, so an allocation and its sandbox are written in one
// transaction and cannot disagree after a crash.
var (
	bucketNetworks  = []byte("networks")
	bucketSandboxes = []byte("sandboxes")
)

type store struct{ db *bolt.DB }

func newStore(db *bolt.DB) (*store, error) {
	if err := statedb.EnsureBuckets(db, bucketNetworks, bucketSandboxes); err != nil {
		return nil, fmt.Errorf("network store: %w", err)
	}
	return &store{db: db}, nil
}

func (st *store) put(bucket []byte, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(key), data)
	})
}

func (st *store) delete(bucket []byte, key string) error {
	return st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Delete([]byte(key))
	})
}

func (st *store) loadNetworks() ([]*Network, error) {
	var out []*Network
	err := st.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNetworks).ForEach(func(k, v []byte) error {
			n := &Network{}
			if err := json.Unmarshal(v, n); err != nil {
				return fmt.Errorf("network %s: %w", k, err)
			}
			out = append(out, n)
			return nil
		})
	})
	return out, err
}

func (st *store) loadSandboxes() ([]*Sandbox, error) {
	var out []*Sandbox
	err := st.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSandboxes).ForEach(func(k, v []byte) error {
			sb := &Sandbox{}
			if err := json.Unmarshal(v, sb); err != nil {
				return fmt.Errorf("sandbox %s: %w", k, err)
			}
			out = append(out, sb)
			return nil
		})
	})
	return out, err
}
