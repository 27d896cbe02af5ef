// Package strip makes lossless working copies of images: the same
// pixel-bearing bytes as the original, with the metadata that can identify
// the people in or behind an image removed (GPS, serial numbers, owner and
// artist names, maker notes, thumbnails and previews, XMP, IPTC, comments,
// GDAL_METADATA copies of EXIF).
//
// Stripping works by allowlist: a container's structure is walked and only
// what a decoder needs (plus what the Profile asks to keep) is copied; image
// data is copied byte for byte, never decoded and re-encoded. Unknown
// segments, chunks, boxes and tags are dropped.
//
// strip never logs and never puts metadata values into errors or the
// Report: only the names of what was removed. It bounds the memory it uses
// whatever the input declares, and returns an error (never panics) on
// malformed input; a caller then keeps the original and records the error.
//
// strip may import capture and its format helpers; it must not import
// storage, sign, ingest or cli.
package strip

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Format is a container format strip handles.
type Format string

// Formats strip handles.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	WebP Format = "webp"
	TIFF Format = "tiff" // also DNG, GeoTIFF, COG and BigTIFF
	HEIF Format = "heif" // HEIC and other HEIF images
)

// FormatOf returns the format of a sniffed media type; ok is false when
// strip cannot handle it.
func FormatOf(mediaType string) (f Format, ok bool) {
	switch mediaType {
	case "image/jpeg":
		return JPEG, true
	case "image/png":
		return PNG, true
	case "image/webp":
		return WebP, true
	case "image/tiff":
		return TIFF, true
	case "image/heic", "image/heif":
		return HEIF, true
	}
	return "", false
}

// MediaType is the media type of a stripped copy in format f.
func (f Format) MediaType() string {
	switch f {
	case JPEG:
		return "image/jpeg"
	case PNG:
		return "image/png"
	case WebP:
		return "image/webp"
	case TIFF:
		return "image/tiff"
	case HEIF:
		return "image/heic"
	}
	return "application/octet-stream"
}

// Report says what a strip did, by name only: entries are like
// "APP1 Exif", "COM", "IFD0 tag 0x8825 GPSInfo", "IFD1 (thumbnail)",
// "trailing data (4096 bytes)". Never values.
type Report struct {
	Format  Format
	Removed []string
	Kept    []string
}

// ErrUnsupported is returned for a format or variant strip cannot copy
// losslessly (e.g. a TIFF whose strips overlap); the caller makes no
// working copy.
var ErrUnsupported = errors.New("strip: not supported")

// FormatError reports malformed input: where it was found and what was
// wrong, never a metadata value.
type FormatError struct {
	Format Format
	Offset int64
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("strip %s: at offset %d: %s", e.Format, e.Offset, e.Reason)
}

// Strip writes to w a working copy of the image r (size bytes long) in
// format f, keeping what profile p asks for. It reads r with random access
// and writes w sequentially; on error, what was written to w must be
// discarded.
func Strip(ctx context.Context, r io.ReaderAt, size int64, f Format, p Profile, w io.Writer) (*Report, error) {
	if size < 0 {
		return nil, &FormatError{Format: f, Reason: "negative size"}
	}
	switch f {
	case JPEG:
		return stripJPEG(ctx, r, size, p, w)
	case PNG:
		return stripPNG(ctx, r, size, p, w)
	case WebP:
		return stripWebP(ctx, r, size, p, w)
	case TIFF:
		return stripTIFF(ctx, r, size, p, w)
	case HEIF:
		return stripHEIF(ctx, r, size, p, w)
	}
	return nil, fmt.Errorf("%w: format %q", ErrUnsupported, f)
}
