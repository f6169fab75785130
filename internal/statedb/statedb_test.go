package statedb

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestEnsureBuckets(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, b := []byte("a"), []byte("b")
	if err := EnsureBuckets(db, a, b); err != nil {
		t.Fatal(err)
	}
	txid := func() int {
		var id int
		db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	before := txid()
	// Both exist: nothing is written.
	if err := EnsureBuckets(db, a, b); err != nil {
		t.Fatal(err)
	}
	if after := txid(); after != before {
		t.Fatalf("a write transaction ran (txid %d → %d)", before, after)
	}
	// One missing: it is made, the other kept.
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(a).Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	c := []byte("c")
	if err := EnsureBuckets(db, a, c); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(c) == nil || string(tx.Bucket(a).Get([]byte("k"))) != "v" {
			t.Fatal("bucket c missing or bucket a lost its key")
		}
		return nil
	})
}
