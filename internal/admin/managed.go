package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/httperr"
	"github.com/crier-hub/crier/internal/store"
)

// fileManaged reports whether config.toml defines the source or
// subscriber: the API may not change it.
func (a *API) fileManaged(kind, id string) bool {
	f := a.File
	if f == nil {
		f = a.Cfg
	}
	if kind == "source" {
		for _, s := range f.Sources {
			if s.ID == id {
				return true
			}
		}
		return false
	}
	for _, s := range f.Subscribers {
		if s.ID == id {
			return true
		}
	}
	return false
}

// readManaged reads and checks a body: a JSON object of config keys, with
// every check config.toml's get. Its id is idFromPath when given.
func (a *API) readManaged(r *http.Request, kind, idFromPath string) (store.Managed, any, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return store.Managed{}, nil, httperr.BadRequest("the body could not be read")
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return store.Managed{}, nil, httperr.BadRequest("the body is not a JSON object: %v", err)
	}
	if idFromPath != "" {
		if id, ok := obj["id"]; ok && id != idFromPath {
			return store.Managed{}, nil, httperr.BadRequest("the body's id %v is not the path's %q", id, idFromPath)
		}
		obj["id"] = idFromPath
		body, _ = json.Marshal(obj)
	}
	var srcs, subs [][]byte
	if kind == "source" {
		srcs = [][]byte{body}
	} else {
		subs = [][]byte{body}
	}
	gotSrcs, gotSubs, err := config.Extra(a.Cfg, srcs, subs)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			var msgs []string
			for _, p := range ce.Problems {
				msgs = append(msgs, p.Msg)
			}
			return store.Managed{}, nil, httperr.BadRequest("the %s has problems: %s", kind, strings.Join(msgs, "; "))
		}
		return store.Managed{}, nil, err
	}
	id, _ := obj["id"].(string)
	var view any
	if kind == "source" {
		view = gotSrcs[0]
	} else {
		view = a.subscriberOut(gotSubs[0])
	}
	return store.Managed{Kind: kind, ID: id, Body: body}, view, nil
}

func (a *API) create(kind string) func(w http.ResponseWriter, r *http.Request) (any, error) {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		m, view, err := a.readManaged(r, kind, "")
		if err != nil {
			return nil, err
		}
		if a.fileManaged(kind, m.ID) {
			return nil, httperr.Conflict("%s %q is managed by config.toml", kind, m.ID)
		}
		if err := a.Store.PutManaged(r.Context(), m, true); errors.Is(err, store.ErrExists) {
			return nil, httperr.Conflict("%s %q exists: replace it with PUT", kind, m.ID)
		} else if err != nil {
			return nil, err
		}
		a.apply()
		return created{view}, nil
	}
}

func (a *API) replace(kind string) func(w http.ResponseWriter, r *http.Request) (any, error) {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		id := r.PathValue("id")
		if a.fileManaged(kind, id) {
			return nil, httperr.Conflict("%s %q is managed by config.toml", kind, id)
		}
		m, view, err := a.readManaged(r, kind, id)
		if err != nil {
			return nil, err
		}
		if err := a.Store.PutManaged(r.Context(), m, false); errors.Is(err, store.ErrNotFound) {
			return nil, httperr.NotFound("no %s %q: add it with POST", kind, id)
		} else if err != nil {
			return nil, err
		}
		a.apply()
		return view, nil
	}
}

func (a *API) remove(kind string) func(w http.ResponseWriter, r *http.Request) (any, error) {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		id := r.PathValue("id")
		if a.fileManaged(kind, id) {
			return nil, httperr.Conflict("%s %q is managed by config.toml", kind, id)
		}
		if err := a.Store.DeleteManaged(r.Context(), kind, id); errors.Is(err, store.ErrNotFound) {
			return nil, httperr.NotFound("no %s %q", kind, id)
		} else if err != nil {
			return nil, err
		}
		a.apply()
		return map[string]any{"id": id, "removed": true}, nil
	}
}

func (a *API) getOne(kind string) func(w http.ResponseWriter, r *http.Request) (any, error) {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		id := r.PathValue("id")
		if kind == "source" {
			views, err := a.sourceViews(r.Context())
			if err != nil {
				return nil, err
			}
			for _, v := range views {
				if v.ID == id {
					return v, nil
				}
			}
		} else {
			for _, s := range a.Cfg.Subscribers {
				if s.ID == id {
					return a.subscriberOut(s), nil
				}
			}
		}
		return nil, httperr.NotFound("no %s %q", kind, id)
	}
}

// subscriberOut is a subscriber as the API shows it: never its secret.
func (a *API) subscriberOut(s config.Subscriber) map[string]any {
	managed := "api"
	if a.fileManaged("subscriber", s.ID) {
		managed = "config.toml"
	}
	return map[string]any{"id": s.ID, "url": s.URL, "schedule": s.Schedule, "backfill": s.Backfill,
		"filter":     map[string]any{"countries": s.Filter.Countries, "topics": s.Filter.Topics, "languages": s.Filter.Languages, "sources": s.Filter.Sources},
		"managed_by": managed}
}

func (a *API) apply() {
	if a.Apply != nil {
		a.Apply()
	}
}
