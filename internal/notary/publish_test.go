package notary

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"

	"github.com/docker/distribution/registry/api/errcode"
	notaryerrors "github.com/theupdateframework/notary/server/errors"
	"github.com/theupdateframework/notary/tuf/data"
)

// publishRequest is a publish body with one part per (file name, JSON).
func publishRequest(t *testing.T, parts ...[2]string) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="files"; filename="`+p[0]+`"`)
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(p[1]))
	}
	mw.Close()
	r, err := http.NewRequest(http.MethodPost, "/v2/example/_trust/tuf/", &buf)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", mw.FormDataContentType())
	return r
}

// TestReadUpdates checks that delegated roles keep their full names (the
// reason berth reads publishes itself) and that bad parts are refused
// with notary's errors.
func TestReadUpdates(t *testing.T) {
	meta := func(v string) string { return `{"signed":{"_type":"Targets","version":` + v + `},"signatures":[]}` }
	updates, err := readUpdates(publishRequest(t,
		[2]string{"targets.json", meta("3")},
		[2]string{"targets/releases.json", meta("2")},
		[2]string{"targets/team/alice.json", meta("1")},
	))
	if err != nil {
		t.Fatal(err)
	}
	for role, version := range map[data.RoleName]int{"targets": 3, "targets/releases": 2, "targets/team/alice": 1} {
		if u, ok := updates[role]; !ok || u.Version != version || u.Role != role {
			t.Errorf("role %s: %+v (present %v), want version %d", role, u, ok, version)
		}
	}
	if len(updates) != 3 {
		t.Errorf("%d updates, want 3: %v", len(updates), updates)
	}

	tests := []struct {
		name  string
		parts [][2]string
		want  errcode.ErrorCode
	}{
		{"not a role", [][2]string{{"alice.json", meta("1")}}, notaryerrors.ErrInvalidRole},
		{"no file name", [][2]string{{"", meta("1")}}, notaryerrors.ErrNoFilename},
		{"not JSON", [][2]string{{"targets.json", "{"}}, notaryerrors.ErrMalformedJSON},
		{"role twice", [][2]string{{"targets.json", meta("1")}, {"targets.json", meta("2")}}, notaryerrors.ErrMalformedUpload},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readUpdates(publishRequest(t, tc.parts...))
			var e errcode.Error
			if !errors.As(err, &e) || e.Code != tc.want {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}
