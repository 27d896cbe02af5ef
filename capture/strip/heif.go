package strip

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
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

// Limits of the stripper's own (the parse has bmff's).
const (
	heifMaxIdat  = 4 << 20 // kept idat bytes, held in memory
	heifMaxExif  = 4 << 20
	heifMaxDepth = 64 // derivation chain
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

// The item structure comes from bmff.Parse, the same parse the photo
// reader reports from.
type (
	heifBox    = bmff.Box
	heifExtent = bmff.Extent
	heifAssoc  = bmff.Assoc
	heifItem   = bmff.Item
	heifRef    = bmff.Ref
	heifProp   = bmff.Prop
)

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
	file    *bmff.File
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

var fourCC = bmff.FourCC

// heifError turns a parse error into the stripper's: a FormatError, or
// ErrUnsupported for a structure the parser does not read.
func heifError(err error) error {
	var be *bmff.Error
	var ue *bmff.UnsupportedError
	switch {
	case errors.As(err, &be):
		return heifErr(be.Offset, "%s", be.Reason)
	case errors.As(err, &ue):
		return heifUnsupported("%s", ue.Reason)
	}
	return fmt.Errorf("strip heif: %w", err)
}

func (f *heifFile) read(off, n int64) ([]byte, error) {
	b, err := f.file.ReadAt(off, n)
	if err != nil {
		return nil, heifError(err)
	}
	return b, nil
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

// parse reads the top-level boxes and the item structure of meta
// (bmff.Parse), and notes what is dropped whatever the profile.
func (f *heifFile) parse() error {
	pf, err := bmff.Parse(f.ctx, f.r, f.size)
	if err != nil {
		return heifError(err)
	}
	f.file = pf
	f.ftyp = appendBox(nil, "ftyp", pf.Ftyp)
	for _, b := range pf.Top[1:] {
		switch b.Type {
		case "meta":
		case "moov":
			return heifUnsupported("image sequences (moov box) cannot be stripped; keep the original")
		case "mdat":
			// Rewritten: only the kept items' bytes are copied.
		default:
			f.removed("box %s", fourCC(b.Type))
			f.dropped = append(f.dropped, heifSpan{off: b.Off, end: b.End()})
		}
	}
	m := pf.Meta
	if m == nil {
		return heifUnsupported("no meta box: not a HEIF still image")
	}
	for _, b := range m.Other {
		f.removed("box %s", fourCC(b.Type))
	}
	for _, need := range []string{"hdlr", "pitm", "iloc", "iinf", "iprp"} {
		if _, ok := m.Boxes[need]; !ok {
			return heifErr(m.Box.Off, "meta has no %s box", need)
		}
	}
	if m.Handler != "pict" {
		return heifUnsupported("meta handler %q is not pict", fourCC(m.Handler))
	}
	if b := m.Idat; b != nil {
		f.dropped = append(f.dropped, heifSpan{off: m.Box.Off, end: b.Body()}, heifSpan{off: b.End(), end: m.Box.End()})
	} else {
		f.dropped = append(f.dropped, heifSpan{off: m.Box.Off, end: m.Box.End()})
	}
	if _, ok := m.Boxes["ipro"]; ok {
		f.removed("box ipro")
	}
	for _, b := range m.IprpOther {
		f.removed("box %s", fourCC(b.Type))
	}
	f.primary, f.items, f.order, f.refs, f.props, f.idat, f.drefs = m.Primary, m.Items, m.Order, m.Refs, m.Props, m.Idat, m.DataRefs
	return nil
}

// propKind names a property for reports and decides whether it is kept.
// essential properties that are not understood make the item unsupported.
func (f *heifFile) propKind(pr heifProp, p Profile) (name string, keep, known bool) {
	switch pr.Type {
	case "colr":
		if len(pr.Body) < 4 {
			return "colr", false, false
		}
		switch ct := string(pr.Body[:4]); ct {
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
	if slices.Contains(heifKeptProps, pr.Type) {
		return pr.Type, true, true
	}
	return fourCC(pr.Type), false, false
}

func auxURN(pr heifProp) string {
	if pr.Type != "auxC" || len(pr.Body) < 4 {
		return ""
	}
	c := &bmff.Fields{B: pr.Body[4:]}
	return c.Str()
}

// auxType returns the auxC URN of item it, or "".
func (f *heifFile) auxType(it *heifItem) string {
	for _, a := range it.Assocs {
		if pr := f.props[a.Index-1]; pr.Type == "auxC" {
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
	if !slices.Contains(heifImageTypes, prim.Type) {
		return nil, heifUnsupported("primary item type %s", fourCC(prim.Type))
	}
	if err := f.reach(pl, prim); err != nil {
		return nil, err
	}
	for _, it := range f.order {
		if pl.keep[it.ID] {
			pl.kept = append(pl.kept, it)
		}
	}
	// Properties.
	used := map[int]bool{}
	reported := map[int]bool{}
	for _, it := range pl.kept {
		for _, a := range it.Assocs {
			pr := f.props[a.Index-1]
			name, keep, known := f.propKind(pr, p)
			if !keep && a.Essential && !known {
				return nil, heifUnsupported("item %d: essential property %s is not understood", it.ID, name)
			}
			if keep {
				used[a.Index] = true
				pl.assocs[it.ID] = append(pl.assocs[it.ID], a)
			} else if !reported[a.Index] {
				reported[a.Index] = true
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
		switch ref.Type {
		case "dimg", "auxl", "base", "prem":
		default:
			continue
		}
		if !pl.keep[ref.From] {
			continue
		}
		nr := heifRef{Type: ref.Type, From: ref.From}
		for _, to := range ref.To {
			if pl.keep[to] {
				nr.To = append(nr.To, to)
			}
		}
		if len(nr.To) > 0 {
			pl.refs = append(pl.refs, nr)
		}
	}
	// Kept items: check they can be copied as they are.
	roles := f.roles()
	for _, it := range pl.kept {
		if it.Protected {
			return nil, heifUnsupported("item %d is protected", it.ID)
		}
		what := fourCC(it.Type)
		switch r := roles[it.ID]; {
		case it.ID == f.primary:
			what += " (primary)"
		case r != "":
			what += " (" + r + ")"
		}
		f.kept("item %d %s", it.ID, what)
		if it.Named {
			f.removed("item %d name", it.ID)
		}
		if !it.Located {
			if it.Type != "iden" {
				return nil, heifErr(0, "item %d (%s) has no location", it.ID, fourCC(it.Type))
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
		switch ref.Type {
		case "dimg", "base":
			from[ref.From] = append(from[ref.From], ref)
		case "auxl":
			for _, to := range ref.To {
				if to == ref.From {
					return heifErr(0, "item %d is an auxiliary image of itself", to)
				}
				auxOf[to] = append(auxOf[to], ref.From)
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
		if !slices.Contains(heifImageTypes, it.Type) {
			return heifUnsupported("item %d of type %s is needed by the image", id, fourCC(it.Type))
		}
		colour[id] = grey
		pl.keep[id] = true
		for _, ref := range from[id] {
			for _, to := range ref.To {
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
	return visit(prim.ID, 0)
}

// checkExtents resolves and bounds a kept item's extents.
func (f *heifFile) checkExtents(it *heifItem) error {
	spans, err := f.file.Locate(it)
	if err != nil {
		return heifError(err)
	}
	var total int64
	for i, sp := range spans {
		it.Extents[i].N = sp.End - sp.Off // "to the end" resolved
		total += sp.End - sp.Off
	}
	if total == 0 && it.Type != "iden" {
		return heifErr(0, "item %d (%s) has no data", it.ID, fourCC(it.Type))
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
		spans = f.appendSpans(spans, it, pl.keep[it.ID])
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
	if !it.Located || it.DataRef != 0 && (it.DataRef > len(f.drefs) || !f.drefs[it.DataRef-1]) {
		return spans
	}
	base, limit := int64(0), f.size
	switch {
	case it.Method == 1 && f.idat != nil:
		base, limit = f.idat.Body(), f.idat.End()
	case it.Method != 0:
		return spans
	}
	for _, e := range it.Extents {
		if e.Off > limit-base {
			continue
		}
		off := base + e.Off
		end := limit
		if e.N > 0 && e.N < limit-off {
			end = off + e.N
		}
		if end > off {
			spans = append(spans, heifSpan{off: off, end: end, id: it.ID, item: true, kept: kept})
		}
	}
	return spans
}

// planExif makes the replacement Exif item from the one describing the
// primary image.
func (f *heifFile) planExif(pl *heifPlan, p Profile) error {
	var src *heifItem
	for _, ref := range f.refs {
		if ref.Type != "cdsc" || !slices.Contains(ref.To, f.primary) {
			continue
		}
		it := f.items[ref.From]
		if it != nil && it.Type == "Exif" && !pl.keep[it.ID] && (src == nil || it.Order < src.Order) {
			src = it
		}
	}
	if src == nil || !src.Located || src.Protected {
		return nil
	}
	if err := f.checkExtents(src); err != nil || (src.Method != 0 && src.Method != 1) {
		f.removed("item %d Exif (unreadable, not filtered)", src.ID)
		return nil
	}
	data, err := f.itemBytes(src, heifMaxExif)
	if err != nil {
		f.removed("item %d Exif (unreadable, not filtered)", src.ID)
		return nil
	}
	tiffStart := exifTIFFStart(data)
	if tiffStart < 0 {
		f.removed("item %d Exif (no TIFF header, not filtered)", src.ID)
		return nil
	}
	out, err := keptEXIF(data[tiffStart:], p)
	if err != nil {
		f.removed("item %d Exif (malformed, not filtered)", src.ID)
		return nil
	}
	if out == nil {
		return nil
	}
	pl.exif = append(make([]byte, 4, 4+len(out)), out...) // TIFF header offset 0
	pl.exifID = src.ID
	f.kept("item %d Exif (filtered)", src.ID)
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
	b, err := f.file.ItemBytes(it, limit)
	if err != nil {
		return nil, heifError(err)
	}
	return b, nil
}

// reportDropped names every item not kept, by role.
func (f *heifFile) reportDropped(pl *heifPlan) {
	role := f.roles()
	for _, it := range f.order {
		if pl.keep[it.ID] {
			continue
		}
		what := role[it.ID]
		switch {
		case strings.HasPrefix(what, "tile") || strings.HasPrefix(what, "input") || strings.HasPrefix(what, "base"):
			what = fourCC(it.Type) + " (" + what + ")"
		case what != "":
		case it.Type == "Exif":
			what = "Exif"
		case it.Type == "mime" && (strings.Contains(strings.ToLower(it.MIME), "xmp") || strings.Contains(strings.ToLower(it.MIME), "rdf+xml")):
			what = "XMP"
		case it.Type == "tmap":
			what = "tmap (HDR gain map rendering)"
		case it.Type == "":
			what = "(untyped)"
		case slices.Contains(heifImageTypes, it.Type):
			what = fourCC(it.Type) + " (not needed by the primary image)"
		default:
			what = fourCC(it.Type)
		}
		f.removed("item %d %s", it.ID, what)
	}
}

// roles names what each item is for, from the references to and from it.
func (f *heifFile) roles() map[uint32]string {
	role := map[uint32]string{}
	for _, ref := range f.refs {
		switch ref.Type {
		case "dimg", "base":
			kind := "input"
			if ref.Type == "base" {
				kind = "base image"
			} else if it := f.items[ref.From]; it != nil && it.Type == "grid" {
				kind = "tile"
			}
			for _, to := range ref.To {
				if role[to] == "" {
					role[to] = fmt.Sprintf("%s of item %d", kind, ref.From)
				}
			}
		case "thmb":
			role[ref.From] = "thumbnail"
		case "auxl":
			if it := f.items[ref.From]; it != nil {
				urn := f.auxType(it)
				switch {
				case slices.Contains(heifAlphaURNs, urn):
					role[ref.From] = "alpha plane"
				case slices.Contains(heifDepthURNs, urn):
					role[ref.From] = "depth map"
				case strings.Contains(urn, "hdrgainmap"):
					role[ref.From] = "HDR gain map"
				case strings.Contains(urn, "matte"):
					role[ref.From] = "matte"
				default:
					role[ref.From] = "auxiliary image"
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
		l := &heifLoc{id: it.ID, method: it.Method}
		for _, e := range it.Extents {
			l.n += e.N
		}
		if l.n == 0 { // an item without data (iden) needs no location
			continue
		}
		if it.Method == 1 {
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
			l.src = it.Extents
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
			n, err := io.Copy(w, &ctxReader{ctx: f.ctx, r: io.NewSectionReader(f.r, e.Off, e.N)})
			if err != nil {
				return fmt.Errorf("strip heif: copy item %d: %w", l.id, err)
			}
			if n != e.N {
				return fmt.Errorf("strip heif: copy item %d: input ended after %d of %d bytes: %w", l.id, n, e.N, io.ErrUnexpectedEOF)
			}
		}
	}
	return nil
}

func firstOff(it *heifItem) int64 {
	if len(it.Extents) == 0 {
		return -1
	}
	return it.Extents[0].Off
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
		big = big || it.ID > 0xffff
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
		entries = append(entries, entry{it.ID, it.Type, it.Hidden})
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
		refs = append(refs, heifRef{Type: "cdsc", From: pl.exifID, To: []uint32{f.primary}})
	}
	if len(refs) > 0 {
		var iref []byte
		for _, r := range refs {
			body := putN(nil, idSize, uint64(r.From))
			body = putN(body, 2, uint64(len(r.To)))
			for _, to := range r.To {
				body = putN(body, idSize, uint64(to))
			}
			iref = appendBox(iref, r.Type, body)
		}
		meta = appendFull(meta, "iref", ver, 0, iref)
	}

	// iprp: ipco with the kept properties, ipma renumbered.
	var ipco []byte
	for _, old := range pl.newProps {
		pr := f.props[old-1]
		ipco = appendBox(ipco, pr.Type, pr.Body)
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
			idx := uint64(pl.propMap[a.Index])
			if wide {
				if a.Essential {
					idx |= 0x8000
				}
				ipmaBody = putN(ipmaBody, 2, idx)
			} else {
				if a.Essential {
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
