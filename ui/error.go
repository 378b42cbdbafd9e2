package ui

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error codes say what kind of failure an *Error is; errorStatus maps
// each to its HTTP status. The backends return *Error (or *FormError)
// where the cause is the user's; any other error is EINTERNAL.
const (
	// EBADREQUEST: the request itself is malformed (nothing the UI's own
	// forms send: an unreadable form, an unknown action).
	EBADREQUEST = "bad_request"
	// EINVALID: what the user entered does not validate; the form is
	// shown again with the problems.
	EINVALID = "invalid"
	// EUNAUTHORIZED: wrong user name or password.
	EUNAUTHORIZED = "unauthorized"
	// EFORBIDDEN: the user's role does not allow it, or the form's CSRF
	// token is missing or stale.
	EFORBIDDEN = "forbidden"
	// ENOTFOUND: no such check, incident, device, section or channel.
	ENOTFOUND = "not_found"
	// ECONFLICT: refused given the current state (an incident already
	// acknowledged, an administrator already created).
	ECONFLICT = "conflict"
	// ETOOMANY: too many attempts; try again later.
	ETOOMANY = "too_many"
	// EUPSTREAM: a system the box talked to on the user's behalf failed
	// (a test notification was not delivered).
	EUPSTREAM = "upstream"
	// EINTERNAL: a fault of the box; its text goes to the log, never to
	// the browser.
	EINTERNAL = "internal"
)

// errorStatus is the one table from error codes to HTTP status.
var errorStatus = map[string]int{
	EBADREQUEST:   http.StatusBadRequest,
	EINVALID:      http.StatusUnprocessableEntity,
	EUNAUTHORIZED: http.StatusUnauthorized,
	EFORBIDDEN:    http.StatusForbidden,
	ENOTFOUND:     http.StatusNotFound,
	ECONFLICT:     http.StatusConflict,
	ETOOMANY:      http.StatusTooManyRequests,
	EUPSTREAM:     http.StatusBadGateway,
	EINTERNAL:     http.StatusInternalServerError,
}

// ErrorStatus is the HTTP status for an error code (500 for an unknown one).
func ErrorStatus(code string) int {
	if st, ok := errorStatus[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// Error is an error meant for the person at the browser: a code (one of
// the E constants) and a message that is safe to show.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns err's code: "" for nil, the code of an *Error in its
// chain, EINVALID for a *FormError, else EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	var fe *FormError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case errors.As(err, &fe):
		return EINVALID
	}
	return EINTERNAL
}

// ErrorMessage returns what may be shown of err: the message of an *Error
// in its chain, a *FormError's problems, else only "internal error".
func ErrorMessage(err error) string {
	var e *Error
	var fe *FormError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	case errors.As(err, &fe):
		return fe.Error()
	}
	return "internal error"
}

// FormError lists validation problems, each "field: what is wrong", worded
// as the config file's errors are. Its code is EINVALID.
type FormError struct{ Problems []string }

func (e *FormError) Error() string { return strings.Join(e.Problems, "; ") }

// writeStatus writes the HTTP status err's code maps to.
func writeStatus(w http.ResponseWriter, err error) {
	w.WriteHeader(ErrorStatus(ErrorCode(err)))
}

// report writes err's status and returns what to tell the user. An
// internal error is logged with a short reference, and the reference is
// all the browser sees of it.
func (s *Server) report(w http.ResponseWriter, r *http.Request, err error) string {
	writeStatus(w, err)
	if ErrorCode(err) != EINTERNAL {
		return ErrorMessage(err)
	}
	ref := errorRef()
	s.o.Log.Error("ui request failed", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
	return fmt.Sprintf("%s (reference %s); the box's log has the details", ErrorMessage(err), ref)
}

// fail answers a request whose handler failed with the error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess *Session, err error) {
	msg := s.report(w, r, err)
	s.render(w, r, sess, "Error", errorPage(ErrorStatus(ErrorCode(err)), msg))
}

// errorRef is a short random reference tying an error page to its log line.
func errorRef() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
