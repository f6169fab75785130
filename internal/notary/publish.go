package notary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"
	notaryerrors "github.com/theupdateframework/notary/server/errors"
	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/validation"
)

// maxRoleSize bounds one uploaded metadata file, and maxPublishSize a
// whole publish; targets with many tags are the big ones, and stay far
// below these.
const (
	maxRoleSize    = 16 << 20
	maxPublishSize = 64 << 20
)

// publish takes a client's update of a repository's trust data: a
// multipart body with one part per role, each part's file name being the
// role's ("root.json", "targets.json", "targets/releases.json"…). The
// update is checked against what is stored (signatures, versions, the
// delegation chain), the server signs a new snapshot (unless the client
// sent one) and timestamp, and everything is stored in one transaction.
//
// notary's own handler reads the role from Part.FileName, which since Go
// 1.17 keeps only the last path element, so a delegation like
// targets/releases arrives as "releases" and is refused: `docker trust
// sign` and `trust signer add` could not publish. This reads the file name
// from the Content-Disposition header itself.
func (s *Server) publish(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	gun := data.GUN(mux.Vars(r)["gun"])
	r.Body = http.MaxBytesReader(w, r.Body, maxPublishSize)
	updates, err := readUpdates(r)
	if err != nil {
		return err
	}
	apply, err := s.validate(gun, updates)
	if err != nil {
		if se, serr := validation.NewSerializableError(err); serr == nil {
			return notaryerrors.ErrInvalidUpdate.WithDetail(se)
		}
		return notaryerrors.ErrInvalidUpdate.WithDetail(nil)
	}
	if err := s.store.UpdateMany(gun, apply); err != nil {
		if errors.As(err, new(storage.ErrOldVersion)) {
			return notaryerrors.ErrOldVersion.WithDetail(err)
		}
		return notaryerrors.ErrUpdating.WithDetail(nil)
	}
	return nil
}

// readUpdates reads the roles of a publish request.
func readUpdates(r *http.Request) (map[data.RoleName]storage.MetaUpdate, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, notaryerrors.ErrMalformedUpload.WithDetail(nil)
	}
	updates := map[data.RoleName]storage.MetaUpdate{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return updates, nil
		}
		if err != nil {
			return nil, notaryerrors.ErrMalformedUpload.WithDetail(nil)
		}
		_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if err != nil || params["filename"] == "" {
			return nil, notaryerrors.ErrNoFilename.WithDetail(nil)
		}
		role := data.RoleName(strings.TrimSuffix(params["filename"], ".json"))
		if !data.ValidRole(role) {
			return nil, notaryerrors.ErrInvalidRole.WithDetail(role)
		}
		body, err := io.ReadAll(io.LimitReader(part, maxRoleSize+1))
		if err != nil || len(body) > maxRoleSize {
			return nil, notaryerrors.ErrMalformedUpload.WithDetail(nil)
		}
		var meta data.SignedMeta
		if err := json.Unmarshal(body, &meta); err != nil {
			return nil, notaryerrors.ErrMalformedJSON.WithDetail(nil)
		}
		if _, dup := updates[role]; dup {
			return nil, notaryerrors.ErrMalformedUpload.WithDetail(fmt.Sprintf("%s sent twice", role))
		}
		updates[role] = storage.MetaUpdate{Role: role, Version: meta.Signed.Version, Data: body}
	}
}

// validate builds the repository as it would be after the update, and
// returns what to store: the client's roles that check out, then the
// snapshot and timestamp. Errors are tuf/validation's, which the client
// understands.
func (s *Server) validate(gun data.GUN, updates map[data.RoleName]storage.MetaUpdate) ([]storage.MetaUpdate, error) {
	var apply []storage.MetaUpdate
	b := tuf.NewRepoBuilder(gun, s.crypto, trustpinning.TrustPinConfig{})
	if err := s.loadStored(gun, data.CanonicalRootRole, b); err != nil && !errors.As(err, new(storage.ErrNotFound)) {
		return nil, err
	}

	// Root: a new one must be the next version, signed by keys the
	// current root trusts (and by its own).
	if root, ok := updates[data.CanonicalRootRole]; ok {
		current := b.GetLoadedVersion(data.CanonicalRootRole)
		if root.Version != current && root.Version != current+1 {
			return nil, validation.ErrBadRoot{Msg: fmt.Sprintf("root version %d does not follow the current %d", root.Version, current)}
		}
		b = b.BootstrapNewBuilder()
		if err := b.Load(data.CanonicalRootRole, root.Data, current, false); err != nil {
			return nil, validation.ErrBadRoot{Msg: err.Error()}
		}
		apply = append(apply, root)
	} else if !b.IsLoaded(data.CanonicalRootRole) {
		return nil, validation.ErrValidation{Msg: "no root in the update and none stored"}
	}

	// Targets and delegations, parents before children, each parent
	// chain loaded from the store when the update does not carry it.
	var targets []data.RoleName
	for role := range updates {
		if role == data.CanonicalTargetsRole || data.IsDelegation(role) {
			targets = append(targets, role)
		}
	}
	slices.SortFunc(targets, func(a, b data.RoleName) int {
		if d := strings.Count(a.String(), "/") - strings.Count(b.String(), "/"); d != 0 {
			return d
		}
		return strings.Compare(a.String(), b.String())
	})
	for _, role := range targets {
		var missing []data.RoleName
		for p := role; p != data.CanonicalTargetsRole; {
			p = p.Parent()
			if !b.IsLoaded(p) {
				missing = append(missing, p)
			}
		}
		for i := len(missing) - 1; i >= 0; i-- {
			// A parent not stored either makes the Load below fail.
			if err := s.loadStored(gun, missing[i], b); err != nil && !errors.As(err, new(storage.ErrNotFound)) {
				return nil, err
			}
		}
		if err := b.Load(role, updates[role].Data, 1, false); err != nil {
			return nil, validation.ErrBadTargets{Msg: err.Error()}
		}
		apply = append(apply, updates[role])
	}

	if snap, ok := updates[data.CanonicalSnapshotRole]; ok {
		if err := b.Load(data.CanonicalSnapshotRole, snap.Data, 1, false); err != nil {
			return nil, validation.ErrBadSnapshot{Msg: err.Error()}
		}
		apply = append(apply, snap)
	} else {
		snap, err := s.signSnapshot(gun, b)
		if err != nil {
			return nil, err
		}
		apply = append(apply, snap)
	}
	ts, err := s.signTimestamp(gun, b)
	if err != nil {
		return nil, err
	}
	return append(apply, ts), nil
}

// loadStored loads the stored current version of role into b, trusting it
// (it was validated when published) even when expired.
func (s *Server) loadStored(gun data.GUN, role data.RoleName, b tuf.RepoBuilder) error {
	_, meta, err := s.store.GetCurrent(gun, role)
	if err != nil {
		return err
	}
	return b.Load(role, meta, 1, true)
}

// signSnapshot makes the next snapshot with the server's snapshot key.
func (s *Server) signSnapshot(gun data.GUN, b tuf.RepoBuilder) (storage.MetaUpdate, error) {
	var prev *data.SignedSnapshot
	if err := s.current(gun, data.CanonicalSnapshotRole, &prev); err != nil {
		return storage.MetaUpdate{}, err
	}
	meta, version, err := b.GenerateSnapshot(prev)
	switch err.(type) {
	case nil:
		return storage.MetaUpdate{Role: data.CanonicalSnapshotRole, Version: version, Data: meta}, nil
	case signed.ErrInsufficientSignatures, signed.ErrNoKeys, signed.ErrRoleThreshold:
		return storage.MetaUpdate{}, validation.ErrBadHierarchy{
			Missing: data.CanonicalSnapshotRole.String(),
			Msg:     "the update has no snapshot and the server does not hold this repository's snapshot key",
		}
	default:
		return storage.MetaUpdate{}, validation.ErrValidation{Msg: err.Error()}
	}
}

// signTimestamp makes the next timestamp with the server's timestamp key.
func (s *Server) signTimestamp(gun data.GUN, b tuf.RepoBuilder) (storage.MetaUpdate, error) {
	var prev *data.SignedTimestamp
	if err := s.current(gun, data.CanonicalTimestampRole, &prev); err != nil {
		return storage.MetaUpdate{}, err
	}
	meta, version, err := b.GenerateTimestamp(prev)
	switch err.(type) {
	case nil:
		return storage.MetaUpdate{Role: data.CanonicalTimestampRole, Version: version, Data: meta}, nil
	case signed.ErrInsufficientSignatures, signed.ErrNoKeys:
		return storage.MetaUpdate{}, validation.ErrBadRoot{Msg: "the server holds no timestamp key for this repository"}
	default:
		return storage.MetaUpdate{}, validation.ErrValidation{Msg: err.Error()}
	}
}

// current decodes the stored current version of role into *into, leaving
// it nil when there is none.
func (s *Server) current(gun data.GUN, role data.RoleName, into any) error {
	_, meta, err := s.store.GetCurrent(gun, role)
	if errors.As(err, new(storage.ErrNotFound)) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(meta, into)
}
