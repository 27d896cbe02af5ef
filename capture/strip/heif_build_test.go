package strip

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"testing"
)

// A small HEIF writer for tests: it makes the layouts real encoders rarely
// write (grids, large item ids, iloc base offsets and extent indexes,
// split extents, idat items, depth maps, gain maps, descriptive
// properties) and the hostile ones.

type heifBItem struct {
	id     uint32
	typ    string
	data   []byte
	idat   bool // construction method 1
	hidden bool
	name   string
	mime   string
	prot   uint16
	props  []heifBAssoc
	noLoc  bool
	method int    // overrides construction method when non-zero
	sameAs uint32 // located where that earlier item is, sharing its bytes
	infeV1 bool   // an untyped version 1 item entry
	extLen int64  // when non-zero, the length written for its one extent (-1: 0, "to the end")
}

type heifBAssoc struct {
	index     int
	essential bool
}

type heifBFile struct {
	brands    []string
	primary   uint32
	items     []heifBItem
	props     [][]byte // whole property boxes
	refs      []heifRef
	top       [][]byte // extra top-level boxes, after meta
	metaExtra [][]byte // extra boxes inside meta
	// iloc layout
	ilocVer  byte
	baseSize int // 0, 4 or 8
	idxSize  int
	offSize  int // default 4
	lenSize  int // default 4
	split    int // extents per mdat item (default 1)
	largeIDs bool
	ipmaWide bool
	iinfV1   bool
	noDinf   bool
}

func heifBBox(typ string, body []byte) []byte { return appendBox(nil, typ, body) }

func heifBFull(typ string, v byte, flags uint32, body []byte) []byte {
	return appendFull(nil, typ, v, flags, body)
}

func (f *heifBFile) build() []byte {
	if f.offSize == 0 {
		f.offSize = 4
	}
	if f.lenSize == 0 {
		f.lenSize = 4
	}
	if f.split == 0 {
		f.split = 1
	}
	if f.ilocVer == 0 && (f.idxSize > 0 || f.largeIDs || slices.ContainsFunc(f.items, func(it heifBItem) bool { return it.idat || it.method != 0 })) {
		f.ilocVer = 1
	}
	if f.largeIDs {
		f.ilocVer = 2
	}
	brands := f.brands
	if brands == nil {
		brands = []string{"heic", "mif1", "heic"}
	}
	ftyp := []byte(brands[0])
	ftyp = append(ftyp, 0, 0, 0, 0)
	for _, b := range brands[1:] {
		ftyp = append(ftyp, b...)
	}
	ftypBox := heifBBox("ftyp", ftyp)
	var meta []byte
	for pass := 0; pass < 2; pass++ {
		mdatStart := len(ftypBox) + len(meta) + 8
		meta = f.meta(mdatStart)
	}
	var mdat []byte
	for _, it := range f.items {
		if !it.idat && !it.noLoc && it.sameAs == 0 {
			mdat = append(mdat, it.data...)
		}
	}
	out := slices.Concat(ftypBox, meta, heifBBox("mdat", mdat))
	for _, b := range f.top {
		out = append(out, b...)
	}
	return out
}

func (f *heifBFile) meta(mdatStart int) []byte {
	idSize, ver := 2, byte(0)
	if f.largeIDs {
		idSize, ver = 4, 1
	}
	var m []byte
	m = append(m, heifBFull("hdlr", 0, 0, append(append(make([]byte, 4), "pict"...), make([]byte, 13)...))...)
	if !f.noDinf {
		m = append(m, heifBBox("dinf", heifBFull("dref", 0, 0, appendFull([]byte{0, 0, 0, 1}, "url ", 0, 1, nil)))...)
	}
	m = append(m, heifBFull("pitm", ver, 0, putN(nil, idSize, uint64(f.primary)))...)
	iinfVer, iinf := byte(0), putN(nil, 2, uint64(len(f.items)))
	if f.iinfV1 {
		iinfVer, iinf = 1, putN(nil, 4, uint64(len(f.items)))
	}
	for _, it := range f.items {
		if it.infeV1 {
			b := putN(putN(nil, 2, uint64(it.id)), 2, uint64(it.prot))
			b = append(b, it.name+"\x00"+it.mime+"\x00\x00"...)
			iinf = appendFull(iinf, "infe", 1, 0, b)
			continue
		}
		v := byte(2)
		var b []byte
		if f.largeIDs {
			v = 3
			b = putN(b, 4, uint64(it.id))
		} else {
			b = putN(b, 2, uint64(it.id))
		}
		b = putN(b, 2, uint64(it.prot))
		b = append(b, it.typ...)
		b = append(b, it.name...)
		b = append(b, 0)
		if it.typ == "mime" {
			b = append(b, it.mime...)
			b = append(b, 0)
		}
		flags := uint32(0)
		if it.hidden {
			flags = 1
		}
		iinf = appendFull(iinf, "infe", v, flags, b)
	}
	m = append(m, heifBFull("iinf", iinfVer, 0, iinf)...)
	if len(f.refs) > 0 {
		var iref []byte
		for _, r := range f.refs {
			b := putN(nil, idSize, uint64(r.From))
			b = putN(b, 2, uint64(len(r.To)))
			for _, to := range r.To {
				b = putN(b, idSize, uint64(to))
			}
			iref = appendBox(iref, r.Type, b)
		}
		m = append(m, heifBFull("iref", ver, 0, iref)...)
	}
	var ipco, ipma []byte
	for _, p := range f.props {
		ipco = append(ipco, p...)
	}
	n := 0
	for _, it := range f.items {
		if len(it.props) == 0 {
			continue
		}
		n++
		ipma = putN(ipma, idSize, uint64(it.id))
		ipma = append(ipma, byte(len(it.props)))
		for _, a := range it.props {
			if f.ipmaWide {
				x := uint64(a.index)
				if a.essential {
					x |= 0x8000
				}
				ipma = putN(ipma, 2, x)
			} else {
				x := uint64(a.index)
				if a.essential {
					x |= 0x80
				}
				ipma = putN(ipma, 1, x)
			}
		}
	}
	flags := uint32(0)
	if f.ipmaWide {
		flags = 1
	}
	m = append(m, heifBBox("iprp", slices.Concat(heifBBox("ipco", ipco), heifBFull("ipma", ver, flags, append(putN(nil, 4, uint64(n)), ipma...))))...)
	// iloc
	il := []byte{byte(f.offSize<<4 | f.lenSize), byte(f.baseSize<<4 | f.idxSize)}
	var located []heifBItem
	for _, it := range f.items {
		if !it.noLoc {
			located = append(located, it)
		}
	}
	if f.ilocVer < 2 {
		il = putN(il, 2, uint64(len(located)))
	} else {
		il = putN(il, 4, uint64(len(located)))
	}
	mdatOff, idatOff := mdatStart, 0
	starts := map[uint32]int{}
	for _, it := range located {
		il = putN(il, idSize, uint64(it.id))
		if f.ilocVer >= 1 {
			method := it.method
			if it.idat {
				method = 1
			}
			il = putN(il, 2, uint64(method))
		}
		il = putN(il, 2, 0)
		start := mdatOff
		if it.idat {
			start = idatOff
		}
		if it.sameAs != 0 {
			start = starts[it.sameAs]
		}
		starts[it.id] = start
		base := 0
		if f.baseSize > 0 {
			base = start
		}
		il = putN(il, f.baseSize, uint64(base))
		parts := f.split
		if it.idat || len(it.data) < parts {
			parts = 1
		}
		il = putN(il, 2, uint64(parts))
		at := start - base
		for k := 0; k < parts; k++ {
			n := len(it.data) / parts
			if k == parts-1 {
				n = len(it.data) - (len(it.data)/parts)*(parts-1)
			}
			il = putN(il, f.idxSize, uint64(k+1))
			il = putN(il, f.offSize, uint64(at))
			switch {
			case it.extLen < 0:
				il = putN(il, f.lenSize, 0)
			case it.extLen > 0:
				il = putN(il, f.lenSize, uint64(it.extLen))
			default:
				il = putN(il, f.lenSize, uint64(n))
			}
			at += n
		}
		switch {
		case it.sameAs != 0:
		case it.idat:
			idatOff += len(it.data)
		default:
			mdatOff += len(it.data)
		}
	}
	m = append(m, heifBFull("iloc", f.ilocVer, 0, il)...)
	var idat []byte
	for _, it := range f.items {
		if it.idat {
			idat = append(idat, it.data...)
		}
	}
	if len(idat) > 0 {
		m = append(m, heifBBox("idat", idat)...)
	}
	for _, b := range f.metaExtra {
		m = append(m, b...)
	}
	return heifBFull("meta", 0, 0, m)
}

// Property boxes.

func heifPropISPE(w, h uint32) []byte {
	return heifBFull("ispe", 0, 0, binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), h))
}

func heifPropAuxC(urn string) []byte { return heifBFull("auxC", 0, 0, append([]byte(urn), 0)) }

func heifPropNCLX() []byte { return heifBBox("colr", []byte("nclx\x00\x01\x00\x0d\x00\x06\x80")) }

func heifPropICC() []byte { return heifBBox("colr", append([]byte("prof"), heifTestICC()...)) }

func heifPropIrot(r byte) []byte { return heifBBox("irot", []byte{r & 3}) }

func heifPropUdes(text string) []byte {
	return heifBFull("udes", 0, 0, []byte("en\x00"+text+"\x00"+text+"\x00tag\x00"))
}

// heifTestICC is a minimal well-formed ICC header with no tags.
func heifTestICC() []byte {
	b := make([]byte, 132)
	binary.BigEndian.PutUint32(b, 132)
	binary.BigEndian.PutUint32(b[8:], 0x02100000)
	copy(b[12:], "mntr")
	copy(b[16:], "RGB ")
	copy(b[20:], "XYZ ")
	copy(b[36:], "acsp")
	binary.BigEndian.PutUint32(b[68:], 0x0000f6d6) // D50
	binary.BigEndian.PutUint32(b[72:], 0x00010000)
	binary.BigEndian.PutUint32(b[76:], 0x0000d32d)
	return b
}

// heifGrid is an ImageGrid with 16-bit output sizes.
func heifGrid(rows, cols int, w, h uint16) []byte {
	b := []byte{0, 0, byte(rows - 1), byte(cols - 1)}
	b = binary.BigEndian.AppendUint16(b, w)
	return binary.BigEndian.AppendUint16(b, h)
}

// heifCoded is a coded image and its properties taken from a real file.
type heifCoded struct {
	typ   string
	data  []byte
	props [][]byte // whole boxes, in association order
	ess   []bool
}

// heifPrimaryOf extracts the primary coded image of a HEIF file made by an
// encoder.
func heifPrimaryOf(t testing.TB, file []byte) heifCoded {
	t.Helper()
	f := &heifFile{ctx: context.Background(), r: bytes.NewReader(file), size: int64(len(file)), items: map[uint32]*heifItem{}, rep: &tally{}}
	if err := f.parse(); err != nil {
		t.Fatal(err)
	}
	it := f.items[f.primary]
	if it.Type == "grid" { // libheif wraps odd sizes in a one-tile grid
		for _, r := range f.refs {
			if r.Type == "dimg" && r.From == it.ID {
				it = f.items[r.To[0]]
			}
		}
	}
	if err := f.checkExtents(it); err != nil {
		t.Fatal(err)
	}
	data, err := f.itemBytes(it, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	c := heifCoded{typ: it.Type, data: data}
	for _, a := range it.Assocs {
		p := f.props[a.Index-1]
		c.props = append(c.props, heifBBox(p.Type, p.Body))
		c.ess = append(c.ess, a.Essential)
	}
	return c
}

// addItem adds a coded item with its properties (deduplicated) to f.
func (f *heifBFile) addItem(id uint32, c heifCoded, hidden bool, extra ...[]byte) {
	it := heifBItem{id: id, typ: c.typ, data: c.data, hidden: hidden}
	add := func(p []byte, ess bool) {
		i := slices.IndexFunc(f.props, func(q []byte) bool { return bytes.Equal(p, q) })
		if i < 0 {
			f.props = append(f.props, p)
			i = len(f.props) - 1
		}
		it.props = append(it.props, heifBAssoc{index: i + 1, essential: ess})
	}
	for i, p := range c.props {
		add(p, c.ess[i])
	}
	for _, p := range extra {
		add(p, string(p[4:8]) == "irot")
	}
	f.items = append(f.items, it)
}

// addProp adds a property box and returns its 1-based index.
func (f *heifBFile) addProp(p []byte) int {
	f.props = append(f.props, p)
	return len(f.props)
}
