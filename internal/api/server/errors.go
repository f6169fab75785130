package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"berth/internal/errdefs"
)

// statusOf maps an error's class to the status Docker answers with. This is
// the only place in berth where that choice is made.
func statusOf(err error) int {
	var rnf routeNotFound
	var cve clientVersionErr
	switch {
	case errors.As(err, &rnf):
		return http.StatusNotFound
	case errors.As(err, &cve):
		return http.StatusBadRequest
	case errors.Is(err, errdefs.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errdefs.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, errdefs.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, errdefs.ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, errdefs.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, errdefs.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errdefs.ErrNotImplemented):
		return http.StatusNotImplemented
	case errors.Is(err, errdefs.ErrNotModified):
		return http.StatusNotModified
	default:
		return http.StatusInternalServerError
	}
}

// WriteError answers with Docker's error body. A stream that has already
// started (hijacked or flushed) cannot take a status any more; callers of
// long streams write errors in-band instead.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
}

type clientVersionErr struct{ msg string }

func (e clientVersionErr) Error() string { return e.msg }

func clientVersionError(format string, args ...any) error {
	return clientVersionErr{msg: fmt.Sprintf(format, args...)}
}
