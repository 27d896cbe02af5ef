package bmff

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// The item structure of a HEIF file (ISO/IEC 23008-12), read once for both
// what is reported of a file and what is stripped from it: the top-level
// boxes, and in the file-level 'meta' box the handler ('hdlr'), the primary
// item ('pitm'), the items ('iinf'), where their bytes are ('iloc', in the
// file or in 'idat'), their references ('iref'), their properties ('iprp':
// 'ipco' and 'ipma') and data references ('dinf'). Every box is bounded,
// every count is checked against the bytes that hold it before anything is
// allocated, and a structure that says two things at once (a second meta,
// an item listed or located twice) is refused rather than read one way.

// Limits.
const (
	MaxTopBoxes  = 1024
	MaxMetaChild = 16 << 20 // one meta child box (iinf, iloc, iprp…) in memory
	MaxMetaRead  = 32 << 20 // all of them together
	MaxFtyp      = 4096
	MaxItems     = 4096
	MaxExtents   = 1 << 16 // all items together
	MaxProps     = 1 << 15 // ipma indexes are at most 15 bits
	MaxRefs      = 1 << 16
)

// Error says that the file is malformed at Offset.
type Error struct {
	Offset int64
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.Reason) }

func errAt(off int64, format string, a ...any) error {
	return &Error{Offset: off, Reason: fmt.Sprintf(format, a...)}
}

// UnsupportedError says that the file uses a structure this parser does
// not read (a box version, an item construction method).
type UnsupportedError struct{ Reason string }

func (e *UnsupportedError) Error() string { return e.Reason }

func unsupported(format string, a ...any) error {
	return &UnsupportedError{Reason: fmt.Sprintf(format, a...)}
}

// Box is a box's place in the file: its content is [Off+Hdr, Off+Size).
type Box struct {
	Type           string
	Off, Hdr, Size int64
}

// Body is the file offset of the box's content; End, of its end.
func (b Box) Body() int64 { return b.Off + b.Hdr }
func (b Box) End() int64  { return b.Off + b.Size }

// Extent is a run of an item's bytes: in the file (construction method 0)
// or within the idat box's content (method 1). N 0 means to the end.
type Extent struct{ Off, N int64 }

// Assoc associates an item with a property (1-based index into Props).
type Assoc struct {
	Index     int
	Essential bool
}

// Item is one entry of iinf with its location and properties.
type Item struct {
	ID        uint32
	Type      string // item type (version 2 and 3 entries), e.g. "hvc1", "Exif", "mime"
	Hidden    bool
	Protected bool
	MIME      string // content type of a mime item
	Named     bool   // the entry carries a name
	Order     int    // position in iinf
	Located   bool   // iloc names it
	Method    int    // iloc construction method
	DataRef   int    // iloc data reference index (0: this file)
	Extents   []Extent
	Assocs    []Assoc
	InIpma    bool
}

// Ref is one iref reference box: From refers to each of To by Type.
type Ref struct {
	Type string
	From uint32
	To   []uint32
}

// Prop is one property box of ipco: its type and content.
type Prop struct {
	Type string
	Body []byte
}

// File is the parsed structure.
type File struct {
	r    io.ReaderAt
	Size int64
	// Top are the top-level boxes in order; the first is ftyp.
	Top []Box
	// Ftyp is the ftyp box's content (major brand first).
	Ftyp []byte
	// Meta is the file-level meta box (nil: none).
	Meta *Meta
	read int64 // meta bytes read into memory
}

// Meta is what the file-level meta box holds.
type Meta struct {
	Box Box
	// Version is the meta box's version (only 0 is parsed further).
	Version byte
	// Boxes are its child boxes by type, for the types below; Other are
	// the rest, in order.
	Boxes map[string]Box
	Other []Box
	// Handler is hdlr's handler type ("pict" for images).
	Handler string
	Primary uint32
	Items   map[uint32]*Item
	Order   []*Item // as listed in iinf
	Refs    []Ref
	Props   []Prop
	// IprpOther are iprp's child boxes other than ipco and ipma.
	IprpOther []Box
	// DataRefs says, per data reference (1-based), whether it is this file.
	DataRefs []bool
	// Idat is the idat box, when there is one.
	Idat *Box
}

// metaChildren are the meta child boxes that are parsed; each may appear
// once ('ipro' is only noted).
var metaChildren = map[string]bool{"hdlr": true, "pitm": true, "iloc": true, "iinf": true, "iref": true, "iprp": true, "idat": true, "dinf": true}

// Parse reads the top-level boxes of r (size bytes) and the item structure
// of its meta box. A file whose first box is not ftyp, or with a second
// ftyp or meta box, is malformed. A file without a meta box parses, with
// Meta nil. When the top-level boxes parse and the meta box does not, Parse
// returns the error with a File that holds the top-level boxes (Top, Ftyp)
// and no Meta, so that a reader can still list them.
func Parse(ctx context.Context, r io.ReaderAt, size int64) (*File, error) {
	f := &File{r: r, Size: size}
	var meta *Box
	for off := int64(0); off < size; {
		n := len(f.Top)
		if n >= MaxTopBoxes {
			return nil, errAt(off, "more than %d top-level boxes", MaxTopBoxes)
		}
		if n%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		b, err := f.boxAt(off, size)
		if err != nil {
			return nil, err
		}
		off = b.End()
		f.Top = append(f.Top, b)
		switch {
		case n == 0 && b.Type != "ftyp":
			return nil, errAt(0, "no ftyp box first (found %s)", FourCC(b.Type))
		case n == 0:
			if b.Size-b.Hdr < 8 || b.Size-b.Hdr > MaxFtyp || (b.Size-b.Hdr)%4 != 0 {
				return nil, errAt(0, "ftyp box of %d bytes", b.Size)
			}
			if f.Ftyp, err = f.ReadAt(b.Body(), b.Size-b.Hdr); err != nil {
				return nil, err
			}
		case b.Type == "ftyp":
			return nil, errAt(b.Off, "second ftyp box")
		case b.Type == "meta" && meta != nil:
			return nil, errAt(b.Off, "second meta box")
		case b.Type == "meta":
			meta = &f.Top[n]
		}
	}
	if len(f.Top) == 0 {
		return nil, errAt(0, "no ftyp box")
	}
	if meta == nil {
		return f, nil
	}
	if err := f.parseMeta(ctx, *meta); err != nil {
		f.Meta = nil
		return f, err
	}
	return f, nil
}

// FourCC makes a box or item type printable for reports and errors.
func FourCC(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// ReadAt reads n bytes at off; reading past the end is malformed.
func (f *File) ReadAt(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > f.Size || n > f.Size-off {
		return nil, errAt(off, "%d bytes past the end of the file", n)
	}
	b := make([]byte, n)
	if m, err := f.r.ReadAt(b, off); m < len(b) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read at offset %d: %w", off, err)
	}
	return b, nil
}

// boxAt reads the box header at off; the box must end by end.
func (f *File) boxAt(off, end int64) (Box, error) {
	if end-off < 8 {
		return Box{}, errAt(off, "box header cut short")
	}
	h, err := f.ReadAt(off, min(16, end-off))
	if err != nil {
		return Box{}, err
	}
	return parseBoxHeader(h, off, end)
}

// parseBoxHeader reads a box header from h, which starts at off in a space
// ending at end.
func parseBoxHeader(h []byte, off, end int64) (Box, error) {
	if len(h) < 8 {
		return Box{}, errAt(off, "box header cut short")
	}
	b := Box{Type: string(h[4:8]), Off: off, Hdr: 8}
	switch size := binary.BigEndian.Uint32(h); size {
	case 0: // to the end of the enclosing space
		b.Size = end - off
	case 1:
		if len(h) < 16 {
			return Box{}, errAt(off, "box %s: large size cut short", FourCC(b.Type))
		}
		large := binary.BigEndian.Uint64(h[8:16])
		if large > uint64(end-off) {
			return Box{}, errAt(off, "box %s runs past its container", FourCC(b.Type))
		}
		b.Size, b.Hdr = int64(large), 16
	default:
		b.Size = int64(size)
	}
	if b.Size < b.Hdr || b.Size > end-off {
		return Box{}, errAt(off, "box %s size %d does not fit its container", FourCC(b.Type), b.Size)
	}
	return b, nil
}

// Boxes splits b (the content of a box at file offset base) into boxes,
// at most limit of them.
func Boxes(b []byte, base int64, limit int) ([]Box, error) {
	var out []Box
	for p := 0; p < len(b); {
		if len(out) >= limit {
			return nil, errAt(base+int64(p), "more than %d boxes", limit)
		}
		bx, err := parseBoxHeader(b[p:min(len(b), p+16)], base+int64(p), base+int64(len(b)))
		if err != nil {
			return nil, err
		}
		out = append(out, bx)
		p += int(bx.Size)
	}
	return out, nil
}

// Content returns box bx's content from b, the bytes of its container
// starting at file offset base.
func Content(b []byte, base int64, bx Box) []byte {
	return b[bx.Body()-base : bx.End()-base]
}

// readBox reads a whole meta child box's content, bounded.
func (f *File) readBox(b Box) ([]byte, error) {
	if b.Size-b.Hdr > MaxMetaChild {
		return nil, unsupported("box %s larger than %d bytes", FourCC(b.Type), MaxMetaChild)
	}
	if f.read += b.Size - b.Hdr; f.read > MaxMetaRead {
		return nil, unsupported("item metadata larger than %d bytes", MaxMetaRead)
	}
	return f.ReadAt(b.Body(), b.Size-b.Hdr)
}

// FullBody splits a full box's content into version, flags and the rest.
func FullBody(body []byte, b Box) (byte, uint32, []byte, error) {
	if len(body) < 4 {
		return 0, 0, nil, errAt(b.Off, "%s box cut short", FourCC(b.Type))
	}
	return body[0], binary.BigEndian.Uint32(body) & 0xffffff, body[4:], nil
}

func (f *File) parseMeta(ctx context.Context, mb Box) error {
	if mb.Size-mb.Hdr < 4 {
		return errAt(mb.Off, "meta box cut short")
	}
	vf, err := f.ReadAt(mb.Body(), 4)
	if err != nil {
		return err
	}
	m := &Meta{Box: mb, Version: vf[0], Boxes: map[string]Box{}, Items: map[uint32]*Item{}}
	f.Meta = m
	if m.Version != 0 {
		return unsupported("meta box version %d", m.Version)
	}
	for off, n := mb.Body()+4, 0; off < mb.End(); n++ {
		if n >= MaxTopBoxes {
			return errAt(off, "more than %d boxes in meta", MaxTopBoxes)
		}
		b, err := f.boxAt(off, mb.End())
		if err != nil {
			return err
		}
		off = b.End()
		switch {
		case metaChildren[b.Type]:
			if _, dup := m.Boxes[b.Type]; dup {
				return errAt(b.Off, "second %s box in meta", b.Type)
			}
			m.Boxes[b.Type] = b
		case b.Type == "ipro":
			m.Boxes[b.Type] = b // protection: only its presence matters
		default:
			m.Other = append(m.Other, b)
		}
	}
	if b, ok := m.Boxes["idat"]; ok {
		m.Idat = &b
	}
	steps := []struct {
		typ   string
		parse func([]byte, Box) error
	}{
		{"hdlr", m.parseHdlr},
		{"pitm", m.parsePitm},
		{"iinf", m.parseIinf},
		{"iloc", m.parseIloc},
		{"iref", m.parseIref},
		{"iprp", m.parseIprp},
		{"dinf", m.parseDinf},
	}
	for _, s := range steps {
		b, ok := m.Boxes[s.typ]
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		body, err := f.readBox(b)
		if err != nil {
			return err
		}
		if err := s.parse(body, b); err != nil {
			return err
		}
	}
	return nil
}

func (m *Meta) parseHdlr(body []byte, b Box) error {
	_, _, rest, err := FullBody(body, b)
	if err != nil {
		return err
	}
	if len(rest) < 8 {
		return errAt(b.Off, "hdlr box cut short")
	}
	m.Handler = string(rest[4:8])
	return nil
}

func (m *Meta) parsePitm(body []byte, b Box) error {
	v, _, rest, err := FullBody(body, b)
	if err != nil {
		return err
	}
	c := &Fields{B: rest}
	if v == 0 {
		m.Primary = uint32(c.N(2))
	} else {
		m.Primary = uint32(c.N(4))
	}
	if c.Bad {
		return errAt(b.Off, "pitm box cut short")
	}
	return nil
}

func (m *Meta) parseIinf(body []byte, b Box) error {
	v, _, rest, err := FullBody(body, b)
	if err != nil {
		return err
	}
	c := &Fields{B: rest}
	var count uint64
	if v == 0 {
		count = c.N(2)
	} else {
		count = c.N(4)
	}
	if c.Bad || count > MaxItems {
		return errAt(b.Off, "iinf item count malformed or beyond %d", MaxItems)
	}
	base := b.Body() + 4 + int64(c.P)
	boxes, err := Boxes(rest[c.P:], base, MaxItems)
	if err != nil {
		return err
	}
	if uint64(len(boxes)) < count {
		return errAt(b.Off, "iinf lists %d items but holds %d", count, len(boxes))
	}
	for i, ib := range boxes[:count] {
		if ib.Type != "infe" {
			return errAt(ib.Off, "item entry is a %s box", FourCC(ib.Type))
		}
		it, err := parseInfe(Content(rest[c.P:], base, ib), ib)
		if err != nil {
			return err
		}
		it.Order = i
		if _, dup := m.Items[it.ID]; dup {
			return errAt(ib.Off, "item %d listed twice", it.ID)
		}
		m.Items[it.ID] = it
		m.Order = append(m.Order, it)
	}
	return nil
}

// parseInfe reads one item info entry (versions 0 to 3).
func parseInfe(body []byte, ib Box) (*Item, error) {
	ev, flags, eb, err := FullBody(body, ib)
	if err != nil {
		return nil, err
	}
	ec := &Fields{B: eb}
	it := &Item{Hidden: flags&1 != 0}
	var prot uint64
	switch ev {
	case 0, 1:
		it.ID = uint32(ec.N(2))
		prot = ec.N(2)
		it.Named = ec.Str() != ""
		it.MIME = ec.Str() // the content type; such an item has no item type
	case 2, 3:
		if ev == 2 {
			it.ID = uint32(ec.N(2))
		} else {
			it.ID = uint32(ec.N(4))
		}
		prot = ec.N(2)
		it.Type = string(ec.Bytes(4))
		if ec.Left() > 0 {
			it.Named = ec.Str() != ""
		}
		if it.Type == "mime" && ec.Left() > 0 {
			it.MIME = ec.Str()
		}
	default:
		return nil, unsupported("item entry version %d", ev)
	}
	if ec.Bad {
		return nil, errAt(ib.Off, "item entry cut short")
	}
	it.Protected = prot != 0
	return it, nil
}

// parseIloc reads item locations (versions 0, 1 and 2, with offset,
// length, base offset and index sizes of 0, 4 or 8 bytes).
func (m *Meta) parseIloc(body []byte, b Box) error {
	v, _, rest, err := FullBody(body, b)
	if err != nil {
		return err
	}
	if v > 2 {
		return unsupported("iloc version %d", v)
	}
	c := &Fields{B: rest}
	s1, s2 := c.N(1), c.N(1)
	offSize, lenSize, baseSize := int(s1>>4), int(s1&15), int(s2>>4)
	idxSize := 0
	if v >= 1 {
		idxSize = int(s2 & 15)
	}
	for _, s := range []int{offSize, lenSize, baseSize, idxSize} {
		if s != 0 && s != 4 && s != 8 {
			return errAt(b.Off, "iloc field size %d", s)
		}
	}
	var count uint64
	if v < 2 {
		count = c.N(2)
	} else {
		count = c.N(4)
	}
	if c.Bad || count > MaxItems {
		return errAt(b.Off, "iloc item count malformed or beyond %d", MaxItems)
	}
	total := 0
	seen := map[uint32]bool{}
	for i := uint64(0); i < count; i++ {
		var id uint32
		if v < 2 {
			id = uint32(c.N(2))
		} else {
			id = uint32(c.N(4))
		}
		method := 0
		if v >= 1 {
			method = int(c.N(2) & 15)
		}
		dref := int(c.N(2))
		base := c.N(baseSize)
		n := int(c.N(2))
		if c.Bad {
			return errAt(b.Off, "iloc cut short")
		}
		if seen[id] {
			return errAt(b.Off, "iloc locates item %d twice", id)
		}
		seen[id] = true
		if total += n; total > MaxExtents {
			return errAt(b.Off, "more than %d extents", MaxExtents)
		}
		// Each extent takes idx+off+len bytes; a count the box cannot hold
		// is refused before anything is allocated.
		if per := idxSize + offSize + lenSize; per > 0 && n > c.Left()/per {
			return errAt(b.Off, "iloc cut short")
		}
		it := m.Items[id]
		var list []Extent
		if it != nil {
			list = make([]Extent, 0, n)
		}
		for j := 0; j < n; j++ {
			c.N(idxSize)
			eo, el := c.N(offSize), c.N(lenSize)
			if c.Bad {
				return errAt(b.Off, "iloc cut short")
			}
			if eo > 1<<61 || base > 1<<61 || el > 1<<61 {
				return errAt(b.Off, "item %d: extent offset or length out of range", id)
			}
			list = append(list, Extent{Off: int64(base + eo), N: int64(el)})
		}
		if it != nil {
			it.Located, it.Method, it.DataRef, it.Extents = true, method, dref, list
		}
	}
	return nil
}

func (m *Meta) parseIref(body []byte, b Box) error {
	v, _, rest, err := FullBody(body, b)
	if err != nil {
		return err
	}
	if v > 1 {
		return unsupported("iref version %d", v)
	}
	idSize := 2
	if v == 1 {
		idSize = 4
	}
	base := b.Body() + 4
	boxes, err := Boxes(rest, base, MaxRefs)
	if err != nil {
		return err
	}
	for _, rb := range boxes {
		c := &Fields{B: Content(rest, base, rb)}
		ref := Ref{Type: rb.Type, From: uint32(c.N(idSize))}
		n := int(c.N(2))
		if c.Bad || n > c.Left()/idSize {
			return errAt(rb.Off, "reference box %s cut short", FourCC(rb.Type))
		}
		ref.To = make([]uint32, n)
		for k := range ref.To {
			ref.To[k] = uint32(c.N(idSize))
		}
		m.Refs = append(m.Refs, ref)
	}
	return nil
}

func (m *Meta) parseIprp(body []byte, b Box) error {
	boxes, err := Boxes(body, b.Body(), MaxTopBoxes)
	if err != nil {
		return err
	}
	var ipco *Box
	var ipmas []Box
	for i, k := range boxes {
		switch k.Type {
		case "ipco":
			if ipco != nil {
				return errAt(k.Off, "second ipco box")
			}
			ipco = &boxes[i]
		case "ipma":
			ipmas = append(ipmas, k)
		default:
			m.IprpOther = append(m.IprpOther, k)
		}
	}
	if ipco == nil {
		return errAt(b.Off, "iprp has no ipco box")
	}
	pb := Content(body, b.Body(), *ipco)
	props, err := Boxes(pb, ipco.Body(), MaxProps)
	if err != nil {
		return err
	}
	for _, pr := range props {
		m.Props = append(m.Props, Prop{Type: pr.Type, Body: Content(pb, ipco.Body(), pr)})
	}
	for _, ma := range ipmas {
		if err := m.parseIpma(Content(body, b.Body(), ma), ma); err != nil {
			return err
		}
	}
	return nil
}

func (m *Meta) parseIpma(body []byte, b Box) error {
	v, flags, rest, err := FullBody(body, b)
	if err != nil {
		return err
	}
	idSize, idxSize := 2, 1
	if v >= 1 {
		idSize = 4
	}
	if flags&1 != 0 {
		idxSize = 2
	}
	c := &Fields{B: rest}
	count := c.N(4)
	if c.Bad || count > uint64(c.Left()/(idSize+1)) {
		return errAt(b.Off, "ipma entry count malformed")
	}
	for i := uint64(0); i < count; i++ {
		id := uint32(c.N(idSize))
		n := int(c.N(1))
		if c.Bad || n > c.Left()/idxSize {
			return errAt(b.Off, "ipma cut short")
		}
		it := m.Items[id]
		if it != nil {
			if it.InIpma {
				return errAt(b.Off, "item %d has two property associations", id)
			}
			it.InIpma = true
		}
		for k := 0; k < n; k++ {
			x := c.N(idxSize)
			a := Assoc{}
			if idxSize == 1 {
				a.Essential, a.Index = x&0x80 != 0, int(x&0x7f)
			} else {
				a.Essential, a.Index = x&0x8000 != 0, int(x&0x7fff)
			}
			if a.Index > len(m.Props) {
				return errAt(b.Off, "item %d uses property %d of %d", id, a.Index, len(m.Props))
			}
			if it != nil && a.Index > 0 {
				it.Assocs = append(it.Assocs, a)
			}
		}
	}
	return nil
}

// parseDinf records which data references are this file.
func (m *Meta) parseDinf(body []byte, b Box) error {
	boxes, err := Boxes(body, b.Body(), MaxTopBoxes)
	if err != nil {
		return err
	}
	for _, k := range boxes {
		if k.Type != "dref" {
			continue
		}
		_, _, rest, err := FullBody(Content(body, b.Body(), k), k)
		if err != nil {
			return err
		}
		if len(rest) < 4 {
			return errAt(k.Off, "dref cut short")
		}
		entries, err := Boxes(rest[4:], k.Body()+8, MaxTopBoxes)
		if err != nil {
			return err
		}
		for _, e := range entries {
			eb := Content(rest[4:], k.Body()+8, e)
			self := len(eb) >= 4 && (e.Type == "url " || e.Type == "urn ") && eb[3]&1 != 0
			m.DataRefs = append(m.DataRefs, self)
		}
	}
	return nil
}

// Span is a range [Off, End) of the file.
type Span struct{ Off, End int64 }

// Locate resolves an item's extents to file ranges: construction method 0
// (in the file) or 1 (in idat), in this file (data reference 0 or one that
// names this file); an extent of length 0 runs to the end of its space. An
// item built from other items (method 2) or stored in another file is
// unsupported.
func (f *File) Locate(it *Item) ([]Span, error) {
	m := f.Meta
	switch {
	case !it.Located:
		return nil, errAt(0, "item %d has no location", it.ID)
	case it.Method == 2:
		return nil, unsupported("item %d is built from other items (iloc construction method 2)", it.ID)
	case it.Method != 0 && it.Method != 1:
		return nil, errAt(0, "item %d: iloc construction method %d", it.ID, it.Method)
	case it.DataRef != 0 && (it.DataRef > len(m.DataRefs) || !m.DataRefs[it.DataRef-1]):
		return nil, unsupported("item %d is stored outside this file", it.ID)
	}
	lo, hi := int64(0), f.Size
	if it.Method == 1 {
		if m.Idat == nil {
			return nil, errAt(0, "item %d is in a missing idat box", it.ID)
		}
		lo, hi = m.Idat.Body(), m.Idat.End()
	}
	out := make([]Span, 0, len(it.Extents))
	for _, e := range it.Extents {
		if e.Off > hi-lo {
			return nil, errAt(e.Off, "item %d: extent starts past the end of its data", it.ID)
		}
		n := e.N
		if n == 0 {
			n = hi - lo - e.Off
		}
		if n > hi-lo-e.Off {
			return nil, errAt(e.Off, "item %d: extent of %d bytes runs past the end of its data", it.ID, n)
		}
		out = append(out, Span{Off: lo + e.Off, End: lo + e.Off + n})
	}
	return out, nil
}

// ItemBytes reads a located item's bytes, at most limit of them.
func (f *File) ItemBytes(it *Item, limit int64) ([]byte, error) {
	spans, err := f.Locate(it)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, s := range spans {
		total += s.End - s.Off
	}
	if total > limit {
		return nil, unsupported("item %d larger than %d bytes", it.ID, limit)
	}
	out := make([]byte, 0, total)
	for _, s := range spans {
		b, err := f.ReadAt(s.Off, s.End-s.Off)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}
