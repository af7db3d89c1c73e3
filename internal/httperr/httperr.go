// Package httperr is crier's one table from errors to HTTP answers. A
// handler returns an error; the server asks Of for the status and the
// one-line reason the client may read. Errors the table does not know are
// internal: 500, and the reason stays in the server log.
package httperr

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/crier-hub/crier/internal/store"
)

// Error is an error with the status and the reason a client gets.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// New returns an Error with status and a formatted reason.
func New(status int, format string, args ...any) error {
	return &Error{status, fmt.Sprintf(format, args...)}
}

// NotFound is New(404, …).
func NotFound(format string, args ...any) error { return New(http.StatusNotFound, format, args...) }

// BadRequest is New(400, …).
func BadRequest(format string, args ...any) error { return New(http.StatusBadRequest, format, args...) }

// Conflict is New(409, …).
func Conflict(format string, args ...any) error { return New(http.StatusConflict, format, args...) }

// Internal is the reason given for every error the table does not know.
const Internal = "internal error; see the server log"

// Of maps err to a status and the reason to send. known is false for an
// internal error, which the caller logs; gone is true when the client went
// away (context cancelled) and nothing should be written or logged.
func Of(err error) (status int, msg string, known, gone bool) {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Status, e.Msg, true, false
	case errors.Is(err, context.Canceled):
		return 499, "", true, true
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not found", true, false
	case errors.Is(err, store.ErrExists):
		return http.StatusConflict, "it exists already", true, false
	case errors.Is(err, store.ErrBadSearch):
		return http.StatusBadRequest, err.Error(), true, false
	}
	return http.StatusInternalServerError, Internal, false, false
}
