// Package statedb is berthd's state database (berth.db, bbolt), shared by
// the container, network and volume stores, each in buckets of its own.
package statedb

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// EnsureBuckets creates the named top-level buckets that do not exist yet.
// A database that has them all, which is every start but the first, is
// only read: a write transaction would cost two fsyncs on the way to the
// first answered request.
func EnsureBuckets(db *bolt.DB, names ...[]byte) error {
	missing := false
	err := db.View(func(tx *bolt.Tx) error {
		for _, n := range names {
			if tx.Bucket(n) == nil {
				missing = true
			}
		}
		return nil
	})
	if err != nil || !missing {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, n := range names {
			if _, err := tx.CreateBucketIfNotExists(n); err != nil {
				return fmt.Errorf("bucket %s: %w", n, err)
			}
		}
		return nil
	})
	return err
}
