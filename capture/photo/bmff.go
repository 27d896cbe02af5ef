package photo

import (
	"encoding/binary"
	"errors"
	"fmt"
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
// This walker reads only those boxes, each bounded in size, and every count
// it finds is checked against the bytes that hold it.

const (
	maxBoxes     = 4096
	maxMetaBox   = 4 << 20 // iinf, iloc, iref read into memory
	maxItems     = 4096
	maxExtents   = 256 // per item
	maxItemBytes = maxMetaBlock
)

var errBox = errors.New("malformed box")

type box struct {
	typ            string
	off, hdr, size int64 // content is [off+hdr, off+size)
}

func (b box) body() int64 { return b.off + b.hdr }
func (b box) end() int64  { return b.off + b.size }

// boxAt reads the box header at off; the box must end by end.
func (st *state) boxAt(off, end int64) (box, error) {
	if off+8 > end {
		return box{}, fmt.Errorf("box header at offset %d: %w", off, errBox)
	}
	h, err := st.read(off, min(16, end-off))
	if err != nil {
		return box{}, err
	}
	b := box{typ: string(h[4:8]), off: off, hdr: 8}
	switch size := binary.BigEndian.Uint32(h); size {
	case 0: // to the end of the enclosing space
		b.size = end - off
	case 1:
		if len(h) < 16 {
			return box{}, fmt.Errorf("box at offset %d: large size cut short: %w", off, errBox)
		}
		large := binary.BigEndian.Uint64(h[8:])
		if large > uint64(end-off) {
			return box{}, fmt.Errorf("box at offset %d: size runs past its container: %w", off, errBox)
		}
		b.size, b.hdr = int64(large), 16
	default:
		b.size = int64(size)
	}
	if b.size < b.hdr || b.size > end-off {
		return box{}, fmt.Errorf("box at offset %d: size runs past its container: %w", off, errBox)
	}
	if b.typ == "uuid" {
		b.hdr += 16
		if b.hdr > b.size {
			return box{}, fmt.Errorf("box at offset %d: uuid cut short: %w", off, errBox)
		}
	}
	return b, nil
}

// children lists the boxes in [off, end).
func (st *state) children(off, end int64, where string) []box {
	var out []box
	for off < end {
		if len(out) >= maxBoxes {
			st.problem(where, off, "box limit reached; rest not read")
			break
		}
		b, err := st.boxAt(off, end)
		if err != nil {
			st.problem(where, off, "%v", err)
			break
		}
		out = append(out, b)
		off = b.end()
	}
	return out
}

type heifItem struct {
	id          uint32
	typ         string
	contentType string
	// from iloc
	located      bool
	construction uint16
	extents      [][2]uint64 // offset, length (absolute for method 0, within idat for 1)
}

func (st *state) heif() error {
	top := st.children(0, st.size, "heif")
	if len(top) == 0 || top[0].typ != "ftyp" {
		return fmt.Errorf("offset 0: no ftyp box")
	}
	for i, b := range top {
		if i%256 == 0 {
			if err := st.ctx.Err(); err != nil {
				return err
			}
		}
		id := ""
		if b.typ == "ftyp" && b.size >= b.hdr+4 {
			if h, err := st.read(b.body(), 4); err == nil {
				id = printable(string(h))
			}
		}
		st.part(printable(b.typ), b.off, b.size, id)
	}
	var meta *box
	for i := range top {
		if top[i].typ == "meta" {
			meta = &top[i]
			break
		}
	}
	if meta == nil {
		return nil // an image without item metadata (or a video): nothing more here
	}
	if meta.size < meta.hdr+4 {
		st.problem("heif meta", meta.off, "meta box cut short")
		return nil
	}
	var iinf, iloc, iref, pitm, idat *box
	kids := st.children(meta.body()+4, meta.end(), "heif meta") // meta is a full box
	for i := range kids {
		k := &kids[i]
		switch k.typ {
		case "iinf":
			iinf = k
		case "iloc":
			iloc = k
		case "iref":
			iref = k
		case "pitm":
			pitm = k
		case "idat":
			idat = k
		}
	}
	if iinf == nil || iloc == nil {
		return nil
	}
	items, err := st.parseIinf(*iinf)
	if err != nil {
		st.problem("heif iinf", iinf.off, "%v", err)
	}
	if err := st.parseIloc(*iloc, items); err != nil {
		st.problem("heif iloc", iloc.off, "%v", err)
	}
	primary := uint32(0)
	if pitm != nil {
		if b, err := st.read(pitm.body(), min(pitm.size-pitm.hdr, 8)); err == nil && len(b) >= 6 {
			if b[0] == 0 {
				primary = uint32(binary.BigEndian.Uint16(b[4:]))
			} else if len(b) >= 8 {
				primary = binary.BigEndian.Uint32(b[4:])
			}
		}
	}
	describes := map[uint32][]uint32{}
	if iref != nil {
		describes = st.parseIref(*iref)
	}
	// Prefer the Exif item that describes the primary image.
	var exifItems []*heifItem
	for i := range items {
		it := &items[i]
		switch {
		case it.typ == "Exif":
			exifItems = append(exifItems, it)
		case it.typ == "mime" && strings.Contains(strings.ToLower(it.contentType), "rdf+xml"):
			b, at, err := st.itemBytes(it, idat)
			if err != nil {
				st.problem("heif item", at, "XMP item %d: %v", it.id, err)
				continue
			}
			st.xmp("item", at, b)
		}
	}
	for i, it := range exifItems {
		for _, to := range describes[it.id] {
			if to == primary && i > 0 {
				exifItems[0], exifItems[i] = exifItems[i], exifItems[0]
			}
		}
	}
	for _, it := range exifItems {
		b, at, err := st.itemBytes(it, idat)
		if err != nil {
			st.problem("heif item", at, "Exif item %d: %v", it.id, err)
			continue
		}
		st.heifExif(it, b, at)
	}
	return nil
}

// heifExif decodes an Exif item: a 4-byte offset to the TIFF header, then
// the block (usually "Exif\0\0" first).
func (st *state) heifExif(it *heifItem, b []byte, at int64) {
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
				st.problem("heif item", at, "Exif item %d: TIFF header offset wrong; header found by search", it.id)
				break
			}
		}
	}
	if start < 0 {
		st.problem("heif item", at, "Exif item %d: no TIFF header", it.id)
		return
	}
	if len(it.extents) == 1 && it.construction == 0 {
		st.exifBlock("heif Exif", at+int64(start), int64(len(b)-start))
		return
	}
	st.exifBlockBytes("heif Exif", at, b[start:])
}

// fullBox reads a full box's body (version, flags, rest), bounded.
func (st *state) fullBox(b box) (version byte, body []byte, err error) {
	n := b.size - b.hdr
	if n < 4 {
		return 0, nil, fmt.Errorf("%s cut short: %w", b.typ, errBox)
	}
	if n > maxMetaBox {
		return 0, nil, fmt.Errorf("%s larger than %d bytes: %w", b.typ, maxMetaBox, errBox)
	}
	data, err := st.read(b.body(), n)
	if err != nil {
		return 0, nil, err
	}
	return data[0], data[4:], nil
}

func (st *state) parseIinf(b box) ([]heifItem, error) {
	v, body, err := st.fullBox(b)
	if err != nil {
		return nil, err
	}
	c := &bmff.Fields{B: body}
	var count uint64
	if v == 0 {
		count = c.N(2)
	} else {
		count = c.N(4)
	}
	if c.Bad || count > maxItems {
		return nil, fmt.Errorf("item count malformed or beyond %d: %w", maxItems, errBox)
	}
	base := b.body() + 4
	var items []heifItem
	for i := uint64(0); i < count && !c.Bad; i++ {
		ib, err := st.boxAt(base+int64(c.P), b.end())
		if err != nil {
			return items, err
		}
		if ib.typ != "infe" || ib.size-ib.hdr < 4 || ib.size > int64(len(body)-c.P) {
			return items, fmt.Errorf("item entry at offset %d: %w", ib.off, errBox)
		}
		eb := body[c.P+int(ib.hdr) : c.P+int(ib.size)]
		c.P += int(ib.size)
		ec := &bmff.Fields{B: eb[4:]}
		it := heifItem{}
		switch ev := eb[0]; {
		case ev >= 2:
			if ev == 2 {
				it.id = uint32(ec.N(2))
			} else {
				it.id = uint32(ec.N(4))
			}
			ec.N(2) // protection index
			it.typ = string(ec.Bytes(4))
			ec.Str() // name
			if it.typ == "mime" {
				it.contentType = ec.Str()
			}
		default:
			it.id = uint32(ec.N(2))
			ec.N(2)
			ec.Str()
			it.contentType = ec.Str()
		}
		if ec.Bad {
			return items, fmt.Errorf("item entry at offset %d cut short: %w", ib.off, errBox)
		}
		items = append(items, it)
	}
	return items, nil
}

// parseIloc reads item locations (versions 0, 1 and 2, with any offset,
// length, base offset and index sizes of 0, 4 or 8 bytes) into items.
func (st *state) parseIloc(b box, items []heifItem) error {
	v, body, err := st.fullBox(b)
	if err != nil {
		return err
	}
	if v > 2 {
		return fmt.Errorf("iloc version %d: %w", v, errBox)
	}
	c := &bmff.Fields{B: body}
	s1, s2 := c.N(1), c.N(1)
	offSize, lenSize, baseSize := int(s1>>4), int(s1&15), int(s2>>4)
	idxSize := 0
	if v >= 1 {
		idxSize = int(s2 & 15)
	}
	for _, s := range []int{offSize, lenSize, baseSize, idxSize} {
		if s != 0 && s != 4 && s != 8 {
			return fmt.Errorf("iloc field size %d: %w", s, errBox)
		}
	}
	var count uint64
	if v < 2 {
		count = c.N(2)
	} else {
		count = c.N(4)
	}
	if c.Bad || count > maxItems {
		return fmt.Errorf("iloc item count malformed or beyond %d: %w", maxItems, errBox)
	}
	byID := map[uint32]*heifItem{}
	for i := range items {
		byID[items[i].id] = &items[i]
	}
	for i := uint64(0); i < count; i++ {
		var id uint32
		if v < 2 {
			id = uint32(c.N(2))
		} else {
			id = uint32(c.N(4))
		}
		var method uint16
		if v >= 1 {
			method = uint16(c.N(2) & 15)
		}
		c.N(2) // data reference index
		baseOff := c.N(baseSize)
		extents := c.N(2)
		if c.Bad {
			return fmt.Errorf("iloc cut short: %w", errBox)
		}
		if extents > maxExtents {
			return fmt.Errorf("item %d: %d extents: %w", id, extents, errBox)
		}
		it := byID[id]
		var list [][2]uint64
		for j := uint64(0); j < extents; j++ {
			if idxSize > 0 {
				c.N(idxSize)
			}
			eo, el := c.N(offSize), c.N(lenSize)
			if baseOff > ^uint64(0)-eo {
				return fmt.Errorf("item %d: extent offset overflows: %w", id, errBox)
			}
			list = append(list, [2]uint64{baseOff + eo, el})
		}
		if c.Bad {
			return fmt.Errorf("iloc cut short: %w", errBox)
		}
		if it != nil && !it.located {
			it.located, it.construction, it.extents = true, method, list
		}
	}
	return nil
}

// parseIref returns, for each item, the items it describes ('cdsc').
func (st *state) parseIref(b box) map[uint32][]uint32 {
	out := map[uint32][]uint32{}
	v, body, err := st.fullBox(b)
	if err != nil {
		st.problem("heif iref", b.off, "%v", err)
		return out
	}
	idSize := 2
	if v >= 1 {
		idSize = 4
	}
	c := &bmff.Fields{B: body}
	for n := 0; c.P+8 <= len(body) && n < maxBoxes; n++ {
		size := int(c.N(4))
		typ := string(c.Bytes(4))
		if size < 8 || c.P-8+size > len(body) {
			st.problem("heif iref", b.off, "reference box malformed")
			return out
		}
		end := c.P - 8 + size
		from := uint32(c.N(idSize))
		count := int(c.N(2))
		if typ == "cdsc" {
			for k := 0; k < count && !c.Bad && c.P+idSize <= end; k++ {
				out[from] = append(out[from], uint32(c.N(idSize)))
			}
		}
		c.P = end
	}
	return out
}

// itemBytes assembles an item's extents, bounded; at is the file offset of
// its first byte.
func (st *state) itemBytes(it *heifItem, idat *box) ([]byte, int64, error) {
	if !it.located || len(it.extents) == 0 {
		return nil, 0, fmt.Errorf("no location: %w", errBox)
	}
	var lo, hi int64 // the space extents address
	switch it.construction {
	case 0:
		lo, hi = 0, st.size
	case 1:
		if idat == nil {
			return nil, 0, fmt.Errorf("located in a missing idat box: %w", errBox)
		}
		lo, hi = idat.body(), idat.end()
	default:
		return nil, 0, fmt.Errorf("construction method %d not supported: %w", it.construction, errBox)
	}
	var out []byte
	at := int64(-1)
	for _, e := range it.extents {
		if e[0] > uint64(hi-lo) {
			return nil, at, fmt.Errorf("extent outside the file: %w", errBox)
		}
		start := lo + int64(e[0])
		n := int64(e[1])
		if e[1] == 0 { // to the end of the space
			n = hi - start
		}
		if e[1] > uint64(hi-start) {
			return nil, start, fmt.Errorf("extent runs past the end of the file: %w", errBox)
		}
		if int64(len(out))+n > maxItemBytes {
			return nil, start, fmt.Errorf("item larger than %d bytes: %w", maxItemBytes, errBox)
		}
		b, err := st.read(start, n)
		if err != nil {
			return nil, start, err
		}
		if at < 0 {
			at = start
		}
		out = append(out, b...)
	}
	return out, at, nil
}
