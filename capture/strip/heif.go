package strip

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/openexhibit/exhibit/capture/bmff"
)

// HEIF (ISO/IEC 23008-12) still images are ISO-BMFF boxes: 'ftyp', a 'meta'
// box describing items, and 'mdat' holding their coded bytes. stripHEIF
// parses the item structure of 'meta' and writes a new file of three
// boxes:
//
//   - 'ftyp', copied;
//   - a rebuilt 'meta' listing only the primary image and what rendering it
//     needs: the inputs of derived images ('dimg': grid tiles, overlay
//     layers, identity transforms), 'base' images, and alpha planes ('auxl'
//     items whose auxC names alpha); a new Exif item (the profile's kept
//     tags) replaces the original ones;
//   - one 'mdat' with the kept items' bytes, streamed from the input.
//
// Dropped: thumbnails ('thmb'), Exif and XMP/mime items, depth maps, HDR
// gain maps (an Apple gain map is applied using headroom values kept in
// the maker note and the gain map's own XMP, both removed, and an ISO
// 21496-1 'tmap' item is an alternative rendering of the primary, not the
// primary itself: either kept alone would be misapplied), other auxiliary
// images, items nothing reachable uses, entity groups, unknown boxes,
// item names, and properties that describe rather than decode: ICC colour
// profiles unless the profile keeps ColorProfile, user descriptions
// ('udes'), creation and modification times, and unknown ones. Known
// transformative properties (irot, imir, clap) are always kept: HEIF makes
// them part of the image definition, so dropping them would change what
// every viewer shows; the Orientation group governs only the EXIF tag.
//
// Refused (ErrUnsupported): image sequences ('moov'), protected items,
// items stored by reference to other items (iloc construction method 2) or
// in other files, JPEG and JPEG 2000 coded items (their codestreams hold
// their own metadata segments), and unknown essential properties on a kept
// item, since dropping one would make a reader show what the original
// forbids.
//
// Not removed: whatever the encoder wrote inside the coded streams of kept
// items and their decoder configurations (such as an HEVC SEI message
// naming the encoder), since the coded bytes are kept identical.

const (
	heifMaxTopBoxes  = 1024
	heifMaxMetaChild = 16 << 20 // one meta child box (iinf, iloc, iprp...) in memory
	heifMaxMetaRead  = 32 << 20 // all of them together
	heifMaxFtyp      = 4096
	heifMaxItems     = 4096
	heifMaxExtents   = 1 << 16 // all items together
	heifMaxProps     = 1 << 15 // ipma indexes are at most 15 bits
	heifMaxRefs      = 1 << 16
	heifMaxIdat      = 4 << 20 // kept idat bytes, held in memory
	heifMaxExif      = 4 << 20
	heifMaxDepth     = 64 // derivation chain
)

// Item types of coded or derived images that can be kept. JPEG and JPEG
// 2000 coded items are not among them: their codestreams carry their own
// APPn and comment segments (EXIF and GPS included), which cannot be
// removed without changing the coded bytes.
var heifImageTypes = []string{"hvc1", "av01", "avc1", "vvc1", "unci", "grid", "iovl", "iden"}

// Properties needed to decode or display an image, kept whenever a kept
// item uses them. colr and auxC are decided by their content.
var heifKeptProps = []string{
	"hvcC", "av1C", "avcC", "vvcC", "uncC", "cmpd",
	"ispe", "pixi", "irot", "imir", "clap", "pasp", "rloc", "lsel",
	"a1op", "a1lx", "clli", "mdcv", "cclv", "amve",
}

var heifAlphaURNs = []string{
	"urn:mpeg:hevc:2015:auxid:1",
	"urn:mpeg:avc:2015:auxid:1",
	"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha",
}

var heifDepthURNs = []string{
	"urn:mpeg:hevc:2015:auxid:2",
	"urn:mpeg:avc:2015:auxid:2",
	"urn:mpeg:mpegB:cicp:systems:auxiliary:depth",
}

type heifBox struct {
	typ            string
	off, hdr, size int64 // content is [off+hdr, off+size)
}

func (b heifBox) body() int64 { return b.off + b.hdr }
func (b heifBox) end() int64  { return b.off + b.size }

type heifExtent struct{ off, n int64 } // absolute (method 0) or within idat (1)

type heifAssoc struct {
	index     int // 1-based into ipco
	essential bool
}

type heifItem struct {
	id        uint32
	typ       string
	hidden    bool
	protected bool
	mime      string // content type of a mime item
	named     bool
	order     int // position in iinf
	located   bool
	method    int
	dref      int
	extents   []heifExtent
	assocs    []heifAssoc
	inIpma    bool
}

type heifRef struct {
	typ  string
	from uint32
	to   []uint32
}

type heifProp struct {
	typ  string
	body []byte // after the box header
}

type heifFile struct {
	ctx     context.Context
	r       io.ReaderAt
	size    int64
	ftyp    []byte
	primary uint32
	items   map[uint32]*heifItem
	order   []*heifItem
	refs    []heifRef
	props   []heifProp
	idat    *heifBox
	drefs   []bool // self-contained data references, 1-based
	metaRd  int64  // bytes of meta boxes read into memory
	rep     *tally
	// dropped are file ranges never copied as they are: top-level boxes
	// other than ftyp and mdat, and meta outside idat. A kept extent must
	// not reach into one.
	dropped []heifSpan
}

// heifSpan is a range [off, end) of the file: an item's extent or a
// dropped box.
type heifSpan struct {
	off, end int64
	id       uint32 // the item, when item is set
	item     bool
	kept     bool
}

func heifErr(off int64, format string, a ...any) error {
	return &FormatError{Format: HEIF, Offset: off, Reason: fmt.Sprintf(format, a...)}
}

func heifUnsupported(format string, a ...any) error {
	return fmt.Errorf("strip heif: %s: %w", fmt.Sprintf(format, a...), ErrUnsupported)
}

// fourCC makes a box or item type printable for reports and errors.
func fourCC(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

func (f *heifFile) read(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > f.size || n > f.size-off {
		return nil, heifErr(off, "%d bytes past the end of the file", n)
	}
	b := make([]byte, n)
	if m, err := f.r.ReadAt(b, off); m < len(b) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("strip heif: read at offset %d: %w", off, err)
	}
	return b, nil
}

// boxAt reads the box header at off; the box must end by end.
func (f *heifFile) boxAt(off, end int64) (heifBox, error) {
	if end-off < 8 {
		return heifBox{}, heifErr(off, "box header cut short")
	}
	h, err := f.read(off, min(16, end-off))
	if err != nil {
		return heifBox{}, err
	}
	return parseBoxHeader(h, off, end)
}

// parseBoxHeader reads a box header from h, which starts at off in a space
// ending at end.
func parseBoxHeader(h []byte, off, end int64) (heifBox, error) {
	if len(h) < 8 {
		return heifBox{}, heifErr(off, "box header cut short")
	}
	b := heifBox{typ: string(h[4:8]), off: off, hdr: 8}
	switch size := binary.BigEndian.Uint32(h); size {
	case 0:
		b.size = end - off
	case 1:
		if len(h) < 16 {
			return heifBox{}, heifErr(off, "box %s: large size cut short", fourCC(b.typ))
		}
		large := binary.BigEndian.Uint64(h[8:16])
		if large > uint64(end-off) {
			return heifBox{}, heifErr(off, "box %s runs past its container", fourCC(b.typ))
		}
		b.size, b.hdr = int64(large), 16
	default:
		b.size = int64(size)
	}
	if b.size < b.hdr || b.size > end-off {
		return heifBox{}, heifErr(off, "box %s size %d does not fit its container", fourCC(b.typ), b.size)
	}
	return b, nil
}

// memBoxes splits b (the content of a box at file offset base) into boxes.
func memBoxes(b []byte, base int64, limit int) ([]heifBox, error) {
	var out []heifBox
	for p := 0; p < len(b); {
		if len(out) >= limit {
			return nil, heifErr(base+int64(p), "more than %d boxes", limit)
		}
		bx, err := parseBoxHeader(b[p:min(len(b), p+16)], base+int64(p), base+int64(len(b)))
		if err != nil {
			return nil, err
		}
		out = append(out, bx)
		p += int(bx.size)
	}
	return out, nil
}

// content returns box bx's content from b, the bytes of its container
// starting at file offset base.
func content(b []byte, base int64, bx heifBox) []byte {
	return b[bx.body()-base : bx.end()-base]
}

// readBox reads a whole (bounded) box's content.
func (f *heifFile) readBox(b heifBox) ([]byte, error) {
	if b.size-b.hdr > heifMaxMetaChild {
		return nil, heifUnsupported("box %s larger than %d bytes", fourCC(b.typ), heifMaxMetaChild)
	}
	if f.metaRd += b.size - b.hdr; f.metaRd > heifMaxMetaRead {
		return nil, heifUnsupported("item metadata larger than %d bytes", heifMaxMetaRead)
	}
	return f.read(b.body(), b.size-b.hdr)
}

func stripHEIF(ctx context.Context, r io.ReaderAt, size int64, p Profile, w io.Writer) (*Report, error) {
	f := &heifFile{ctx: ctx, r: r, size: size, items: map[uint32]*heifItem{}, rep: &tally{unit: "boxes"}}
	if err := f.parse(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	plan, err := f.plan(p)
	if err != nil {
		return nil, err
	}
	if err := f.write(plan, w); err != nil {
		return nil, err
	}
	return f.rep.report(HEIF), nil
}

func (f *heifFile) removed(format string, a ...any) {
	f.rep.remove(fmt.Sprintf(format, a...))
}

func (f *heifFile) kept(format string, a ...any) {
	f.rep.keep(fmt.Sprintf(format, a...))
}

// parse reads the top-level boxes and the item structure of meta.
func (f *heifFile) parse() error {
	var meta *heifBox
	n := 0
	for off := int64(0); off < f.size; n++ {
		if n >= heifMaxTopBoxes {
			return heifErr(off, "more than %d top-level boxes", heifMaxTopBoxes)
		}
		if n%64 == 0 {
			if err := f.ctx.Err(); err != nil {
				return err
			}
		}
		b, err := f.boxAt(off, f.size)
		if err != nil {
			return err
		}
		off = b.end()
		if n == 0 {
			if b.typ != "ftyp" {
				return heifErr(0, "no ftyp box first (found %s)", fourCC(b.typ))
			}
			if b.size-b.hdr < 8 || b.size-b.hdr > heifMaxFtyp || (b.size-b.hdr)%4 != 0 {
				return heifErr(0, "ftyp box of %d bytes", b.size)
			}
			body, err := f.read(b.body(), b.size-b.hdr)
			if err != nil {
				return err
			}
			f.ftyp = appendBox(nil, "ftyp", body)
			continue
		}
		switch b.typ {
		case "ftyp":
			return heifErr(b.off, "second ftyp box")
		case "meta":
			if meta != nil {
				return heifErr(b.off, "second meta box")
			}
			meta = &b
		case "moov":
			return heifUnsupported("image sequences (moov box) cannot be stripped; keep the original")
		case "mdat":
			// Rewritten: only the kept items' bytes are copied.
		default:
			f.removed("box %s", fourCC(b.typ))
			f.dropped = append(f.dropped, heifSpan{off: b.off, end: b.end()})
		}
	}
	if len(f.ftyp) == 0 {
		return heifErr(0, "no ftyp box")
	}
	if meta == nil {
		return heifUnsupported("no meta box: not a HEIF still image")
	}
	return f.parseMeta(*meta)
}

func (f *heifFile) parseMeta(meta heifBox) error {
	if meta.size-meta.hdr < 4 {
		return heifErr(meta.off, "meta box cut short")
	}
	vf, err := f.read(meta.body(), 4)
	if err != nil {
		return err
	}
	if vf[0] != 0 {
		return heifUnsupported("meta box version %d", vf[0])
	}
	found := map[string]heifBox{}
	n := 0
	for off := meta.body() + 4; off < meta.end(); n++ {
		if n >= heifMaxTopBoxes {
			return heifErr(off, "more than %d boxes in meta", heifMaxTopBoxes)
		}
		b, err := f.boxAt(off, meta.end())
		if err != nil {
			return err
		}
		off = b.end()
		switch b.typ {
		case "hdlr", "pitm", "iloc", "iinf", "iref", "iprp", "idat", "dinf":
			if _, dup := found[b.typ]; dup {
				return heifErr(b.off, "second %s box in meta", b.typ)
			}
			found[b.typ] = b
		case "ipro":
			found[b.typ] = b // only matters if a kept item is protected
		default:
			f.removed("box %s", fourCC(b.typ))
		}
	}
	for _, need := range []string{"hdlr", "pitm", "iloc", "iinf", "iprp"} {
		if _, ok := found[need]; !ok {
			return heifErr(meta.off, "meta has no %s box", need)
		}
	}
	if b, ok := found["idat"]; ok {
		f.idat = &b
		f.dropped = append(f.dropped, heifSpan{off: meta.off, end: b.body()}, heifSpan{off: b.end(), end: meta.end()})
	} else {
		f.dropped = append(f.dropped, heifSpan{off: meta.off, end: meta.end()})
	}
	if _, ok := found["ipro"]; ok {
		f.removed("box ipro")
	}
	steps := []struct {
		typ   string
		parse func([]byte, heifBox) error
	}{
		{"hdlr", f.parseHdlr},
		{"pitm", f.parsePitm},
		{"iinf", f.parseIinf},
		{"iloc", f.parseIloc},
		{"iref", f.parseIref},
		{"iprp", f.parseIprp},
		{"dinf", f.parseDinf},
	}
	for _, s := range steps {
		b, ok := found[s.typ]
		if !ok {
			continue
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

// fullBody splits a full box's content into version, flags and the rest.
func fullBody(body []byte, b heifBox) (byte, uint32, []byte, error) {
	if len(body) < 4 {
		return 0, 0, nil, heifErr(b.off, "%s box cut short", fourCC(b.typ))
	}
	return body[0], binary.BigEndian.Uint32(body) & 0xffffff, body[4:], nil
}

func (f *heifFile) parseHdlr(body []byte, b heifBox) error {
	_, _, rest, err := fullBody(body, b)
	if err != nil {
		return err
	}
	if len(rest) < 8 {
		return heifErr(b.off, "hdlr box cut short")
	}
	if h := string(rest[4:8]); h != "pict" {
		return heifUnsupported("meta handler %q is not pict", fourCC(h))
	}
	return nil
}

func (f *heifFile) parsePitm(body []byte, b heifBox) error {
	v, _, rest, err := fullBody(body, b)
	if err != nil {
		return err
	}
	c := &bmff.Fields{B: rest}
	if v == 0 {
		f.primary = uint32(c.N(2))
	} else {
		f.primary = uint32(c.N(4))
	}
	if c.Bad {
		return heifErr(b.off, "pitm box cut short")
	}
	return nil
}

func (f *heifFile) parseIinf(body []byte, b heifBox) error {
	v, _, rest, err := fullBody(body, b)
	if err != nil {
		return err
	}
	c := &bmff.Fields{B: rest}
	var count uint64
	if v == 0 {
		count = c.N(2)
	} else {
		count = c.N(4)
	}
	if c.Bad || count > heifMaxItems {
		return heifErr(b.off, "iinf item count malformed or beyond %d", heifMaxItems)
	}
	base := b.body() + 4 + int64(c.P)
	boxes, err := memBoxes(rest[c.P:], base, heifMaxItems)
	if err != nil {
		return err
	}
	if uint64(len(boxes)) < count {
		return heifErr(b.off, "iinf lists %d items but holds %d", count, len(boxes))
	}
	for i, ib := range boxes[:count] {
		if ib.typ != "infe" {
			return heifErr(ib.off, "item entry is a %s box", fourCC(ib.typ))
		}
		ev, flags, eb, err := fullBody(content(rest[c.P:], base, ib), ib)
		if err != nil {
			return err
		}
		ec := &bmff.Fields{B: eb}
		it := &heifItem{order: i, hidden: flags&1 != 0}
		var prot uint64
		switch ev {
		case 0, 1:
			it.id = uint32(ec.N(2))
			prot = ec.N(2)
			ec.Str() // name
			ec.Str() // content type: an item without a type is never an image
		case 2, 3:
			if ev == 2 {
				it.id = uint32(ec.N(2))
			} else {
				it.id = uint32(ec.N(4))
			}
			prot = ec.N(2)
			it.typ = string(ec.Bytes(4))
			if ec.Left() > 0 {
				it.named = ec.Str() != "" // never copied
			}
			if it.typ == "mime" && ec.Left() > 0 {
				it.mime = ec.Str()
			}
		default:
			return heifUnsupported("item entry version %d", ev)
		}
		if ec.Bad {
			return heifErr(ib.off, "item entry cut short")
		}
		it.protected = prot != 0
		if _, dup := f.items[it.id]; dup {
			return heifErr(ib.off, "item %d listed twice", it.id)
		}
		f.items[it.id] = it
		f.order = append(f.order, it)
	}
	return nil
}

func (f *heifFile) parseIloc(body []byte, b heifBox) error {
	v, _, rest, err := fullBody(body, b)
	if err != nil {
		return err
	}
	if v > 2 {
		return heifUnsupported("iloc version %d", v)
	}
	c := &bmff.Fields{B: rest}
	s1, s2 := c.N(1), c.N(1)
	offSize, lenSize, baseSize := int(s1>>4), int(s1&15), int(s2>>4)
	idxSize := 0
	if v >= 1 {
		idxSize = int(s2 & 15)
	}
	for _, s := range []int{offSize, lenSize, baseSize, idxSize} {
		if s != 0 && s != 4 && s != 8 {
			return heifErr(b.off, "iloc field size %d", s)
		}
	}
	var count uint64
	if v < 2 {
		count = c.N(2)
	} else {
		count = c.N(4)
	}
	if c.Bad || count > heifMaxItems {
		return heifErr(b.off, "iloc item count malformed or beyond %d", heifMaxItems)
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
			return heifErr(b.off, "iloc cut short")
		}
		if seen[id] {
			return heifErr(b.off, "iloc locates item %d twice", id)
		}
		seen[id] = true
		total += n
		if total > heifMaxExtents {
			return heifErr(b.off, "more than %d extents", heifMaxExtents)
		}
		// Each extent takes idx+off+len bytes; a count the box cannot hold
		// is refused before anything is allocated.
		if per := idxSize + offSize + lenSize; per > 0 && n > c.Left()/per {
			return heifErr(b.off, "iloc cut short")
		}
		it := f.items[id]
		var list []heifExtent
		if it != nil {
			list = make([]heifExtent, 0, n)
		}
		for j := 0; j < n; j++ {
			c.N(idxSize)
			eo, el := c.N(offSize), c.N(lenSize)
			if c.Bad {
				return heifErr(b.off, "iloc cut short")
			}
			if eo > 1<<61 || base > 1<<61 || el > 1<<61 {
				return heifErr(b.off, "item %d: extent offset or length out of range", id)
			}
			list = append(list, heifExtent{off: int64(base + eo), n: int64(el)})
		}
		if it != nil {
			it.located, it.method, it.dref, it.extents = true, method, dref, list
		}
	}
	return nil
}

func (f *heifFile) parseIref(body []byte, b heifBox) error {
	v, _, rest, err := fullBody(body, b)
	if err != nil {
		return err
	}
	if v > 1 {
		return heifUnsupported("iref version %d", v)
	}
	idSize := 2
	if v == 1 {
		idSize = 4
	}
	base := b.body() + 4
	boxes, err := memBoxes(rest, base, heifMaxRefs)
	if err != nil {
		return err
	}
	for _, rb := range boxes {
		c := &bmff.Fields{B: content(rest, base, rb)}
		ref := heifRef{typ: rb.typ, from: uint32(c.N(idSize))}
		n := int(c.N(2))
		if c.Bad || n > c.Left()/idSize {
			return heifErr(rb.off, "reference box %s cut short", fourCC(rb.typ))
		}
		ref.to = make([]uint32, n)
		for k := range ref.to {
			ref.to[k] = uint32(c.N(idSize))
		}
		f.refs = append(f.refs, ref)
	}
	return nil
}

func (f *heifFile) parseIprp(body []byte, b heifBox) error {
	boxes, err := memBoxes(body, b.body(), heifMaxTopBoxes)
	if err != nil {
		return err
	}
	var ipco *heifBox
	var ipmas []heifBox
	for i, k := range boxes {
		switch k.typ {
		case "ipco":
			if ipco != nil {
				return heifErr(k.off, "second ipco box")
			}
			ipco = &boxes[i]
		case "ipma":
			ipmas = append(ipmas, k)
		default:
			f.removed("box %s", fourCC(k.typ))
		}
	}
	if ipco == nil {
		return heifErr(b.off, "iprp has no ipco box")
	}
	pb := content(body, b.body(), *ipco)
	props, err := memBoxes(pb, ipco.body(), heifMaxProps)
	if err != nil {
		return err
	}
	for _, pr := range props {
		f.props = append(f.props, heifProp{typ: pr.typ, body: content(pb, ipco.body(), pr)})
	}
	for _, m := range ipmas {
		v, flags, rest, err := fullBody(content(body, b.body(), m), m)
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
		c := &bmff.Fields{B: rest}
		count := c.N(4)
		if c.Bad || count > uint64(c.Left()/(idSize+1)) {
			return heifErr(m.off, "ipma entry count malformed")
		}
		for i := uint64(0); i < count; i++ {
			id := uint32(c.N(idSize))
			n := int(c.N(1))
			if c.Bad || n > c.Left()/idxSize {
				return heifErr(m.off, "ipma cut short")
			}
			it := f.items[id]
			if it != nil {
				if it.inIpma {
					return heifErr(m.off, "item %d has two property associations", id)
				}
				it.inIpma = true
			}
			for k := 0; k < n; k++ {
				x := c.N(idxSize)
				a := heifAssoc{}
				if idxSize == 1 {
					a.essential, a.index = x&0x80 != 0, int(x&0x7f)
				} else {
					a.essential, a.index = x&0x8000 != 0, int(x&0x7fff)
				}
				if a.index > len(f.props) {
					return heifErr(m.off, "item %d uses property %d of %d", id, a.index, len(f.props))
				}
				if it != nil && a.index > 0 {
					it.assocs = append(it.assocs, a)
				}
			}
		}
	}
	return nil
}

// parseDinf records which data references are this file.
func (f *heifFile) parseDinf(body []byte, b heifBox) error {
	boxes, err := memBoxes(body, b.body(), heifMaxTopBoxes)
	if err != nil {
		return err
	}
	for _, k := range boxes {
		if k.typ != "dref" {
			continue
		}
		_, _, rest, err := fullBody(content(body, b.body(), k), k)
		if err != nil {
			return err
		}
		if len(rest) < 4 {
			return heifErr(k.off, "dref cut short")
		}
		entries, err := memBoxes(rest[4:], k.body()+8, heifMaxTopBoxes)
		if err != nil {
			return err
		}
		for _, e := range entries {
			eb := content(rest[4:], k.body()+8, e)
			self := len(eb) >= 4 && (e.typ == "url " || e.typ == "urn ") && eb[3]&1 != 0
			f.drefs = append(f.drefs, self)
		}
	}
	return nil
}

// propKind names a property for reports and decides whether it is kept.
// essential properties that are not understood make the item unsupported.
func (f *heifFile) propKind(pr heifProp, p Profile) (name string, keep, known bool) {
	switch pr.typ {
	case "colr":
		if len(pr.body) < 4 {
			return "colr", false, false
		}
		switch ct := string(pr.body[:4]); ct {
		case "nclx":
			return "colr nclx", true, true
		case "prof", "rICC":
			return "colr ICC", p.Keeps(ColorProfile), true
		default:
			return "colr " + fourCC(ct), false, false
		}
	case "auxC":
		urn := auxURN(pr)
		return "auxC", slices.Contains(heifAlphaURNs, urn), true
	case "udes":
		return "udes (user description)", false, true
	case "crtt":
		return "crtt (creation time)", false, true
	case "mdft":
		return "mdft (modification time)", false, true
	case "altt":
		return "altt (alternative text)", false, true
	}
	if slices.Contains(heifKeptProps, pr.typ) {
		return pr.typ, true, true
	}
	return fourCC(pr.typ), false, false
}

func auxURN(pr heifProp) string {
	if pr.typ != "auxC" || len(pr.body) < 4 {
		return ""
	}
	c := &bmff.Fields{B: pr.body[4:]}
	return c.Str()
}

// auxType returns the auxC URN of item it, or "".
func (f *heifFile) auxType(it *heifItem) string {
	for _, a := range it.assocs {
		if pr := f.props[a.index-1]; pr.typ == "auxC" {
			return auxURN(pr)
		}
	}
	return ""
}

type heifPlan struct {
	keep     map[uint32]bool
	kept     []*heifItem // in iinf order
	propMap  map[int]int // old 1-based index -> new 1-based index
	newProps []int       // old indexes, in new order
	assocs   map[uint32][]heifAssoc
	refs     []heifRef
	exif     []byte // new Exif item data, offset field included
	exifID   uint32
}

// plan decides what to keep.
func (f *heifFile) plan(p Profile) (*heifPlan, error) {
	pl := &heifPlan{keep: map[uint32]bool{}, propMap: map[int]int{}, assocs: map[uint32][]heifAssoc{}}
	prim := f.items[f.primary]
	if prim == nil {
		return nil, heifErr(0, "primary item %d is not listed", f.primary)
	}
	if !slices.Contains(heifImageTypes, prim.typ) {
		return nil, heifUnsupported("primary item type %s", fourCC(prim.typ))
	}
	if err := f.reach(pl, prim); err != nil {
		return nil, err
	}
	for _, it := range f.order {
		if pl.keep[it.id] {
			pl.kept = append(pl.kept, it)
		}
	}
	// Properties.
	used := map[int]bool{}
	reported := map[int]bool{}
	for _, it := range pl.kept {
		for _, a := range it.assocs {
			pr := f.props[a.index-1]
			name, keep, known := f.propKind(pr, p)
			if !keep && a.essential && !known {
				return nil, heifUnsupported("item %d: essential property %s is not understood", it.id, name)
			}
			if keep {
				used[a.index] = true
				pl.assocs[it.id] = append(pl.assocs[it.id], a)
			} else if !reported[a.index] {
				reported[a.index] = true
				f.removed("property %s", name)
			}
		}
	}
	for i := range f.props {
		if used[i+1] {
			pl.newProps = append(pl.newProps, i+1)
			pl.propMap[i+1] = len(pl.newProps)
			name, _, _ := f.propKind(f.props[i], p)
			if name == "colr ICC" {
				f.kept("property colr ICC")
			}
		} else if !reported[i+1] {
			// Properties of dropped items go with them; name only those
			// that describe rather than decode.
			if name, _, known := f.propKind(f.props[i], p); !known || strings.HasPrefix(name, "colr ICC") || strings.Contains(name, "(") {
				f.removed("property %s", name)
			}
		}
	}
	// References between kept items.
	for _, ref := range f.refs {
		switch ref.typ {
		case "dimg", "auxl", "base", "prem":
		default:
			continue
		}
		if !pl.keep[ref.from] {
			continue
		}
		nr := heifRef{typ: ref.typ, from: ref.from}
		for _, to := range ref.to {
			if pl.keep[to] {
				nr.to = append(nr.to, to)
			}
		}
		if len(nr.to) > 0 {
			pl.refs = append(pl.refs, nr)
		}
	}
	// Kept items: check they can be copied as they are.
	roles := f.roles()
	for _, it := range pl.kept {
		if it.protected {
			return nil, heifUnsupported("item %d is protected", it.id)
		}
		what := fourCC(it.typ)
		switch r := roles[it.id]; {
		case it.id == f.primary:
			what += " (primary)"
		case r != "":
			what += " (" + r + ")"
		}
		f.kept("item %d %s", it.id, what)
		if it.named {
			f.removed("item %d name", it.id)
		}
		if !it.located {
			if it.typ != "iden" {
				return nil, heifErr(0, "item %d (%s) has no location", it.id, fourCC(it.typ))
			}
			continue
		}
		if err := f.checkExtents(it); err != nil {
			return nil, err
		}
	}
	if err := f.checkOverlap(pl); err != nil {
		return nil, err
	}
	if err := f.planExif(pl, p); err != nil {
		return nil, err
	}
	f.reportDropped(pl)
	return pl, nil
}

// reach marks the primary item and what rendering it needs, refusing
// derivation loops.
func (f *heifFile) reach(pl *heifPlan, prim *heifItem) error {
	from := map[uint32][]heifRef{} // refs by source item
	auxOf := map[uint32][]uint32{} // master -> auxiliary items
	for _, ref := range f.refs {
		switch ref.typ {
		case "dimg", "base":
			from[ref.from] = append(from[ref.from], ref)
		case "auxl":
			for _, to := range ref.to {
				if to == ref.from {
					return heifErr(0, "item %d is an auxiliary image of itself", to)
				}
				auxOf[to] = append(auxOf[to], ref.from)
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	colour := map[uint32]int{}
	var visit func(id uint32, depth int) error
	visit = func(id uint32, depth int) error {
		if depth > heifMaxDepth {
			return heifUnsupported("derivation chain deeper than %d", heifMaxDepth)
		}
		switch colour[id] {
		case grey:
			return heifErr(0, "iref: derivation loop through item %d", id)
		case black:
			return nil
		}
		it := f.items[id]
		if it == nil {
			return heifErr(0, "reference to unlisted item %d", id)
		}
		if !slices.Contains(heifImageTypes, it.typ) {
			return heifUnsupported("item %d of type %s is needed by the image", id, fourCC(it.typ))
		}
		colour[id] = grey
		pl.keep[id] = true
		for _, ref := range from[id] {
			for _, to := range ref.to {
				if err := visit(to, depth+1); err != nil {
					return err
				}
			}
		}
		colour[id] = black
		for _, aux := range auxOf[id] {
			a := f.items[aux]
			if a == nil || !slices.Contains(heifAlphaURNs, f.auxType(a)) || colour[aux] != white {
				continue
			}
			if err := visit(aux, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return visit(prim.id, 0)
}

// checkExtents resolves and bounds a kept item's extents.
func (f *heifFile) checkExtents(it *heifItem) error {
	switch it.method {
	case 0, 1:
	case 2:
		return heifUnsupported("item %d is built from other items (iloc construction method 2)", it.id)
	default:
		return heifErr(0, "item %d: iloc construction method %d", it.id, it.method)
	}
	if it.dref != 0 && (it.dref > len(f.drefs) || !f.drefs[it.dref-1]) {
		return heifUnsupported("item %d is stored outside this file", it.id)
	}
	lo, hi := int64(0), f.size
	if it.method == 1 {
		if f.idat == nil {
			return heifErr(0, "item %d is in a missing idat box", it.id)
		}
		lo, hi = 0, f.idat.size-f.idat.hdr
	}
	var total int64
	for i := range it.extents {
		e := &it.extents[i]
		if e.off > hi-lo {
			return heifErr(e.off, "item %d: extent starts past the end of its data", it.id)
		}
		if e.n == 0 {
			e.n = hi - lo - e.off
		}
		if e.n > hi-lo-e.off {
			return heifErr(e.off, "item %d: extent of %d bytes runs past the end of its data", it.id, e.n)
		}
		total += e.n
	}
	if total == 0 && it.typ != "iden" {
		return heifErr(0, "item %d (%s) has no data", it.id, fourCC(it.typ))
	}
	return nil
}

// checkOverlap refuses kept items that share bytes with each other
// (copying them apart would not be what the original meant) or with what
// is dropped: a dropped item (an Exif or XMP item, a thumbnail), a dropped
// box or the meta box. Copying such an extent would carry the dropped
// bytes into the copy while the report says they were removed, so no copy
// is made. Extents are compared as file ranges, idat ones included.
func (f *heifFile) checkOverlap(pl *heifPlan) error {
	var spans []heifSpan
	for _, d := range f.dropped {
		if d.end > d.off {
			spans = append(spans, d)
		}
	}
	for _, it := range f.order {
		spans = f.appendSpans(spans, it, pl.keep[it.id])
	}
	slices.SortFunc(spans, func(a, b heifSpan) int { return cmp.Compare(a.off, b.off) })
	// Sweep, remembering the furthest-reaching kept and dropped spans so
	// far: a span meets an earlier one when it starts before that ends.
	var lastKept, lastDropped *heifSpan
	for i := range spans {
		s := &spans[i]
		switch {
		case lastKept != nil && s.off < lastKept.end && s.kept:
			return heifErr(s.off, "extents of items %d and %d overlap", lastKept.id, s.id)
		case lastKept != nil && s.off < lastKept.end:
			return overlapsDropped(*lastKept, *s)
		case s.kept && lastDropped != nil && s.off < lastDropped.end:
			return overlapsDropped(*s, *lastDropped)
		}
		if s.kept && (lastKept == nil || s.end > lastKept.end) {
			lastKept = s
		}
		if !s.kept && (lastDropped == nil || s.end > lastDropped.end) {
			lastDropped = s
		}
	}
	return nil
}

// overlapsDropped is the refusal of a kept extent that reaches into
// dropped bytes, named by structure only.
func overlapsDropped(kept, dropped heifSpan) error {
	what := "a dropped box or the meta box"
	if dropped.item {
		what = fmt.Sprintf("dropped item %d", dropped.id)
	}
	return heifUnsupported("the data of kept item %d overlaps %s (bytes %d to %d), which would be copied with it; keep the original",
		kept.id, what, max(kept.off, dropped.off), min(kept.end, dropped.end))
}

// appendSpans appends the file ranges of item it's data to spans: a kept
// item's extents, already checked (checkExtents), or a dropped item's,
// resolved the same way (a zero length runs to the end of the data) and
// cut to the data; ranges in other files or built from other items are
// not in the file as such and are left out.
func (f *heifFile) appendSpans(spans []heifSpan, it *heifItem, kept bool) []heifSpan {
	if !it.located || it.dref != 0 && (it.dref > len(f.drefs) || !f.drefs[it.dref-1]) {
		return spans
	}
	base, limit := int64(0), f.size
	switch {
	case it.method == 1 && f.idat != nil:
		base, limit = f.idat.body(), f.idat.end()
	case it.method != 0:
		return spans
	}
	for _, e := range it.extents {
		if e.off > limit-base {
			continue
		}
		off := base + e.off
		end := limit
		if e.n > 0 && e.n < limit-off {
			end = off + e.n
		}
		if end > off {
			spans = append(spans, heifSpan{off: off, end: end, id: it.id, item: true, kept: kept})
		}
	}
	return spans
}

// planExif makes the replacement Exif item from the one describing the
// primary image.
func (f *heifFile) planExif(pl *heifPlan, p Profile) error {
	var src *heifItem
	for _, ref := range f.refs {
		if ref.typ != "cdsc" || !slices.Contains(ref.to, f.primary) {
			continue
		}
		it := f.items[ref.from]
		if it != nil && it.typ == "Exif" && !pl.keep[it.id] && (src == nil || it.order < src.order) {
			src = it
		}
	}
	if src == nil || !src.located || src.protected {
		return nil
	}
	if err := f.checkExtents(src); err != nil || (src.method != 0 && src.method != 1) {
		f.removed("item %d Exif (unreadable, not filtered)", src.id)
		return nil
	}
	data, err := f.itemBytes(src, heifMaxExif)
	if err != nil {
		f.removed("item %d Exif (unreadable, not filtered)", src.id)
		return nil
	}
	tiffStart := exifTIFFStart(data)
	if tiffStart < 0 {
		f.removed("item %d Exif (no TIFF header, not filtered)", src.id)
		return nil
	}
	out, err := keptEXIF(data[tiffStart:], p)
	if err != nil {
		f.removed("item %d Exif (malformed, not filtered)", src.id)
		return nil
	}
	if out == nil {
		return nil
	}
	pl.exif = append(make([]byte, 4, 4+len(out)), out...) // TIFF header offset 0
	pl.exifID = src.id
	f.kept("item %d Exif (filtered)", src.id)
	return nil
}

// exifTIFFStart finds the TIFF header of an Exif item: after the 4-byte
// offset field, or by a short search for writers that get it wrong.
func exifTIFFStart(b []byte) int {
	isTIFF := func(h []byte) bool {
		return len(h) >= 8 && (bytes.HasPrefix(h, []byte("II*\x00")) || bytes.HasPrefix(h, []byte("MM\x00*")))
	}
	if len(b) >= 4 {
		if skip := uint64(binary.BigEndian.Uint32(b)); skip <= uint64(len(b)-4) && isTIFF(b[4+skip:]) {
			return int(4 + skip)
		}
	}
	for i := 0; i < 64 && i+8 <= len(b); i++ {
		if isTIFF(b[i:]) {
			return i
		}
	}
	return -1
}

// itemBytes reads a (checked) item's data into memory, at most limit bytes.
func (f *heifFile) itemBytes(it *heifItem, limit int64) ([]byte, error) {
	var total int64
	for _, e := range it.extents {
		total += e.n
	}
	if total > limit {
		return nil, heifUnsupported("item %d larger than %d bytes", it.id, limit)
	}
	out := make([]byte, 0, total)
	for _, e := range it.extents {
		off := e.off
		if it.method == 1 {
			off += f.idat.body()
		}
		b, err := f.read(off, e.n)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// reportDropped names every item not kept, by role.
func (f *heifFile) reportDropped(pl *heifPlan) {
	role := f.roles()
	for _, it := range f.order {
		if pl.keep[it.id] {
			continue
		}
		what := role[it.id]
		switch {
		case strings.HasPrefix(what, "tile") || strings.HasPrefix(what, "input") || strings.HasPrefix(what, "base"):
			what = fourCC(it.typ) + " (" + what + ")"
		case what != "":
		case it.typ == "Exif":
			what = "Exif"
		case it.typ == "mime" && (strings.Contains(strings.ToLower(it.mime), "xmp") || strings.Contains(strings.ToLower(it.mime), "rdf+xml")):
			what = "XMP"
		case it.typ == "tmap":
			what = "tmap (HDR gain map rendering)"
		case it.typ == "":
			what = "(untyped)"
		case slices.Contains(heifImageTypes, it.typ):
			what = fourCC(it.typ) + " (not needed by the primary image)"
		default:
			what = fourCC(it.typ)
		}
		f.removed("item %d %s", it.id, what)
	}
}

// roles names what each item is for, from the references to and from it.
func (f *heifFile) roles() map[uint32]string {
	role := map[uint32]string{}
	for _, ref := range f.refs {
		switch ref.typ {
		case "dimg", "base":
			kind := "input"
			if ref.typ == "base" {
				kind = "base image"
			} else if it := f.items[ref.from]; it != nil && it.typ == "grid" {
				kind = "tile"
			}
			for _, to := range ref.to {
				if role[to] == "" {
					role[to] = fmt.Sprintf("%s of item %d", kind, ref.from)
				}
			}
		case "thmb":
			role[ref.from] = "thumbnail"
		case "auxl":
			if it := f.items[ref.from]; it != nil {
				urn := f.auxType(it)
				switch {
				case slices.Contains(heifAlphaURNs, urn):
					role[ref.from] = "alpha plane"
				case slices.Contains(heifDepthURNs, urn):
					role[ref.from] = "depth map"
				case strings.Contains(urn, "hdrgainmap"):
					role[ref.from] = "HDR gain map"
				case strings.Contains(urn, "matte"):
					role[ref.from] = "matte"
				default:
					role[ref.from] = "auxiliary image"
				}
			}
		}
	}
	return role
}

// Writing.

func appendBox(b []byte, typ string, body []byte) []byte {
	if n := 8 + uint64(len(body)); n <= 0xffffffff {
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		b = append(b, typ...)
	} else {
		b = binary.BigEndian.AppendUint32(b, 1)
		b = append(b, typ...)
		b = binary.BigEndian.AppendUint64(b, n+8)
	}
	return append(b, body...)
}

func appendFull(b []byte, typ string, v byte, flags uint32, body []byte) []byte {
	vf := binary.BigEndian.AppendUint32(nil, uint32(v)<<24|flags&0xffffff)
	return appendBox(b, typ, append(vf, body...))
}

func putN(b []byte, size int, v uint64) []byte {
	for i := size - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// heifLoc is where a kept item's data goes in the new file.
type heifLoc struct {
	id      uint32
	method  int
	src     []heifExtent // method 0: file ranges to copy
	dataOff int64        // offset within the new mdat data, or within idat
	n       int64
}

func (f *heifFile) write(pl *heifPlan, w io.Writer) error {
	// Lay out data: mdat items by original position, idat items likewise.
	var locs []*heifLoc
	var idat []byte
	var mdatLen int64
	kept := slices.Clone(pl.kept)
	sort.SliceStable(kept, func(i, j int) bool {
		return firstOff(kept[i]) < firstOff(kept[j])
	})
	for _, it := range kept {
		l := &heifLoc{id: it.id, method: it.method}
		for _, e := range it.extents {
			l.n += e.n
		}
		if l.n == 0 { // an item without data (iden) needs no location
			continue
		}
		if it.method == 1 {
			if int64(len(idat))+l.n > heifMaxIdat {
				return heifUnsupported("kept idat data beyond %d bytes", heifMaxIdat)
			}
			b, err := f.itemBytes(it, heifMaxIdat)
			if err != nil {
				return err
			}
			l.dataOff = int64(len(idat))
			idat = append(idat, b...)
		} else {
			l.src = it.extents
			l.dataOff = mdatLen
			mdatLen += l.n
		}
		locs = append(locs, l)
	}
	if pl.exif != nil {
		locs = append(locs, &heifLoc{id: pl.exifID, dataOff: mdatLen, n: int64(len(pl.exif))})
		mdatLen += int64(len(pl.exif))
	}
	slices.SortFunc(locs, func(a, b *heifLoc) int { return cmp.Compare(a.id, b.id) })

	mdatHdr := int64(8)
	if mdatLen+8 > 0xffffffff {
		mdatHdr = 16
	}
	offSize, lenSize := 4, 4
	for _, l := range locs {
		if l.n > 0xffffffff {
			lenSize = 8
		}
	}
	meta := f.buildMeta(pl, locs, idat, offSize, lenSize, 0)
	if int64(len(f.ftyp)+len(meta))+mdatHdr+mdatLen > 0xffffffff {
		offSize = 8
		meta = f.buildMeta(pl, locs, idat, offSize, lenSize, 0)
	}
	start := int64(len(f.ftyp)+len(meta)) + mdatHdr
	meta = f.buildMeta(pl, locs, idat, offSize, lenSize, start)

	if _, err := w.Write(f.ftyp); err != nil {
		return fmt.Errorf("strip heif: write: %w", err)
	}
	if _, err := w.Write(meta); err != nil {
		return fmt.Errorf("strip heif: write: %w", err)
	}
	if mdatLen == 0 {
		return nil
	}
	var hdr []byte
	if mdatHdr == 8 {
		hdr = binary.BigEndian.AppendUint32(nil, uint32(mdatLen+8))
		hdr = append(hdr, "mdat"...)
	} else {
		hdr = binary.BigEndian.AppendUint32(nil, 1)
		hdr = append(hdr, "mdat"...)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(mdatLen+16))
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("strip heif: write: %w", err)
	}
	order := slices.Clone(locs)
	slices.SortFunc(order, func(a, b *heifLoc) int { return cmp.Compare(a.dataOff, b.dataOff) })
	for _, l := range order {
		if l.method != 0 {
			continue
		}
		if l.src == nil { // the new Exif item
			if _, err := w.Write(pl.exif); err != nil {
				return fmt.Errorf("strip heif: write: %w", err)
			}
			continue
		}
		for _, e := range l.src {
			if err := f.ctx.Err(); err != nil {
				return err
			}
			n, err := io.Copy(w, &ctxReader{ctx: f.ctx, r: io.NewSectionReader(f.r, e.off, e.n)})
			if err != nil {
				return fmt.Errorf("strip heif: copy item %d: %w", l.id, err)
			}
			if n != e.n {
				return fmt.Errorf("strip heif: copy item %d: input ended after %d of %d bytes: %w", l.id, n, e.n, io.ErrUnexpectedEOF)
			}
		}
	}
	return nil
}

func firstOff(it *heifItem) int64 {
	if len(it.extents) == 0 {
		return -1
	}
	return it.extents[0].off
}

// ctxReader stops a long copy when its context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// buildMeta writes the new meta box; mdatStart is the file offset of the
// first byte of mdat data (0 while sizing).
func (f *heifFile) buildMeta(pl *heifPlan, locs []*heifLoc, idat []byte, offSize, lenSize int, mdatStart int64) []byte {
	big := f.primary > 0xffff || pl.exifID > 0xffff
	for _, it := range pl.kept {
		big = big || it.id > 0xffff
	}
	idSize, ver := 2, byte(0)
	if big {
		idSize, ver = 4, 1
	}
	var meta []byte
	// hdlr: pict, empty name.
	meta = appendFull(meta, "hdlr", 0, 0, append(append(make([]byte, 4), "pict"...), make([]byte, 13)...))
	// dinf: this file only.
	meta = appendBox(meta, "dinf", appendFull(nil, "dref", 0, 0, appendFull([]byte{0, 0, 0, 1}, "url ", 0, 1, nil)))
	meta = appendFull(meta, "pitm", ver, 0, putN(nil, idSize, uint64(f.primary)))

	// iinf
	type entry struct {
		id     uint32
		typ    string
		hidden bool
	}
	var entries []entry
	for _, it := range pl.kept {
		entries = append(entries, entry{it.id, it.typ, it.hidden})
	}
	if pl.exif != nil {
		entries = append(entries, entry{pl.exifID, "Exif", true})
	}
	iinf := putN(nil, 2, uint64(len(entries)))
	for _, e := range entries {
		var body []byte
		iv := byte(2)
		if e.id > 0xffff {
			iv = 3
			body = putN(body, 4, uint64(e.id))
		} else {
			body = putN(body, 2, uint64(e.id))
		}
		body = append(body, 0, 0) // protection index
		body = append(body, e.typ...)
		body = append(body, 0) // empty name
		flags := uint32(0)
		if e.hidden {
			flags = 1
		}
		iinf = appendFull(iinf, "infe", iv, flags, body)
	}
	meta = appendFull(meta, "iinf", 0, 0, iinf)

	// iref
	refs := slices.Clone(pl.refs)
	if pl.exif != nil {
		refs = append(refs, heifRef{typ: "cdsc", from: pl.exifID, to: []uint32{f.primary}})
	}
	if len(refs) > 0 {
		var iref []byte
		for _, r := range refs {
			body := putN(nil, idSize, uint64(r.from))
			body = putN(body, 2, uint64(len(r.to)))
			for _, to := range r.to {
				body = putN(body, idSize, uint64(to))
			}
			iref = appendBox(iref, r.typ, body)
		}
		meta = appendFull(meta, "iref", ver, 0, iref)
	}

	// iprp: ipco with the kept properties, ipma renumbered.
	var ipco []byte
	for _, old := range pl.newProps {
		pr := f.props[old-1]
		ipco = appendBox(ipco, pr.typ, pr.body)
	}
	wide := len(pl.newProps) > 127
	var ipmaBody []byte
	n := 0
	ids := make([]uint32, 0, len(pl.assocs))
	for id := range pl.assocs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		as := pl.assocs[id]
		ipmaBody = putN(ipmaBody, idSize, uint64(id))
		ipmaBody = append(ipmaBody, byte(len(as)))
		for _, a := range as {
			idx := uint64(pl.propMap[a.index])
			if wide {
				if a.essential {
					idx |= 0x8000
				}
				ipmaBody = putN(ipmaBody, 2, idx)
			} else {
				if a.essential {
					idx |= 0x80
				}
				ipmaBody = putN(ipmaBody, 1, idx)
			}
		}
		n++
	}
	ipmaFlags := uint32(0)
	if wide {
		ipmaFlags = 1
	}
	iprp := appendBox(nil, "ipco", ipco)
	iprp = appendFull(iprp, "ipma", ver, ipmaFlags, append(putN(nil, 4, uint64(n)), ipmaBody...))
	meta = appendBox(meta, "iprp", iprp)

	// iloc version 1 (2 for large ids): no base offsets, no indexes.
	ilocVer := byte(1)
	if big {
		ilocVer = 2
	}
	iloc := []byte{byte(offSize<<4 | lenSize), 0}
	if ilocVer == 1 {
		iloc = putN(iloc, 2, uint64(len(locs)))
	} else {
		iloc = putN(iloc, 4, uint64(len(locs)))
	}
	for _, l := range locs {
		iloc = putN(iloc, idSize, uint64(l.id))
		iloc = putN(iloc, 2, uint64(l.method))
		iloc = putN(iloc, 2, 0) // this file
		iloc = putN(iloc, 2, 1) // one extent
		off := uint64(l.dataOff)
		if l.method == 0 {
			off += uint64(mdatStart)
		}
		iloc = putN(iloc, offSize, off)
		iloc = putN(iloc, lenSize, uint64(l.n))
	}
	meta = appendFull(meta, "iloc", ilocVer, 0, iloc)
	if len(idat) > 0 {
		meta = appendBox(meta, "idat", idat)
	}
	return appendFull(nil, "meta", 0, 0, meta)
}
