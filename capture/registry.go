package capture

import (
	"encoding/json"
	"fmt"
	"mime"
	"strings"
)

// Summarizer is a Reader whose stored output can be summarized for people
// and programs (exhibit show).
type Summarizer interface {
	// Summarize reads the reader's output as the metadata document holds
	// it (under the reader's ID) and returns what to show of it.
	Summarize(stored json.RawMessage) (*Summary, error)
}

// Summary is what show prints of one reader's output.
type Summary struct {
	// Value is shown under the reader's ID by show --json (JSON-encodable).
	Value any
	// Facts are labelled lines for people, in order; an empty Value is
	// left out.
	Facts []Fact
}

// Fact is one labelled line of a Summary.
type Fact struct{ Label, Value string }

// Registry holds the Readers an ingest runs, each registered for the media
// types it reads (Reader.MediaTypes). It is read-only once made and safe
// for concurrent use.
type Registry struct {
	readers []Reader
	byType  map[string][]int // media type, "type/*" or "*/*" -> indexes in readers
}

// NewRegistry registers readers in order: that is the order they run in,
// and the order show prints their summaries. Reader IDs must be unique and
// media types well formed ("image/jpeg", "image/*", "*/*").
func NewRegistry(readers ...Reader) (*Registry, error) {
	g := &Registry{byType: map[string][]int{}}
	ids := map[string]bool{}
	for _, r := range readers {
		id := r.ID()
		if id == "" || ids[id] {
			return nil, fmt.Errorf("capture: reader ID %q is empty or registered twice", id)
		}
		ids[id] = true
		g.readers = append(g.readers, r)
		types := r.MediaTypes()
		if len(types) == 0 {
			return nil, fmt.Errorf("capture: reader %s reads no media type", id)
		}
		for _, t := range types {
			mt := essence(t)
			if mt != t || !strings.Contains(mt, "/") {
				return nil, fmt.Errorf("capture: reader %s: media type %q is not lower case type/subtype without parameters", id, t)
			}
			g.byType[mt] = append(g.byType[mt], len(g.readers)-1)
		}
	}
	return g, nil
}

// essence is a media type without parameters, in lower case.
func essence(mediaType string) string {
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		mt = strings.TrimSpace(strings.Split(mediaType, ";")[0])
	}
	return strings.ToLower(mt)
}

// For returns the readers registered for mediaType (its parameters are
// ignored), by its exact type, "type/*" or "*/*", in registration order.
func (g *Registry) For(mediaType string) []Reader {
	if g == nil {
		return nil
	}
	mt := essence(mediaType)
	major, _, _ := strings.Cut(mt, "/")
	match := make([]bool, len(g.readers))
	for _, k := range []string{mt, major + "/*", "*/*"} {
		for _, i := range g.byType[k] {
			match[i] = true
		}
	}
	var out []Reader
	for i, r := range g.readers {
		if match[i] {
			out = append(out, r)
		}
	}
	return out
}

// Readers returns every registered reader, in order.
func (g *Registry) Readers() []Reader {
	if g == nil {
		return nil
	}
	return append([]Reader(nil), g.readers...)
}

// Summaries summarizes the format readers' output of a metadata document
// (its "formats" object: reader ID -> output) with the registered
// Summarizers, in registration order. Output of readers not registered, or
// that do not summarize, is left out.
func (g *Registry) Summaries(formats map[string]json.RawMessage) ([]Summarized, error) {
	if g == nil {
		return nil, nil
	}
	var out []Summarized
	for _, r := range g.readers {
		data, ok := formats[r.ID()]
		s, can := r.(Summarizer)
		if !ok || !can {
			continue
		}
		sum, err := s.Summarize(data)
		if err != nil {
			return out, fmt.Errorf("metadata document: %s: %w", r.ID(), err)
		}
		if sum != nil {
			out = append(out, Summarized{Reader: r.ID(), Summary: *sum})
		}
	}
	return out, nil
}

// Summarized is a Summary and the ID of the reader that made it.
type Summarized struct {
	Reader string
	Summary
}
