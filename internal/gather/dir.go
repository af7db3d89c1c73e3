// Package gather reads releases from sources: a folder of files, and (in
// its other files) feeds and web pages over HTTP.
package gather

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Doc is one document a source delivered, not yet normalized.
type Doc struct {
	Key   string // unique within the source and stable: a path, a guid, a URL
	URL   string // where the document can be read, if anywhere
	Raw   []byte
	HTML  bool      // the document is HTML rather than text or Markdown
	Title string    // a title the source gave, if any
	Date  time.Time // the document's own date (file time, feed date)
	// DateStated says Date was published with the document (a feed
	// entry's date), not merely observed (a file's time).
	DateStated bool
}

// DocError is a document that could not be read; the others still are.
type DocError struct {
	Key string
	Err error
}

func (e *DocError) Error() string { return fmt.Sprintf("%s: %v", e.Key, e.Err) }
func (e *DocError) Unwrap() error { return e.Err }

// dirExts are the file types a dir source reads, and whether each is HTML.
var dirExts = map[string]bool{".txt": false, ".md": false, ".markdown": false, ".html": true, ".htm": true}

// Dir reads every .txt, .md and .html file under root. Files it cannot read,
// or larger than maxBody, are returned as DocErrors and skipped. A root
// that cannot be read at all is an error.
func Dir(ctx context.Context, root string, maxBody int64) ([]Doc, []error, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, nil, fmt.Errorf("read folder: %w", err)
	}
	if !info.IsDir() {
		return nil, nil, fmt.Errorf("read folder: %s is not a folder", root)
	}
	var docs []Doc
	var problems []error
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if err != nil {
			problems = append(problems, &DocError{rel, err})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if path != root && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		isHTML, ok := dirExts[strings.ToLower(filepath.Ext(path))]
		if !ok || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		doc, err := readFile(path, maxBody)
		if err != nil {
			problems = append(problems, &DocError{rel, err})
			return nil
		}
		doc.Key, doc.HTML = rel, isHTML
		doc.Raw = Decode(doc.Raw, "")
		docs = append(docs, doc)
		return nil
	})
	if err != nil {
		return nil, problems, err
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].Key < docs[j].Key })
	return docs, problems, nil
}

func readFile(path string, maxBody int64) (Doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return Doc{}, unwrapPath(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Doc{}, unwrapPath(err)
	}
	if !info.Mode().IsRegular() {
		return Doc{}, fmt.Errorf("not a regular file")
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxBody+1))
	if err != nil {
		return Doc{}, unwrapPath(err)
	}
	if int64(len(raw)) > maxBody {
		return Doc{}, fmt.Errorf("larger than the %d-byte limit (fetch.max_body)", maxBody)
	}
	return Doc{Raw: raw, Date: info.ModTime().UTC()}, nil
}

// unwrapPath drops the path from an *fs.PathError: the caller names the file.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
