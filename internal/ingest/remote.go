package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
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
	hub, topic  string // the feed's WebSub hub, if it names one
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
	g.hub, g.topic = gather.Discover(resp.Body, resp.Links, resp.URL)
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
	known, err := in.Store.DocumentHashes(ctx, src.ID, links)
	if err != nil {
		return g, err
	}
	var todo []string
	for _, link := range links {
		if _, ok := known[link]; ok {
			continue
		}
		if len(todo) == in.MaxPages {
			g.problems = append(g.problems, fmt.Errorf("more than %d new pages: the rest wait for the next run", in.MaxPages))
			break
		}
		todo = append(todo, link)
	}
	fetched := len(todo)
	docs, problems := in.fetchPages(ctx, todo)
	g.docs, g.problems = docs, append(g.problems, problems...)
	if fetched > 0 && len(g.docs) == 0 {
		return g, fmt.Errorf("none of the %d new release pages of %s could be fetched: %v", fetched, src.URL, errors.Join(g.problems...))
	}
	return g, nil
}

// pageRun bounds a page source's run: pages not fetched by then wait for
// the next run, so that pages that drip cannot hold a run for hours.
func (in *Ingester) pageRun() time.Duration {
	if in.PageRun > 0 {
		return in.PageRun
	}
	return max(4*in.Fetch.Timeout, time.Minute)
}

// perHost is how many pages of one site are fetched at once.
const perHost = 2

// fetchPages fetches release pages, at most perHost at once per site, each
// fetcher waiting PageDelay between its requests, all within pageRun.
// Results keep the order of links.
func (in *Ingester) fetchPages(ctx context.Context, links []string) ([]gather.Doc, []error) {
	ctx, cancel := context.WithTimeout(ctx, in.pageRun())
	defer cancel()
	type result struct {
		doc gather.Doc
		err error
	}
	results := make([]result, len(links))
	byHost := map[string][]int{}
	var hosts []string
	for i, link := range links {
		h := link
		if u, err := url.Parse(link); err == nil {
			h = u.Host
		}
		if byHost[h] == nil {
			hosts = append(hosts, h)
		}
		byHost[h] = append(byHost[h], i)
	}
	var wg sync.WaitGroup
	for _, h := range hosts {
		queue := make(chan int, len(byHost[h]))
		for _, i := range byHost[h] {
			queue <- i
		}
		close(queue)
		for w := 0; w < min(perHost, len(byHost[h])); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first := true
				for i := range queue {
					if !first && in.PageDelay > 0 {
						select {
						case <-ctx.Done():
						case <-time.After(in.PageDelay):
						}
					}
					first = false
					if ctx.Err() != nil {
						results[i].err = &gather.DocError{Key: links[i], Err: fmt.Errorf("not fetched: the run's %v deadline passed; next run", in.pageRun())}
						continue
					}
					page, err := in.Fetcher.Fetch(ctx, links[i], gather.Validators{})
					if err != nil {
						results[i].err = &gather.DocError{Key: links[i], Err: err}
						continue
					}
					date, _ := http.ParseTime(page.Validators.LastModified)
					results[i].doc = gather.Doc{Key: links[i], URL: page.URL, Raw: gather.Decode(page.Body, page.ContentType), HTML: true, Date: date.UTC()}
				}
			}()
		}
	}
	wg.Wait()
	var docs []gather.Doc
	var problems []error
	for _, r := range results {
		if r.err != nil {
			problems = append(problems, r.err)
		} else {
			docs = append(docs, r.doc)
		}
	}
	return docs, problems
}
