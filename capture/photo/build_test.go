package photo

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// Builders of small synthetic files for tests: each writes exactly the
// structure a test needs, including structures that lie.

// tiffBlock builds a little-endian classic TIFF block from directories
// given as entries; values longer than 4 bytes go after the directories.
type tiffEntry struct {
	tag   uint16
	typ   uint16
	count uint32
	data  []byte // written inline or out of line; nil: use raw
	raw   uint32 // the value field as is (for lying offsets)
}

// exifTIFF lays out IFD0 → (Exif, GPS) and IFD1. Pointer tags (0x8769,
// 0x8825) and the next link are patched unless given raw.
func exifTIFF(ifd0, exif, gps, ifd1 []tiffEntry) []byte {
	var buf bytes.Buffer
	le := binary.LittleEndian
	buf.WriteString("II*\x00\x08\x00\x00\x00")
	type placed struct {
		entries []tiffEntry
		off     uint32
	}
	dirs := []*placed{{entries: ifd0}, {entries: exif}, {entries: gps}, {entries: ifd1}}
	size := func(es []tiffEntry) uint32 { return uint32(2 + 12*len(es) + 4) }
	off := uint32(8)
	for _, d := range dirs {
		if d.entries == nil {
			continue
		}
		d.off = off
		off += size(d.entries)
	}
	dataOff := off
	var data bytes.Buffer
	for _, d := range dirs {
		if d.entries == nil {
			continue
		}
		_ = binary.Write(&buf, le, uint16(len(d.entries)))
		for _, e := range d.entries {
			_ = binary.Write(&buf, le, e.tag)
			_ = binary.Write(&buf, le, e.typ)
			_ = binary.Write(&buf, le, e.count)
			v := e.raw
			switch {
			case e.tag == 0x8769 && e.data == nil && e.raw == 0 && dirs[1].entries != nil:
				v = dirs[1].off
			case e.tag == 0x8825 && e.data == nil && e.raw == 0 && dirs[2].entries != nil:
				v = dirs[2].off
			case e.data != nil && len(e.data) <= 4:
				var b [4]byte
				copy(b[:], e.data)
				v = le.Uint32(b[:])
			case e.data != nil:
				v = dataOff + uint32(data.Len())
				data.Write(e.data)
				if data.Len()%2 == 1 {
					data.WriteByte(0)
				}
			}
			_ = binary.Write(&buf, le, v)
		}
		next := uint32(0)
		if d == dirs[0] && dirs[3].entries != nil {
			next = dirs[3].off
		}
		_ = binary.Write(&buf, le, next)
	}
	buf.Write(data.Bytes())
	return buf.Bytes()
}

func ascii(s string) []byte { return append([]byte(s), 0) }

func rationals(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

// jpegWith wraps segments (marker, body) into a minimal JPEG.
func jpegWith(segs ...[]byte) []byte {
	var b bytes.Buffer
	b.WriteString("\xFF\xD8")
	for _, s := range segs {
		b.Write(s)
	}
	b.WriteString("\xFF\xDA\x00\x08\x01\x01\x00\x00\x3F\x00") // SOS
	b.WriteString("\x12\x34\xFF\x00\x56")                     // entropy-coded data with a stuffed byte
	b.WriteString("\xFF\xD9")
	return b.Bytes()
}

func segment(marker byte, body []byte) []byte {
	s := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(s[2:], uint16(len(body)+2))
	return append(s, body...)
}

func app1Exif(tiffData []byte) []byte {
	return segment(0xE1, append([]byte("Exif\x00\x00"), tiffData...))
}

// pngWith builds a PNG with the given chunks between IHDR and IEND.
func pngWith(chunks ...[]byte) []byte {
	var b bytes.Buffer
	b.WriteString(pngSignature)
	b.Write(chunk("IHDR", []byte{0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0}))
	for _, c := range chunks {
		b.Write(c)
	}
	b.Write(chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 2, 0, 1}))
	b.Write(chunk("IEND", nil))
	return b.Bytes()
}

func chunk(typ string, data []byte) []byte {
	c := make([]byte, 8, 12+len(data))
	binary.BigEndian.PutUint32(c, uint32(len(data)))
	copy(c[4:], typ)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

func deflate(b []byte) []byte {
	var out bytes.Buffer
	w := zlib.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// webpWith builds a RIFF WebP with the given chunks.
func webpWith(chunks ...[]byte) []byte {
	var body bytes.Buffer
	body.WriteString("WEBP")
	body.Write(riffChunk("VP8X", []byte{0x0C, 0, 0, 0, 1, 0, 0, 1, 0, 0}))
	for _, c := range chunks {
		body.Write(c)
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(body.Len()))
	return append(out, body.Bytes()...)
}

func riffChunk(fourcc string, data []byte) []byte {
	c := []byte(fourcc)
	c = binary.LittleEndian.AppendUint32(c, uint32(len(data)))
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// BMFF boxes.

func bmffBox(typ string, parts ...[]byte) []byte {
	n := 8
	for _, p := range parts {
		n += len(p)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(n))
	b = append(b, typ...)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func fullBox(typ string, version byte, parts ...[]byte) []byte {
	return bmffBox(typ, append([][]byte{{version, 0, 0, 0}}, parts...)...)
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// heifLayout says how the synthetic HEIF locates its Exif item.
type heifLayout struct {
	ilocVersion byte
	idat        bool // construction method 1: the item lives in idat
	split       bool // the item in two extents
	baseOffset  bool // 8-byte base offset, 8-byte extent offsets
}

// heifWith builds a HEIF whose Exif item holds exifPayload (a 4-byte
// header offset, then "Exif\0\0" and a TIFF block).
func heifWith(l heifLayout, exifPayload []byte) []byte {
	ftyp := bmffBox("ftyp", []byte("heic"), be32(0), []byte("mif1heic"))
	infeImage := fullBox("infe", 2, be16(1), be16(0), []byte("hvc1"), []byte{0})
	infeExif := fullBox("infe", 2, be16(2), be16(0), []byte("Exif"), []byte{0})
	iinf := fullBox("iinf", 0, be16(2), infeImage, infeExif)
	pitm := fullBox("pitm", 0, be16(1))
	iref := fullBox("iref", 0, bmffBox("cdsc", be16(2), be16(1), be16(1)))
	build := func(dataStart uint64) []byte {
		offSize, baseSize := 4, 0
		if l.baseOffset {
			offSize, baseSize = 8, 8
		}
		field := func(v uint64, size int) []byte {
			switch size {
			case 4:
				return be32(uint32(v))
			case 8:
				return be64(v)
			}
			return nil
		}
		var items [][]byte
		id := func(v uint32) []byte {
			if l.ilocVersion == 2 {
				return be32(v)
			}
			return be16(uint16(v))
		}
		method := []byte{}
		if l.ilocVersion >= 1 {
			m := uint16(0)
			if l.idat {
				m = 1
			}
			method = be16(m)
		}
		start := dataStart
		if l.idat {
			start = 0
		}
		base := uint64(0)
		if l.baseOffset {
			base = start
			start = 0
		}
		var ext [][]byte
		if l.split {
			half := uint64(len(exifPayload) / 2)
			ext = append(ext, append(field(start, offSize), be32(uint32(half))...),
				append(field(start+half, offSize), be32(uint32(uint64(len(exifPayload))-half))...))
		} else {
			ext = append(ext, append(field(start, offSize), be32(uint32(len(exifPayload)))...))
		}
		item := append(append(append(id(2), method...), be16(0)...), field(base, baseSize)...)
		item = append(item, be16(uint16(len(ext)))...)
		for _, e := range ext {
			item = append(item, e...)
		}
		items = append(items, item)
		count := be16(1)
		if l.ilocVersion == 2 {
			count = be32(1)
		}
		sizes := []byte{byte(offSize<<4 | 4), byte(baseSize << 4)}
		parts := [][]byte{sizes, count}
		parts = append(parts, items...)
		iloc := fullBox("iloc", l.ilocVersion, parts...)
		metaParts := [][]byte{fullBox("hdlr", 0, be32(0), []byte("pict"), make([]byte, 13)), pitm, iinf, iref, iloc}
		if l.idat {
			metaParts = append(metaParts, bmffBox("idat", exifPayload))
		}
		meta := fullBox("meta", 0, metaParts...)
		out := append(append([]byte{}, ftyp...), meta...)
		if !l.idat {
			out = append(out, bmffBox("mdat", exifPayload)...)
		}
		return out
	}
	// Lay out once to learn where mdat's payload starts, then for real.
	probe := build(0)
	return build(uint64(len(probe) - len(exifPayload)))
}

// exifItem is an Exif item payload for tiffData.
func exifItem(tiffData []byte) []byte {
	return append(append(be32(6), "Exif\x00\x00"...), tiffData...)
}

// iptcDataset encodes one IPTC-IIM dataset.
func iptcDataset(rec, ds byte, v []byte) []byte {
	b := []byte{0x1C, rec, ds}
	return append(append(b, be16(uint16(len(v)))...), v...)
}

// irb wraps data as a Photoshop resource.
func irb(id uint16, data []byte) []byte {
	b := append([]byte("8BIM"), be16(id)...)
	b = append(b, 0, 0) // empty name, padded
	b = append(b, be32(uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}
