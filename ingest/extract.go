package ingest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/custody"
)

// basicReaderID names the facts every item gets, whatever its format.
const basicReaderID = "basic/1"

// metadataDoc is the metadata document stored beside each original
// (specified in docs/formats.md).
type metadataDoc struct {
	MediaType string `json:"mediaType"`
	Item      string `json:"item"`
	Basic     basic  `json:"basic"`
	// Formats holds each format reader's output under its ID.
	Formats map[string]any        `json:"formats,omitempty"`
	Errors  []custody.ReaderError `json:"errors,omitempty"`
}

type basic struct {
	Size      int64             `json:"size"`
	MediaType string            `json:"mediaType"`
	Name      string            `json:"name"`
	Extension string            `json:"extension,omitempty"`
	FileTimes custody.FileTimes `json:"fileTimes"`
}

func (d *metadataDoc) readerIDs() []string {
	ids := []string{basicReaderID}
	for id := range d.Formats {
		ids = append(ids, id)
	}
	sort.Strings(ids[1:])
	return ids
}

// extract runs every reader that accepts the source. A reader that fails
// or panics is recorded as an error; the item is archived all the same.
// derivative is a reader's derivative with the reader's ID.
type derivative struct {
	capture.Derivative
	Reader string
}

func (in *Ingester) extract(ctx context.Context, src capture.Source, item string, times custody.FileTimes) (*metadataDoc, []derivative) {
	doc := &metadataDoc{
		MediaType: custody.MetadataMediaType,
		Item:      item,
		Basic: basic{Size: src.Size(), MediaType: src.MediaType(), Name: src.Name(),
			Extension: strings.ToLower(filepath.Ext(src.Name())), FileTimes: times},
	}
	var derivs []derivative
	names := map[string]bool{}
	for _, r := range in.o.Readers.For(src.MediaType()) {
		res, err := safeRead(ctx, r, src)
		if errors.Is(err, capture.ErrUnsupported) {
			continue
		}
		if err != nil {
			doc.Errors = append(doc.Errors, custody.ReaderError{Reader: r.ID(), Error: err.Error()})
			continue
		}
		if res.Metadata != nil {
			if doc.Formats == nil {
				doc.Formats = map[string]any{}
			}
			doc.Formats[r.ID()] = res.Metadata
		}
		for _, d := range res.Derivatives {
			if names[d.Name] || d.Write == nil {
				doc.Errors = append(doc.Errors, custody.ReaderError{Reader: r.ID(), Error: fmt.Sprintf("derivative %q repeated or empty, dropped", d.Name)})
				continue
			}
			if in.o.Encrypt != nil && d.Kind != capture.StrippedKind {
				// A copy of the original's content (a capture's screenshot,
				// text, media) would be written in clear beside the
				// encrypted original: it is not made. Stripped working
				// copies, made to be shared, are.
				doc.Errors = append(doc.Errors, custody.ReaderError{Reader: r.ID(),
					Error: fmt.Sprintf("derivative %q (%s) not made: the original is encrypted, and only stripped working copies are written in clear", d.Name, d.Kind)})
				continue
			}
			names[d.Name] = true
			derivs = append(derivs, derivative{d, r.ID()})
		}
	}
	return doc, derivs
}

// safeRead runs a reader and turns a panic into an error, so hostile input
// can never take an ingest run down. The panic value is not included: it may
// carry metadata values.
func safeRead(ctx context.Context, r capture.Reader, src capture.Source) (res *capture.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("reader %s crashed on this file", r.ID())
		}
	}()
	res, err = r.Read(ctx, src)
	if err == nil && res == nil {
		res = &capture.Result{}
	}
	return res, err
}
