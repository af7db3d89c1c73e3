// Package schema reads an engine's numbered migrations: files named
// NNNN_what.sql, applied in the order of their numbers.
package schema

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered schema change.
type Migration struct {
	N    int
	Name string
	Body string
}

// Load lists the migrations in dir of fsys, in order.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Migration
	for _, name := range names {
		base := path.Base(name)
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its number", base)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{n, base, string(body)})
	}
	return out, nil
}

// CheckNotNewer refuses a database whose schema is newer than the last of
// all: a crier older than the one that migrated it could misread what the
// newer one writes.
func CheckNotNewer(current int, all []Migration) error {
	if len(all) > 0 && current > all[len(all)-1].N {
		return fmt.Errorf("the store's schema is version %d, newer than this crier knows (%d): it was upgraded by a newer crier; run that version", current, all[len(all)-1].N)
	}
	return nil
}
