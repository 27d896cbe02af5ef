// Package bmfftest makes small HEIF files for tests, good and hostile, so
// that the parser (capture/bmff), the metadata reader (capture/photo) and
// the stripper (capture/strip) are all tested on the same lies.
package bmfftest

import (
	"encoding/binary"
	"strings"
)

// Spec describes a HEIF file: an hvc1 primary image (item 1) and an Exif
// item (item 2) that describes it, each in mdat, with the boxes a still
// image needs. The other fields put a lie into it.
type Spec struct {
	MetaVersion byte
	InfeVersion byte // 2 by default
	IlocVersion byte // 1 by default
	IrefVersion byte
	// ExifMethod is item 2's construction method (1: in idat).
	ExifMethod int
	// ExifDataRef is item 2's data reference index.
	ExifDataRef int
	// ExifLen, when set, is the length written for item 2's extent.
	ExifLen uint32
	// IinfPad adds a 'free' box of this many bytes inside iinf.
	IinfPad int

	DupInfe, DupIloc, DupIpma, DupHdlr bool
	SecondMeta, SecondFtyp             bool
	PropIndexPast, IlocFieldSize3      bool
	IlocCountHuge, IinfCountHuge       bool
	IrefCountHuge                      bool
}

// Exif is the Exif item's content: the 4-byte offset to its TIFF header,
// "Exif\0\0", and a TIFF block whose IFD0 names the camera make "Acme".
var Exif = append([]byte{0, 0, 0, 6, 'E', 'x', 'i', 'f', 0, 0}, tiff()...)

// HVC1 stands for the primary image's coded bytes.
var HVC1 = []byte(strings.Repeat("\xAB", 64))

func tiff() []byte {
	b := []byte("II*\x00\x08\x00\x00\x00")
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 0x010F) // Make
	b = binary.LittleEndian.AppendUint16(b, 2)      // ASCII
	b = binary.LittleEndian.AppendUint32(b, 5)
	b = binary.LittleEndian.AppendUint32(b, 26)
	b = binary.LittleEndian.AppendUint32(b, 0) // no next IFD
	return append(b, "Acme\x00"...)
}

// Box makes a box.
func Box(typ string, body ...[]byte) []byte {
	n := 8
	for _, p := range body {
		n += len(p)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(n))
	b = append(b, typ...)
	for _, p := range body {
		b = append(b, p...)
	}
	return b
}

// Full makes a full box (version, flags).
func Full(typ string, v byte, flags uint32, body ...[]byte) []byte {
	vf := binary.BigEndian.AppendUint32(nil, uint32(v)<<24|flags&0xffffff)
	return Box(typ, append([][]byte{vf}, body...)...)
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// HEIF makes the file s describes.
func HEIF(s Spec) []byte {
	if s.InfeVersion == 0 {
		s.InfeVersion = 2
	}
	if s.IlocVersion == 0 {
		s.IlocVersion = 1
	}
	ftyp := Box("ftyp", []byte("heic"), u32(0), []byte("mif1heic"))
	// The meta box has the same length whatever the offsets, so it is made
	// twice: once to learn where mdat begins, once with the offsets.
	meta := s.meta(0)
	mdatBody := int64(len(ftyp) + len(meta) + 8)
	meta = s.meta(mdatBody)
	out := append(append(ftyp, meta...), Box("mdat", HVC1, Exif)...)
	if s.SecondMeta {
		out = append(out, meta...)
	}
	if s.SecondFtyp {
		out = append(out, ftyp...)
	}
	return out
}

func (s Spec) meta(mdat int64) []byte {
	hdlr := Full("hdlr", 0, 0, u32(0), []byte("pict"), make([]byte, 13))
	pitm := Full("pitm", 0, 0, u16(1))
	infe := func(id uint16, typ string) []byte {
		if s.InfeVersion < 2 {
			return Full("infe", s.InfeVersion, 0, u16(id), u16(0), []byte("\x00"), []byte(typ+"\x00"))
		}
		return Full("infe", s.InfeVersion, 0, u16(id), u16(0), []byte(typ), []byte("\x00"))
	}
	entries := [][]byte{infe(1, "hvc1"), infe(2, "Exif")}
	if s.DupInfe {
		entries = append(entries, infe(2, "Exif"))
	}
	count := uint16(len(entries))
	if s.IinfCountHuge {
		count = 0xFFFF
	}
	iinfBody := append([][]byte{u16(count)}, entries...)
	if s.IinfPad > 0 {
		iinfBody = append(iinfBody, Box("free", make([]byte, s.IinfPad)))
	}
	iinf := Full("iinf", 0, 0, iinfBody...)

	exifOff, exifLen := uint32(mdat)+uint32(len(HVC1)), uint32(len(Exif))
	if s.ExifMethod == 1 {
		exifOff = 0
	}
	if s.ExifLen != 0 {
		exifLen = s.ExifLen
	}
	sizes := []byte{0x44, 0x00}
	if s.IlocFieldSize3 {
		sizes[0] = 0x34
	}
	loc := func(id uint16, method int, dref int, off, n uint32) []byte {
		var b []byte
		if s.IlocVersion == 2 {
			b = append(b, u32(uint32(id))...)
		} else {
			b = append(b, u16(id)...)
		}
		if s.IlocVersion >= 1 {
			b = append(b, u16(uint16(method))...)
		}
		b = append(b, u16(uint16(dref))...)
		b = append(b, u16(1)...)
		b = append(b, u32(off)...)
		return append(b, u32(n)...)
	}
	locs := [][]byte{loc(1, 0, 0, uint32(mdat), uint32(len(HVC1))), loc(2, s.ExifMethod, s.ExifDataRef, exifOff, exifLen)}
	if s.DupIloc {
		locs = append(locs, loc(2, 0, 0, uint32(mdat), 4))
	}
	n := uint32(len(locs))
	if s.IlocCountHuge {
		n = 0xFFFF
	}
	ilocCount := u16(uint16(n))
	if s.IlocVersion == 2 {
		ilocCount = u32(n)
	}
	iloc := Full("iloc", s.IlocVersion, 0, append([][]byte{sizes, ilocCount}, locs...)...)

	refCount := uint16(1)
	if s.IrefCountHuge {
		refCount = 0xFFFF
	}
	iref := Full("iref", s.IrefVersion, 0, Box("cdsc", u16(2), u16(refCount), u16(1)))

	propIndex := byte(0x81)
	if s.PropIndexPast {
		propIndex = 0x85
	}
	ipmaEntry := append(u16(1), 1, propIndex)
	ipmaCount := uint32(1)
	if s.DupIpma {
		ipmaEntry = append(ipmaEntry, append(u16(1), 1, 0x81)...)
		ipmaCount = 2
	}
	ispe := Full("ispe", 0, 0, u32(8), u32(8))
	iprp := Box("iprp", Box("ipco", ispe), Full("ipma", 0, 0, u32(ipmaCount), ipmaEntry))
	dinf := Box("dinf", Full("dref", 0, 0, u32(1), Full("url ", 0, 1)))
	parts := [][]byte{hdlr, pitm, iinf, iloc, iref, iprp, dinf}
	if s.DupHdlr {
		parts = append(parts, hdlr)
	}
	if s.ExifMethod == 1 {
		parts = append(parts, Box("idat", Exif))
	}
	return Full("meta", s.MetaVersion, 0, parts...)
}

// Case is a hostile file and what is wrong with it: Want is a part of the
// parse error, Unsupported says the parser does not read such a structure
// (rather than the file being malformed).
type Case struct {
	Name        string
	Data        []byte
	Want        string
	Unsupported bool
}

// Hostile lists the lies in the item structure that reader and stripper
// must both refuse (each is bmff.Parse's error). Large says whether to
// include the cases of many megabytes.
func Hostile(large bool) []Case {
	cs := []Case{
		{Name: "item listed twice", Data: HEIF(Spec{DupInfe: true}), Want: "item 2 listed twice"},
		{Name: "item located twice", Data: HEIF(Spec{DupIloc: true}), Want: "iloc locates item 2 twice"},
		{Name: "two property associations", Data: HEIF(Spec{DupIpma: true}), Want: "item 1 has two property associations"},
		{Name: "second hdlr", Data: HEIF(Spec{DupHdlr: true}), Want: "second hdlr box in meta"},
		{Name: "second meta", Data: HEIF(Spec{SecondMeta: true}), Want: "second meta box"},
		{Name: "second ftyp", Data: HEIF(Spec{SecondFtyp: true}), Want: "second ftyp box"},
		{Name: "no ftyp first", Data: append(Box("free", make([]byte, 8)), HEIF(Spec{})...), Want: "no ftyp box first"},
		{Name: "property index past ipco", Data: HEIF(Spec{PropIndexPast: true}), Want: "uses property 5 of 1"},
		{Name: "iloc field size 3", Data: HEIF(Spec{IlocFieldSize3: true}), Want: "iloc field size 3"},
		{Name: "iloc item count huge", Data: HEIF(Spec{IlocCountHuge: true}), Want: "iloc item count malformed or beyond 4096"},
		{Name: "iinf item count huge", Data: HEIF(Spec{IinfCountHuge: true}), Want: "iinf item count malformed"},
		{Name: "iref count huge", Data: HEIF(Spec{IrefCountHuge: true}), Want: "reference box cdsc cut short"},
		{Name: "meta version 1", Data: HEIF(Spec{MetaVersion: 1}), Want: "meta box version 1", Unsupported: true},
		{Name: "iloc version 3", Data: HEIF(Spec{IlocVersion: 3}), Want: "iloc version 3", Unsupported: true},
		{Name: "iref version 2", Data: HEIF(Spec{IrefVersion: 2}), Want: "iref version 2", Unsupported: true},
		{Name: "infe version 4", Data: HEIF(Spec{InfeVersion: 4}), Want: "item entry version 4", Unsupported: true},
	}
	if large {
		cs = append(cs, Case{Name: "iinf over 16 MiB", Data: HEIF(Spec{IinfPad: 16<<20 + 1}), Want: "box iinf larger than", Unsupported: true})
	}
	return cs
}

// Unlocatable lists files that parse but whose Exif item cannot be read:
// Locate refuses it, and neither reader nor stripper uses its bytes.
func Unlocatable() []Case {
	return []Case{
		{Name: "extent past the end", Data: HEIF(Spec{ExifLen: 1 << 20}), Want: "runs past the end of its data"},
		{Name: "in a missing idat", Data: func() []byte {
			s := Spec{ExifMethod: 1}
			b := HEIF(s)
			i := strings.Index(string(b), "idat")
			copy(b[i:], "free") // idat renamed: the item's data is gone
			return b
		}(), Want: "missing idat box"},
		{Name: "built from other items", Data: HEIF(Spec{ExifMethod: 2}), Want: "construction method 2", Unsupported: true},
		{Name: "in another file", Data: HEIF(Spec{ExifDataRef: 2}), Want: "stored outside this file", Unsupported: true},
	}
}
