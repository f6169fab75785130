package notary

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/tuf/data"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"berth/internal/errdefs"
)

// On-disk layout of the trust store (schema 1). Names (GUNs and roles) are
// joined with a NUL byte, which a repository or role name can never contain,
// so the prefix of "a/b" never matches the keys of "a/bc".
//
//	info       "schema"                      → decimal schema number ("1")
//	tuf        GUN 0 ROLE 0 VERSION          → CREATED ‖ metadata bytes
//	checksums  GUN 0 ROLE 0 SHA256-HEX       → VERSION
//	changes    SEQUENCE                      → JSON changeRecord
//
// VERSION is the role's TUF version as 8 big-endian bytes with the sign bit
// flipped, so byte order equals numeric order (negative versions included)
// and the last key under GUN 0 ROLE 0 is the current version. CREATED is
// the creation time in Unix nanoseconds, 8 big-endian bytes. SEQUENCE is the
// changes bucket's own sequence (1, 2, …) as 8 big-endian bytes; it is also
// the change's ID.
var (
	infoBucket     = []byte("info")
	tufBucket      = []byte("tuf")
	checksumBucket = []byte("checksums")
	changesBucket  = []byte("changes")
	schemaKey      = []byte("schema")
)

const (
	schemaVersion = "1"
	sep           = 0x00

	// Change categories, as notary's SQL and RethinkDB stores write them.
	changeUpdate   = "update"
	changeDeletion = "deletion"
)

// Store is notary's MetaStore over a bbolt file. All methods are safe for
// concurrent use: bbolt serialises writers and gives readers a consistent
// snapshot, so the Store itself keeps no lock.
type Store struct {
	db *bolt.DB
}

var _ storage.MetaStore = (*Store)(nil)

// OpenStore opens the trust store at path, creating the file (mode 0600)
// and its directory (mode 0700) if needed. bbolt holds an exclusive lock on
// the file while it is open; if another process (or another Store in this
// process) holds it for more than a second, OpenStore gives up with an
// Unavailable error naming the path.
func OpenStore(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create trust store directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, errdefs.Unavailable(fmt.Errorf("another registry is using the trust store at %s: %w", path, err))
		}
		return nil, fmt.Errorf("open trust store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		info, err := tx.CreateBucketIfNotExists(infoBucket)
		if err != nil {
			return err
		}
		switch v := info.Get(schemaKey); {
		case v == nil:
			if err := info.Put(schemaKey, []byte(schemaVersion)); err != nil {
				return err
			}
		case string(v) != schemaVersion:
			return fmt.Errorf("unsupported trust store schema %q (want %s)", v, schemaVersion)
		}
		for _, name := range [][]byte{tufBucket, checksumBucket, changesBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise trust store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close releases the file and its lock.
func (s *Store) Close() error {
	return s.db.Close()
}

// UpdateCurrent stores a new version of one role of gun. It fails with
// storage.ErrOldVersion if the role already has that version or a newer one.
// A timestamp update is recorded in the change feed.
func (s *Store) UpdateCurrent(gun data.GUN, update storage.MetaUpdate) error {
	return s.UpdateMany(gun, []storage.MetaUpdate{update})
}

// UpdateMany stores several role versions of gun in one transaction: either
// all of them or, if any version is repeated within the batch or is not
// newer than what is stored for its role, none (storage.ErrOldVersion).
func (s *Store) UpdateMany(gun data.GUN, updates []storage.MetaUpdate) error {
	type roleVersion struct {
		role    data.RoleName
		version int
	}
	seen := make(map[roleVersion]bool, len(updates))
	for _, u := range updates {
		if err := checkNames(gun, u.Role); err != nil {
			return err
		}
		rv := roleVersion{u.Role, u.Version}
		if seen[rv] {
			return storage.ErrOldVersion{}
		}
		seen[rv] = true
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		tuf := tx.Bucket(tufBucket)
		// Check the whole batch before writing any of it, so the outcome
		// does not depend on the order of updates within the batch.
		for _, u := range updates {
			if cur, ok := currentVersion(tuf, roleKey(gun, u.Role)); ok && cur >= u.Version {
				return storage.ErrOldVersion{}
			}
		}
		now := time.Now().UTC()
		for _, u := range updates {
			if err := putVersion(tx, gun, u, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// putVersion writes one role version, its checksum index entry and, for a
// timestamp, its change record. The caller has checked the version.
func putVersion(tx *bolt.Tx, gun data.GUN, u storage.MetaUpdate, now time.Time) error {
	prefix := roleKey(gun, u.Role)
	ver := encodeVersion(u.Version)

	val := make([]byte, 8+len(u.Data))
	binary.BigEndian.PutUint64(val, uint64(now.UnixNano()))
	copy(val[8:], u.Data)
	if err := tx.Bucket(tufBucket).Put(join(prefix, ver), val); err != nil {
		return fmt.Errorf("store %s %s version %d: %w", gun, u.Role, u.Version, err)
	}

	sum := sha256.Sum256(u.Data)
	checksum := hex.EncodeToString(sum[:])
	if err := tx.Bucket(checksumBucket).Put(join(prefix, []byte(checksum)), ver); err != nil {
		return fmt.Errorf("index %s %s version %d: %w", gun, u.Role, u.Version, err)
	}

	if u.Role != data.CanonicalTimestampRole {
		return nil
	}
	return appendChange(tx, changeRecord{
		GUN:       gun.String(),
		Version:   u.Version,
		SHA256:    checksum,
		Category:  changeUpdate,
		CreatedAt: now,
	})
}

// GetCurrent returns the newest version of one role of gun.
func (s *Store) GetCurrent(gun data.GUN, role data.RoleName) (*time.Time, []byte, error) {
	if checkNames(gun, role) != nil {
		return nil, nil, storage.ErrNotFound{}
	}
	return s.getRecord(func(tx *bolt.Tx) []byte {
		k, _ := lastWithPrefix(tx.Bucket(tufBucket).Cursor(), roleKey(gun, role))
		return k
	})
}

// GetVersion returns one exact version of one role of gun.
func (s *Store) GetVersion(gun data.GUN, role data.RoleName, version int) (*time.Time, []byte, error) {
	if checkNames(gun, role) != nil {
		return nil, nil, storage.ErrNotFound{}
	}
	return s.getRecord(func(*bolt.Tx) []byte {
		return join(roleKey(gun, role), encodeVersion(version))
	})
}

// GetChecksum returns the version of one role of gun whose bytes have the
// given SHA-256 (lower-case hex, as TUF snapshots and timestamps list it).
func (s *Store) GetChecksum(gun data.GUN, role data.RoleName, checksum string) (*time.Time, []byte, error) {
	if checkNames(gun, role) != nil {
		return nil, nil, storage.ErrNotFound{}
	}
	return s.getRecord(func(tx *bolt.Tx) []byte {
		prefix := roleKey(gun, role)
		ver := tx.Bucket(checksumBucket).Get(join(prefix, []byte(checksum)))
		if ver == nil {
			return nil
		}
		return join(prefix, ver)
	})
}

// getRecord reads the tuf record whose key locate finds; a nil key or a
// missing record is storage.ErrNotFound.
func (s *Store) getRecord(locate func(*bolt.Tx) []byte) (*time.Time, []byte, error) {
	var (
		created time.Time
		meta    []byte
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		key := locate(tx)
		if key == nil {
			return storage.ErrNotFound{}
		}
		v := tx.Bucket(tufBucket).Get(key)
		if v == nil {
			return storage.ErrNotFound{}
		}
		created, meta = decodeRecord(v)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return &created, meta, nil
}

// Delete removes every role version and checksum of gun, and records a
// deletion in the change feed if there was anything to remove. Deleting an
// unknown gun is not an error.
func (s *Store) Delete(gun data.GUN) error {
	if strings.IndexByte(gun.String(), sep) >= 0 {
		return nil // no such gun can have been stored
	}
	prefix := append([]byte(gun.String()), sep)
	return s.db.Update(func(tx *bolt.Tx) error {
		removed, err := deletePrefix(tx.Bucket(tufBucket), prefix)
		if err != nil {
			return fmt.Errorf("delete trust data of %s: %w", gun, err)
		}
		if _, err := deletePrefix(tx.Bucket(checksumBucket), prefix); err != nil {
			return fmt.Errorf("delete trust data of %s: %w", gun, err)
		}
		if removed == 0 {
			return nil
		}
		return appendChange(tx, changeRecord{
			GUN:       gun.String(),
			Category:  changeDeletion,
			CreatedAt: time.Now().UTC(),
		})
	})
}

// deletePrefix removes every key of b that starts with prefix and says how
// many there were. Keys are collected first: deleting under a live cursor
// would move it.
func deletePrefix(b *bolt.Bucket, prefix []byte) (int, error) {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// changeRecord is a change feed entry as stored; the ID is the key.
type changeRecord struct {
	GUN       string    `json:"gun"`
	Version   int       `json:"version,omitempty"`
	SHA256    string    `json:"sha256,omitempty"`
	Category  string    `json:"category"`
	CreatedAt time.Time `json:"created_at"`
}

func appendChange(tx *bolt.Tx, rec changeRecord) error {
	b := tx.Bucket(changesBucket)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("append change: %w", err)
	}
	val, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("append change: %w", err)
	}
	if err := b.Put(encodeSeq(seq), val); err != nil {
		return fmt.Errorf("append change: %w", err)
	}
	return nil
}

// GetChanges returns up to |records| entries of the change feed, oldest
// first, keeping only those of filterName when it is not empty. changeID
// names the last change the caller has seen and is itself excluded: with
// records > 0 the changes after it are returned ("" or "0" meaning from the
// beginning); with records < 0 the changes before it. A negative changeID
// means "from the newest" and always reads backwards, as does changeID 0
// with records < 0 (the SQL store's reading; notary's memory store panics
// there). records == 0 returns nothing; notary's handler never passes 0.
// A changeID that is not a 32-bit integer is storage.ErrBadQuery.
func (s *Store) GetChanges(changeID string, records int, filterName string) ([]storage.Change, error) {
	var id int64
	if changeID != "" {
		n, err := strconv.ParseInt(changeID, 10, 32)
		if err != nil {
			return nil, storage.ErrBadQuery{}
		}
		id = n
	}
	backward := id < 0 || records < 0
	if records < 0 {
		records = -records
	}
	out := []storage.Change{}
	if records == 0 {
		return out, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(changesBucket).Cursor()
		var k, v []byte
		step := c.Next
		switch {
		case !backward:
			k, v = c.Seek(encodeSeq(uint64(id) + 1))
		case id <= 0:
			step = c.Prev
			k, v = c.Last()
		default:
			step = c.Prev
			if k, _ = c.Seek(encodeSeq(uint64(id))); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < records; k, v = step() {
			var rec changeRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode change %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if filterName != "" && rec.GUN != filterName {
				continue
			}
			out = append(out, storage.Change{
				ID:        strconv.FormatUint(binary.BigEndian.Uint64(k), 10),
				CreatedAt: rec.CreatedAt,
				GUN:       rec.GUN,
				Version:   rec.Version,
				SHA256:    rec.SHA256,
				Category:  rec.Category,
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if backward {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// checkNames rejects names that would break the key layout.
func checkNames(gun data.GUN, role data.RoleName) error {
	if strings.IndexByte(gun.String(), sep) >= 0 || strings.IndexByte(role.String(), sep) >= 0 {
		return errdefs.Invalid(fmt.Errorf("invalid trust data name %q/%q: contains a NUL byte", gun, role))
	}
	return nil
}

// roleKey is the key prefix shared by all versions of one role of gun.
func roleKey(gun data.GUN, role data.RoleName) []byte {
	k := make([]byte, 0, len(gun)+len(role)+2)
	k = append(k, gun...)
	k = append(k, sep)
	k = append(k, role...)
	return append(k, sep)
}

func join(prefix, suffix []byte) []byte {
	k := make([]byte, 0, len(prefix)+len(suffix))
	return append(append(k, prefix...), suffix...)
}

// currentVersion reports the highest stored version under a role prefix.
func currentVersion(tuf *bolt.Bucket, prefix []byte) (int, bool) {
	k, _ := lastWithPrefix(tuf.Cursor(), prefix)
	if k == nil {
		return 0, false
	}
	return decodeVersion(k[len(prefix):]), true
}

// lastWithPrefix finds the last key starting with prefix: it seeks to the
// first key past every such key (the prefix with its last byte, always the
// NUL separator, raised by one) and steps back once.
func lastWithPrefix(c *bolt.Cursor, prefix []byte) ([]byte, []byte) {
	past := bytes.Clone(prefix)
	past[len(past)-1]++
	k, v := c.Seek(past)
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}

func encodeVersion(v int) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(int64(v))^(1<<63))
	return b
}

func decodeVersion(b []byte) int {
	return int(int64(binary.BigEndian.Uint64(b) ^ (1 << 63)))
}

func encodeSeq(seq uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, seq)
	return b
}

// decodeRecord splits a tuf value into its creation time and a copy of the
// metadata (bbolt's slices are only valid inside the transaction).
func decodeRecord(v []byte) (time.Time, []byte) {
	created := time.Unix(0, int64(binary.BigEndian.Uint64(v[:8]))).UTC()
	return created, bytes.Clone(v[8:])
}
