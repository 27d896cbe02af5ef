package strip

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/openexhibit/exhibit/capture"
)

// ReaderID names the capture reader that makes working copies.
const ReaderID = "strip/1"

// Kind is the derivative kind of a working copy.
const Kind = capture.StrippedKind

// Reader is the capture.Reader that offers a stripped working copy of every
// image strip handles. It contributes no metadata.
type Reader struct {
	profile Profile
}

// NewReader returns a Reader that strips with profile p.
func NewReader(p Profile) *Reader { return &Reader{profile: p} }

// ID implements capture.Reader.
func (*Reader) ID() string { return ReaderID }

// MediaTypes implements capture.Reader: the formats FormatOf knows.
func (*Reader) MediaTypes() []string {
	return []string{"image/jpeg", "image/png", "image/webp", "image/tiff", "image/heic", "image/heif"}
}

var extensions = map[Format]string{JPEG: ".jpg", PNG: ".png", WebP: ".webp", TIFF: ".tif", HEIF: ".heic"}

// Read implements capture.Reader. The copy is made when ingest writes the
// derivative; if stripping fails then, ingest records the error and archives
// the original without a working copy.
func (r *Reader) Read(_ context.Context, src capture.Source) (*capture.Result, error) {
	f, ok := FormatOf(src.MediaType())
	if !ok {
		return nil, capture.ErrUnsupported
	}
	var (
		mu  sync.Mutex
		rep *Report
	)
	d := capture.Derivative{
		Name:      "working-copy" + extensions[f],
		Kind:      Kind,
		MediaType: f.MediaType(),
		Transform: capture.Transform{Name: "exhibit-strip", Version: "1", Profile: r.profile.String()},
		Write: func(ctx context.Context, w io.Writer) error {
			got, err := Strip(ctx, src, src.Size(), f, r.profile, w)
			mu.Lock()
			rep = got
			mu.Unlock()
			return err
		},
		Params: func() map[string]string {
			mu.Lock()
			defer mu.Unlock()
			if rep == nil {
				return nil
			}
			return map[string]string{"removed": strings.Join(rep.Removed, "; ")}
		},
	}
	return &capture.Result{Derivatives: []capture.Derivative{d}}, nil
}
