package volume

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"berth/internal/statedb"
)

// On-disk schema in berth.db:
//
//	volumes/<name>   JSON of record
//
// A record whose State is stateRemoving is a removal that started and has
// not finished: its data may be partly gone, so it is never served again and
// New completes the removal.
var bucketVolumes = []byte("volumes")

const stateRemoving = "removing"

// record is one volume as stored.
type record struct {
	Name      string
	Driver    string
	Options   map[string]string `json:",omitempty"`
	Labels    map[string]string `json:",omitempty"`
	CreatedAt string
	// State is "" for a usable volume, stateRemoving during removal.
	State string `json:",omitempty"`
	// Holders are the containers that have Acquired the volume and not yet
	// Released it; for a volume with a device, it is mounted while any
	// holder remains. Kept on disk for device and plugin volumes, so that
	// a restarted daemon neither unmounts what a live-restored container
	// still uses nor keeps a mount nobody uses (saveHoldersLocked).
	Holders []string `json:",omitempty"`
	// Mountpoint and Scope are a plugin volume's, as the plugin last said
	// (VolumeDriver.Get at creation, VolumeDriver.Mount since).
	Mountpoint string `json:",omitempty"`
	Scope      string `json:",omitempty"`
}

// local reports whether the volume is the local driver's (records from
// before drivers existed have an empty Driver).
func (r *record) local() bool { return r.Driver == "" || r.Driver == DefaultDriver }

func (r *record) hasHolder(id string) bool {
	for _, h := range r.Holders {
		if h == id {
			return true
		}
	}
	return false
}

func initBucket(db *bolt.DB) error { return statedb.EnsureBuckets(db, bucketVolumes) }

// putRecord writes r in one transaction.
func putRecord(db *bolt.DB, r *record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVolumes).Put([]byte(r.Name), data)
	})
}

// deleteRecord removes name's record in one transaction.
func deleteRecord(db *bolt.DB, name string) error {
	return db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVolumes).Delete([]byte(name))
	})
}

// loadRecords reads every record.
func loadRecords(db *bolt.DB) (map[string]*record, error) {
	out := map[string]*record{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVolumes).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("volume record %s: %w", k, err)
			}
			out[string(k)] = &r
			return nil
		})
	})
	return out, err
}
