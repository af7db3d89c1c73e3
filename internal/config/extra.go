package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/pelletier/go-toml/v2"
)

// Extra reads sources and subscribers given as JSON objects of their
// config keys (the admin API's bodies), with every check config.toml's
// get, against base: its topics and private-target settings, its folder
// for relative paths. The problems are an *Error; their places are those
// of a document made for the check, so callers show the messages alone.
func Extra(base *Config, sources, subscribers [][]byte) ([]Source, []Subscriber, error) {
	var doc struct {
		Topics      []Topic      `toml:"topics"`
		Sources     []Source     `toml:"sources"`
		Subscribers []Subscriber `toml:"subscribers"`
	}
	doc.Topics = base.Topics
	for _, b := range sources {
		var s Source
		if err := strictJSON(b, &s); err != nil {
			return nil, nil, err
		}
		doc.Sources = append(doc.Sources, s)
	}
	for _, b := range subscribers {
		var s Subscriber
		if err := strictJSON(b, &s); err != nil {
			return nil, nil, err
		}
		doc.Subscribers = append(doc.Subscribers, s)
	}
	body, err := toml.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	head := fmt.Sprintf("\n[fetch]\nallow_private_targets = %v\n[webhooks]\nallow_private_targets = %v\n", base.Fetch.AllowPrivateTargets, base.Webhooks.AllowPrivateTargets)
	// The tables come last: what the marshaller wrote at the top level
	// stays there.
	c, err := Parse(filepath.Join(base.Dir, "api.toml"), append(body, head...))
	if err != nil {
		return nil, nil, err
	}
	return c.Sources, c.Subscribers, nil
}

// strictJSON decodes one object, refusing keys config.toml does not know.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Error{Path: "body", Problems: []Problem{{1, 1, "the body is not a JSON object of config keys: " + err.Error()}}}
	}
	return nil
}
