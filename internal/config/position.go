package config

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// pos is a line and column in the config file, both from 1.
type pos struct{ line, col int }

// positions maps every key path of a document to where it is written, so
// that validation problems can point at the offending value. Paths index
// array tables: "sources.0.schedule", "subscribers.1.filter.topics.2".
// Tables map to their header, arrays' elements to the element itself.
func positions(data []byte) map[string]pos {
	out := map[string]pos{}
	counts := map[string]int{} // array-table path -> entries seen so far
	var p unstable.Parser
	p.Reset(data)
	at := func(r unstable.Range) pos {
		s := p.Shape(r)
		return pos{s.Start.Line, s.Start.Column}
	}
	// resolve turns raw key parts into a path, adding the current index of
	// every array table the parts pass through.
	resolve := func(prefix []string, it unstable.Iterator) ([]string, *unstable.Node) {
		path := append([]string(nil), prefix...)
		var first *unstable.Node
		for it.Next() {
			n := it.Node()
			if first == nil {
				first = n
			}
			path = append(path, string(n.Data))
			if c, ok := counts[strings.Join(path, ".")]; ok {
				path = append(path, strconv.Itoa(c-1))
			}
		}
		return path, first
	}
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			path, first := resolve(nil, e.Key())
			table = path
			if first != nil {
				out[strings.Join(path, ".")] = at(first.Raw)
			}
		case unstable.ArrayTable:
			path, first := resolve(nil, e.Key())
			key := strings.Join(path, ".")
			// The last part is the array itself: drop an index resolve added
			// for an earlier entry, then count this one.
			if _, err := strconv.Atoi(path[len(path)-1]); err == nil && len(path) > 1 && counts[strings.Join(path[:len(path)-1], ".")] > 0 {
				path = path[:len(path)-1]
				key = strings.Join(path, ".")
			}
			counts[key]++
			table = append(path, strconv.Itoa(counts[key]-1))
			if first != nil {
				out[strings.Join(table, ".")] = at(first.Raw)
			}
		case unstable.KeyValue:
			path, first := resolve(table, e.Key())
			key := strings.Join(path, ".")
			if first != nil {
				out[key] = at(first.Raw)
			}
			recordValue(out, key, e.Value(), at)
		}
	}
	return out
}

// recordValue records the elements of arrays and inline tables under key.
func recordValue(out map[string]pos, key string, v *unstable.Node, at func(unstable.Range) pos) {
	switch v.Kind {
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); {
			n := it.Node()
			if n.Kind == unstable.Comment {
				continue
			}
			k := key + "." + strconv.Itoa(i)
			if n.Raw.Length > 0 {
				out[k] = at(n.Raw)
			} else {
				out[k] = out[key]
			}
			recordValue(out, k, n, at)
			i++
		}
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			kv := it.Node()
			if kv.Kind != unstable.KeyValue {
				continue
			}
			sub := key
			var first *unstable.Node
			for kit := kv.Key(); kit.Next(); {
				if first == nil {
					first = kit.Node()
				}
				sub += "." + string(kit.Node().Data)
			}
			if first != nil {
				out[sub] = at(first.Raw)
			}
			recordValue(out, sub, kv.Value(), at)
		}
	}
}
