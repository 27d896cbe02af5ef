// Package capture reads what can be learned from an original's bytes: basic
// facts for every file (size, sniffed media type, name, file times) and,
// through Readers that format packages provide and a Registry holds by
// media type, format metadata and derivatives such as stripped working
// copies. A Reader that is also a Summarizer says what exhibit show prints
// of its output.
//
// A Reader never modifies the original and never logs metadata values.
// capture must not import storage, sign, ingest or cli.
package capture

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
)

// Source is the original as a Reader sees it: random access to the bytes
// that were hashed, plus what is known about them.
type Source interface {
	io.ReaderAt
	// Size is the length of the original.
	Size() int64
	// Name is the base name as given (may be empty).
	Name() string
	// MediaType is the sniffed media type.
	MediaType() string
}

// Reader extracts metadata and derivatives from one family of formats.
// Implementations must be safe for concurrent use, must bound the memory
// they use whatever the input claims, and must return an error (never
// panic) on malformed input.
type Reader interface {
	// ID names the reader and its output version, e.g. "photo/1".
	ID() string
	// MediaTypes are the media types it reads (lower case, without
	// parameters; "image/*" and "*/*" match a family or anything): a
	// Registry hands it only those. A reader that finds it cannot handle
	// one file after all returns ErrUnsupported.
	MediaTypes() []string
	// Read extracts metadata (a JSON-encodable value) and derivatives.
	Read(ctx context.Context, src Source) (*Result, error)
}

// Result is what a Reader found.
type Result struct {
	// Metadata is stored under the reader's ID in the metadata document.
	Metadata any
	// Derivatives are files made from the original.
	Derivatives []Derivative
}

// Derivative is a file a Reader makes from the original.
type Derivative struct {
	Name      string
	Kind      string
	MediaType string
	Transform Transform
	// Write writes the derivative's bytes to w. It may be called once. When
	// it fails, the derivative is left out and its error recorded; the item
	// is archived all the same.
	Write func(ctx context.Context, w io.Writer) error
	// Params, when set, is called after Write succeeded; its entries are
	// added to Transform.Params (e.g. what a strip removed).
	Params func() map[string]string
}

// StrippedKind is the kind of a stripped working copy: the original
// without what identifies people or devices, made to be shared (written in
// clear even when originals are encrypted).
const StrippedKind = "stripped"

// Transform names what made a derivative.
type Transform struct {
	Name    string
	Version string
	Profile string
	Params  map[string]string
}

// ErrUnsupported is returned by a Reader that accepted a file it then
// finds it cannot handle; it is not recorded as a failure.
var ErrUnsupported = errors.New("format not supported by this reader")

// SniffLen is how many leading bytes Sniff looks at.
const SniffLen = 512

// Sniff returns the media type of content starting with head. It goes by
// the bytes only: a name's extension can lie, and evidence is often renamed.
func Sniff(head []byte, _ string) string {
	switch {
	case len(head) >= 4 && (string(head[:4]) == "II*\x00" || string(head[:4]) == "MM\x00*"):
		return "image/tiff" // also DNG and most camera raw formats
	case len(head) >= 4 && (string(head[:4]) == "II+\x00" || string(head[:4]) == "MM\x00+"):
		return "image/tiff" // BigTIFF
	case isFtyp(head, "heic", "heix", "heim", "heis", "hevc", "hevx"):
		return "image/heic"
	case isFtyp(head, "mif1", "msf1", "heif"):
		return "image/heif"
	case isFtyp(head, "avif", "avis"):
		return "image/avif"
	}
	return http.DetectContentType(head)
}

func isFtyp(head []byte, brands ...string) bool {
	if len(head) < 12 || string(head[4:8]) != "ftyp" {
		return false
	}
	for _, b := range brands {
		if string(head[8:12]) == b {
			return true
		}
	}
	return false
}

// JSONFloat keeps a float JSON-encodable for a Reader's metadata: NaN and
// infinities, which encoding/json refuses, become the strings "NaN", "+Inf"
// and "-Inf".
func JSONFloat(v float64) any {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return v
}
