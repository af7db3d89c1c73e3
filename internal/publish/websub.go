package publish

import (
	"bytes"
	"strings"

	"github.com/crier-hub/crier/feeds"
	"github.com/crier-hub/crier/internal/httperr"
	"github.com/crier-hub/crier/internal/store"
	"github.com/crier-hub/crier/internal/websub"
)

// HubTopic resolves a WebSub hub.topic: one of this crier's feed URLs, with
// how its new items become feed documents for the hub to push.
func (s *Server) HubTopic(topic string) (websub.Topic, error) {
	spec, ext, fq, err := s.topicFeed(topic)
	if err != nil {
		return websub.Topic{}, err
	}
	return websub.Topic{Query: spec.query, ContentType: feeds.MediaType(ext),
		Render: func(items []store.Item) ([]store.Batch, error) { return s.websubBatches(spec, ext, fq, items) }}, nil
}

// topicFeed resolves a hub.topic: one of this hub's own feed URLs.
func (s *Server) topicFeed(topic string) (feedSpec, string, feedQuery, error) {
	base := s.cfg.Server.BaseURL + "/feeds/"
	rest, ok := strings.CutPrefix(topic, base)
	if !ok {
		return feedSpec{}, "", feedQuery{}, httperr.BadRequest("hub.topic must be a feed of this hub, starting with %s", base)
	}
	path, rawQuery, _ := strings.Cut(rest, "?")
	kind, file, found := strings.Cut(path, "/")
	if !found {
		kind, file = "", path
	}
	name, ext, err := splitFile(file)
	if err != nil {
		return feedSpec{}, "", feedQuery{}, httperr.BadRequest("hub.topic: %v", err)
	}
	spec, err := s.resolve(kind, name)
	if err != nil {
		return feedSpec{}, "", feedQuery{}, httperr.BadRequest("hub.topic: %v", err)
	}
	fq, err := parseQuery(rawQuery)
	if err == nil && (fq.before > 0 || fq.sinceSet) {
		err = httperr.BadRequest("hub.topic cannot be an archive page")
	}
	if err == nil {
		err = s.applyQuery(&spec, fq)
	}
	if err != nil {
		return feedSpec{}, "", feedQuery{}, httperr.BadRequest("hub.topic: %v", err)
	}
	return spec, ext, fq, nil
}

// websubBatches renders new items as feed documents within max_body.
func (s *Server) websubBatches(spec feedSpec, ext string, fq feedQuery, items []store.Item) ([]store.Batch, error) {
	var out []store.Batch
	for len(items) > 0 {
		n := len(items)
		for {
			page := items[:n]
			// Newest first, as in the feed itself.
			rev := make([]store.Item, n)
			for i, it := range page {
				rev[n-1-i] = it
			}
			var buf bytes.Buffer
			if err := s.buildFeed(spec, ext, fq, rev).Write(&buf, ext); err != nil {
				return nil, err
			}
			if int64(buf.Len()) <= s.cfg.Webhooks.MaxBody || n == 1 {
				ids := make([]int64, n)
				for i, it := range page {
					ids[i] = it.Seq
				}
				out = append(out, store.Batch{Items: ids, Body: buf.Bytes()})
				items = items[n:]
				break
			}
			n = (n + 1) / 2
		}
	}
	return out, nil
}
