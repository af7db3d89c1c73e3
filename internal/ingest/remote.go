package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/gather"
	"github.com/crier-hub/crier/internal/store"
)

// gathered is what a remote source gave in one run.
type gathered struct {
	docs        []gather.Doc
	problems    []error
	warnings    []string
	validators  gather.Validators
	notModified bool
	fresh       time.Duration
}

// gatherFeed fetches a feed conditionally and reads its entries.
func (in *Ingester) gatherFeed(ctx context.Context, src config.Source, st store.SourceState) (gathered, error) {
	var g gathered
	resp, err := in.Fetcher.Fetch(ctx, src.URL, gather.Validators{ETag: st.ETag, LastModified: st.LastModified})
	if err != nil {
		return g, fmt.Errorf("fetch %s: %w", src.URL, err)
	}
	g.validators, g.fresh = resp.Validators, resp.Fresh
	if resp.NotModified {
		g.notModified = true
		return g, nil
	}
	p, err := gather.ParseFeed(resp.Body, resp.ContentType, resp.URL)
	if err != nil {
		return g, fmt.Errorf("read %s: %w", src.URL, err)
	}
	g.docs, g.warnings = p.Docs, p.Warnings
	return g, nil
}

// gatherPage fetches a listing page, then the release pages it links to
// that crier has not seen, one at a time.
func (in *Ingester) gatherPage(ctx context.Context, src config.Source) (gathered, error) {
	var g gathered
	resp, err := in.Fetcher.Fetch(ctx, src.URL, gather.Validators{})
	if err != nil {
		return g, fmt.Errorf("fetch %s: %w", src.URL, err)
	}
	links, err := gather.Links(resp.Body, resp.ContentType, resp.URL, src.Links)
	if err != nil {
		return g, err
	}
	fetched := 0
	for _, link := range links {
		if _, known, err := in.Store.DocumentHash(ctx, src.ID, link); err != nil {
			return g, err
		} else if known {
			continue
		}
		if fetched == in.MaxPages {
			g.problems = append(g.problems, fmt.Errorf("more than %d new pages: the rest wait for the next run", in.MaxPages))
			break
		}
		if fetched > 0 && in.PageDelay > 0 {
			select {
			case <-ctx.Done():
				return g, ctx.Err()
			case <-time.After(in.PageDelay):
			}
		}
		fetched++
		page, err := in.Fetcher.Fetch(ctx, link, gather.Validators{})
		if err != nil {
			g.problems = append(g.problems, &gather.DocError{Key: link, Err: err})
			continue
		}
		date, _ := time.Parse(time.RFC1123, page.Validators.LastModified)
		g.docs = append(g.docs, gather.Doc{Key: link, URL: page.URL, Raw: gather.Decode(page.Body, page.ContentType), HTML: true, Date: date.UTC()})
	}
	if fetched > 0 && len(g.docs) == 0 {
		return g, fmt.Errorf("none of the %d new release pages of %s could be fetched: %v", fetched, src.URL, errors.Join(g.problems...))
	}
	return g, nil
}
