// Package errdefs defines the classes of error that berth's domain packages
// attach to the errors they return. Only internal/api/server turns a class
// into an HTTP status; everything else wraps with %w and leaves the message as
// the Docker CLI would print it.
package errdefs

import "errors"

// Sentinel classes. Test with errors.Is or the Is* helpers.
var (
	ErrNotFound       = errors.New("not found")
	ErrConflict       = errors.New("conflict")
	ErrInvalid        = errors.New("invalid parameter")
	ErrForbidden      = errors.New("forbidden")
	ErrUnavailable    = errors.New("unavailable")
	ErrNotImplemented = errors.New("not implemented")
	ErrNotModified    = errors.New("not modified")
	ErrUnauthorized   = errors.New("unauthorized")
)

type classified struct {
	error
	class error
}

func (e classified) Is(target error) bool { return target == e.class }
func (e classified) Unwrap() error        { return e.error }

func wrap(err, class error) error {
	if err == nil {
		return nil
	}
	return classified{error: err, class: class}
}

// NotFound marks err as "the named object does not exist" (HTTP 404).
func NotFound(err error) error { return wrap(err, ErrNotFound) }

// Conflict marks err as a clash with the object's current state (HTTP 409).
func Conflict(err error) error { return wrap(err, ErrConflict) }

// Invalid marks err as bad input from the caller (HTTP 400).
func Invalid(err error) error { return wrap(err, ErrInvalid) }

// Forbidden marks err as refused by policy (HTTP 403).
func Forbidden(err error) error { return wrap(err, ErrForbidden) }

// Unavailable marks err as a temporary inability to serve (HTTP 503).
func Unavailable(err error) error { return wrap(err, ErrUnavailable) }

// NotImplemented marks err as a feature berth does not provide yet (HTTP 501).
func NotImplemented(err error) error { return wrap(err, ErrNotImplemented) }

// NotModified marks a request that changed nothing (HTTP 304), such as
// starting a running container.
func NotModified(err error) error { return wrap(err, ErrNotModified) }

// IsNotFound reports whether err is of the not-found class.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is of the conflict class.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsInvalid reports whether err is of the invalid-parameter class.
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

// IsForbidden reports whether err is of the forbidden class.
func IsForbidden(err error) bool { return errors.Is(err, ErrForbidden) }

// IsUnavailable reports whether err is of the unavailable class.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// Unauthorized marks err as a refusal of the caller's credentials (401).
func Unauthorized(err error) error { return wrap(err, ErrUnauthorized) }
