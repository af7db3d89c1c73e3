package httperr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/crier-hub/crier/internal/store"
)

func TestOf(t *testing.T) {
	for _, c := range []struct {
		err         error
		status      int
		msg         string
		known, gone bool
	}{
		{NotFound("no such feed %q", "x"), http.StatusNotFound, `no such feed "x"`, true, false},
		{fmt.Errorf("wrapped: %w", BadRequest("bad q")), http.StatusBadRequest, "bad q", true, false},
		{Conflict("taken"), http.StatusConflict, "taken", true, false},
		{New(http.StatusGone, "retracted on %s", "1 May"), http.StatusGone, "retracted on 1 May", true, false},
		{fmt.Errorf("item: %w", store.ErrNotFound), http.StatusNotFound, "not found", true, false},
		{store.ErrExists, http.StatusConflict, "it exists already", true, false},
		{fmt.Errorf("query: %w", context.Canceled), 499, "", true, true},
		{errors.New("disk I/O error at /var/lib/crier/secret-path"), http.StatusInternalServerError, Internal, false, false},
	} {
		status, msg, known, gone := Of(c.err)
		if status != c.status || msg != c.msg || known != c.known || gone != c.gone {
			t.Errorf("Of(%v) = %d %q %v %v; want %d %q %v %v", c.err, status, msg, known, gone, c.status, c.msg, c.known, c.gone)
		}
	}
}
