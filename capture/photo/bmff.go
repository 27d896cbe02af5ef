package photo

import (
	"encoding/binary"
	"errors"
	"strings"

	"github.com/openexhibit/exhibit/capture/bmff"
	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// HEIF (ISO/IEC 23008-12) files are ISO-BMFF: boxes of size and type. The
// metadata sits in the file-level 'meta' box: 'iinf' lists items (an item
// of type 'Exif' holds EXIF, a 'mime' item of content type
// application/rdf+xml holds XMP), 'iloc' says where each item's bytes are
// (extents in the file, or in the 'idat' box), 'iref' links metadata items
// to the image they describe ('cdsc'), and 'pitm' names the primary image.
// The structure is read by bmff.Parse, the same parse the stripper uses, so
// that what is reported of a file and what is stripped from it agree: a
// meta box that parse refuses (an item located twice, say) is reported as
// a problem and its items are not read.

const maxItemBytes = maxMetaBlock

func (st *state) heif() error {
	f, err := bmff.Parse(st.ctx, st.r, st.size)
	if f == nil {
		return err // not even the top-level boxes: not a HEIF file
	}
	for _, b := range f.Top {
		id := ""
		if b.Type == "ftyp" {
			id = printable(string(f.Ftyp[:4]))
		}
		st.part(printable(b.Type), b.Off, b.Size, id)
	}
	if err != nil {
		if cerr := st.ctx.Err(); cerr != nil {
			return cerr
		}
		off := int64(0)
		var be *bmff.Error
		if errors.As(err, &be) {
			off = be.Offset
		}
		st.problem("heif meta", off, "%v; its items are not read", err)
		return nil
	}
	m := f.Meta
	if m == nil {
		return nil // an image without item metadata (or a video): nothing more here
	}
	describes := map[uint32][]uint32{}
	for _, r := range m.Refs {
		if r.Type == "cdsc" {
			describes[r.From] = append(describes[r.From], r.To...)
		}
	}
	// Prefer the Exif item that describes the primary image.
	var exifItems []*bmff.Item
	for _, it := range m.Order {
		switch {
		case it.Type == "Exif":
			exifItems = append(exifItems, it)
		case it.Type == "mime" && strings.Contains(strings.ToLower(it.MIME), "rdf+xml"):
			b, at, err := st.itemBytes(f, it)
			if err != nil {
				st.problem("heif item", at, "XMP item %d: %v", it.ID, err)
				continue
			}
			st.xmp("item", at, b)
		}
	}
	for i, it := range exifItems {
		for _, to := range describes[it.ID] {
			if to == m.Primary && i > 0 {
				exifItems[0], exifItems[i] = exifItems[i], exifItems[0]
			}
		}
	}
	for _, it := range exifItems {
		b, at, err := st.itemBytes(f, it)
		if err != nil {
			st.problem("heif item", at, "Exif item %d: %v", it.ID, err)
			continue
		}
		st.heifExif(it, b, at)
	}
	return nil
}

// itemBytes reads an item's bytes, bounded; at is the file offset of its
// first byte.
func (st *state) itemBytes(f *bmff.File, it *bmff.Item) ([]byte, int64, error) {
	spans, err := f.Locate(it)
	if err != nil {
		return nil, 0, err
	}
	if len(spans) == 0 {
		return nil, 0, errors.New("no extents")
	}
	b, err := f.ItemBytes(it, maxItemBytes)
	return b, spans[0].Off, err
}

// heifExif decodes an Exif item: a 4-byte offset to the TIFF header, then
// the block (usually "Exif\0\0" first).
func (st *state) heifExif(it *bmff.Item, b []byte, at int64) {
	start := -1
	if len(b) >= 4 {
		skip := int64(binary.BigEndian.Uint32(b))
		if skip <= int64(len(b))-4-8 {
			if _, err := tiff.ParseHeader(b[4+skip:]); err == nil {
				start = int(4 + skip)
			}
		}
	}
	if start < 0 { // writers that get the offset wrong: look for the header
		for i := 0; i+8 <= len(b) && i < 64; i++ {
			if _, err := tiff.ParseHeader(b[i:]); err == nil {
				start = i
				st.problem("heif item", at, "Exif item %d: TIFF header offset wrong; header found by search", it.ID)
				break
			}
		}
	}
	if start < 0 {
		st.problem("heif item", at, "Exif item %d: no TIFF header", it.ID)
		return
	}
	if len(it.Extents) == 1 && it.Method == 0 {
		st.exifBlock("heif Exif", at+int64(start), int64(len(b)-start))
		return
	}
	st.exifBlockBytes("heif Exif", at, b[start:])
}
