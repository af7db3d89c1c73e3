package publish

import (
	"container/list"
	"sync"
)

// feedCache keeps rendered feeds, the least recently served dropped first
// once their bytes pass the limit, so that many distinct queries cannot
// grow the process without bound.
type feedCache struct {
	mu    sync.Mutex
	limit int64
	bytes int64
	order *list.List // of *cacheEntry, most recently used first
	byKey map[string]*list.Element
}

type cacheEntry struct {
	key string
	doc *rendered
}

func newFeedCache(limit int64) *feedCache {
	return &feedCache{limit: limit, order: list.New(), byKey: map[string]*list.Element{}}
}

func (e *rendered) size() int64 { return int64(len(e.body) + len(e.gz) + 256) }

func (c *feedCache) get(key string) *rendered {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).doc
}

// put keeps doc under key; a document larger than the whole cache is
// served but not kept.
func (c *feedCache) put(key string, doc *rendered) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.bytes -= el.Value.(*cacheEntry).doc.size()
		c.order.Remove(el)
		delete(c.byKey, key)
	}
	if doc.size() > c.limit {
		return
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key, doc})
	c.bytes += doc.size()
	for c.bytes > c.limit {
		el := c.order.Back()
		e := el.Value.(*cacheEntry)
		c.order.Remove(el)
		delete(c.byKey, e.key)
		c.bytes -= e.doc.size()
	}
}

// stats returns the entries and bytes kept.
func (c *feedCache) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey), c.bytes
}
