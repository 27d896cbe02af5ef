package photo

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	exif "github.com/dsoprea/go-exif/v3"
	exifcommon "github.com/dsoprea/go-exif/v3/common"
	exifundefined "github.com/dsoprea/go-exif/v3/undefined"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// Tags this package draws meaning from.
const (
	tagMake             = 0x010F
	tagModel            = 0x0110
	tagSoftware         = 0x0131
	tagDateTime         = 0x0132
	tagArtist           = 0x013B
	tagThumbOffset      = 0x0201
	tagThumbLength      = 0x0202
	tagXMP              = 0x02BC
	tagCopyright        = 0x8298
	tagIPTC             = 0x83BB
	tagPhotoshop        = 0x8649
	tagICC              = 0x8773
	tagDateTimeOriginal = 0x9003
	tagDateTimeDigit    = 0x9004
	tagOffsetTime       = 0x9010
	tagOffsetOriginal   = 0x9011
	tagOffsetDigitized  = 0x9012
	tagMakerNote        = 0x927C
	tagUserComment      = 0x9286
	tagSubSec           = 0x9290
	tagSubSecOriginal   = 0x9291
	tagSubSecDigitized  = 0x9292
	tagXPAuthor         = 0x9C9D
	tagImageUniqueID    = 0xA420
	tagOwnerName        = 0xA430
	tagBodySerial       = 0xA431
	tagLensSpec         = 0xA432
	tagLensMake         = 0xA433
	tagLensModel        = 0xA434
	tagLensSerial       = 0xA435
	tagPrintIM          = 0xC4A5
	tagUniqueModel      = 0xC614
	tagDNGSerial        = 0xC62F
)

// blobTags are binary tags always described by digest, never copied.
var blobTags = map[uint16]bool{
	tagMakerNote: true, tagICC: true, tagPrintIM: true, tagPhotoshop: true, tagXMP: true, tagIPTC: true,
	0x935C: true, // ImageSourceData
}

// extraTagNames names tags go-exif's dictionary does not know, by IFD path
// kind (see ifdKind). They are registered in the shared TagIndex.
var extraTagNames = map[string]map[uint16]string{
	"IFD": {
		0x85D8: "ModelTransformationTag",
		0x87AF: "GeoKeyDirectoryTag",
		0x87B0: "GeoDoubleParamsTag",
		0x87B1: "GeoAsciiParamsTag",
		0xA480: "GDALMetadata",
		0xA481: "GDALNoData",
		0x014A: "SubIFDs",
		0x0153: "SampleFormat",
		0x0142: "TileWidth",
		0x0143: "TileLength",
		0x0144: "TileOffsets",
		0x0145: "TileByteCounts",
		0x013D: "Predictor",
		0x0152: "ExtraSamples",
		0x8649: "ImageResources",
	},
}

// tagIndex is go-exif's tag dictionary with the extra names registered. It
// is loaded once, before any concurrent use: go-exif loads lazily without a
// lock otherwise.
var tagIndex = sync.OnceValue(func() *exif.TagIndex {
	ti := exif.NewTagIndex()
	if err := exif.LoadStandardTags(ti); err != nil {
		return ti // names are a convenience: decoding goes on without them
	}
	for path, tags := range extraTagNames {
		for id, name := range tags {
			if _, err := ti.Get(identityFor(path), id); err == nil {
				continue
			}
			_ = ti.Add(&exif.IndexedTag{Id: id, Name: name, IfdPath: path,
				SupportedTypes: []exifcommon.TagTypePrimitive{exifcommon.TypeByte, exifcommon.TypeAscii,
					exifcommon.TypeShort, exifcommon.TypeLong, exifcommon.TypeDouble}})
		}
	}
	return ti
})

// ifdKind maps a directory path to go-exif's unindexed IFD path, which keys
// its dictionary and its UNDEFINED-value decoders.
func ifdKind(path string) string {
	switch {
	case strings.HasSuffix(path, "/Exif/Iop"):
		return "IFD/Exif/Iop"
	case strings.HasSuffix(path, "/Exif"):
		return "IFD/Exif"
	case strings.HasSuffix(path, "/GPSInfo"):
		return "IFD/GPSInfo"
	}
	return "IFD"
}

func identityFor(kind string) *exifcommon.IfdIdentity {
	switch kind {
	case "IFD/Exif/Iop":
		return exifcommon.IfdExifIopStandardIfdIdentity
	case "IFD/Exif":
		return exifcommon.IfdExifStandardIfdIdentity
	case "IFD/GPSInfo":
		return exifcommon.IfdGpsInfoStandardIfdIdentity
	}
	return exifcommon.IfdStandardIfdIdentity
}

func tagName(kind string, id uint16) string {
	it, err := tagIndex().Get(identityFor(kind), id)
	if err != nil {
		return ""
	}
	return it.Name
}

// exifBlock decodes the TIFF-structured EXIF block at off (length n) in the
// file. source names it in problems.
func (st *state) exifBlock(source string, off, n int64) {
	if st.exifDone {
		st.problem(source, off, "further EXIF block not decoded")
		return
	}
	var r io.ReaderAt = io.NewSectionReader(st.r, off, n)
	if n <= 1<<20 { // small blocks are read at once: one read instead of one per value
		b := make([]byte, n)
		if m, err := st.r.ReadAt(b, off); int64(m) < n {
			st.problem(source, off, "EXIF block unreadable: %v", readErr(err))
			return
		}
		r = bytes.NewReader(b)
	}
	f, err := tiff.Open(r, n, tiff.DefaultLimits)
	if err != nil {
		st.problem(source, off, "EXIF block has no valid TIFF header")
		return
	}
	f.Base = off
	st.exifDone = true
	if err := st.decodeTIFF(f, source); err != nil {
		st.problem(source, off, "EXIF: %v", err)
	}
}

// decodeTIFF walks f and fills EXIF, Camera, Times and GPS.
func (st *state) decodeTIFF(f *tiff.File, source string) error {
	w, err := f.Walk(tiff.ExifPointers)
	if err != nil {
		return err
	}
	x := &EXIF{Offset: f.Base, ByteOrder: f.ByteOrderName(), BigTIFF: f.Big}
	st.m.EXIF = x
	for _, p := range w.Problems {
		st.problem(p.Path, p.Offset, "%s", p.Msg)
	}
	d := decoder{st: st, f: f}
	for _, dir := range w.Dirs {
		if err := st.ctx.Err(); err != nil {
			return err
		}
		kind := ifdKind(dir.Path)
		for _, e := range dir.Entries {
			if len(x.Tags) >= maxTags {
				st.problem(dir.Path, f.Base+e.Pos, "tag limit reached; later tags not listed")
				break
			}
			x.Tags = append(x.Tags, d.tag(dir.Path, kind, e))
		}
		d.thumbnail(dir)
		if dir.Path == "IFD0" {
			d.embedded(dir)
		}
		if dir.Path == "IFD0" && source == "tiff" { // in other containers the image is described elsewhere
			if e, ok := dir.Find(0x0100); ok {
				if v, err := f.Uints(e); err == nil && len(v) == 1 {
					st.image().Width = v[0]
				}
			}
			if e, ok := dir.Find(0x0101); ok {
				if v, err := f.Uints(e); err == nil && len(v) == 1 {
					st.image().Height = v[0]
				}
			}
		}
	}
	d.derive(w.Dirs)
	return nil
}

func (st *state) image() *Image {
	if st.m.Image == nil {
		st.m.Image = &Image{}
	}
	return st.m.Image
}

type decoder struct {
	st *state
	f  *tiff.File
}

// tag renders one entry.
func (d *decoder) tag(path, kind string, e tiff.Entry) Tag {
	t := Tag{IFD: path, ID: e.Tag, Name: tagName(kind, e.Tag), Type: e.Type.String(), Count: e.Count}
	if err := d.f.Check(e); err != nil {
		t.Error = problemText(err)
		return t
	}
	size, _ := e.Size()
	switch {
	case blobTags[e.Tag] || size > maxMetaBlock:
		t.Blob = d.blob(e.Offset, size)
	case e.Type == tiff.ASCII:
		if size > maxInlineString || !d.st.spend(size) {
			t.Blob = d.blob(e.Offset, size)
			break
		}
		b, err := d.f.Value(e)
		if err != nil {
			t.Error = problemText(err)
			break
		}
		t.Value = asciiValue(b)
	case e.Type == tiff.Byte || e.Type == tiff.Undefined || e.Type == tiff.SByte:
		d.binary(&t, kind, e, size)
	default:
		if e.Count > maxInlineValues || !d.st.spend(size*3) {
			t.Blob = d.blob(e.Offset, size)
			break
		}
		b, err := d.f.Value(e)
		if err != nil {
			t.Error = problemText(err)
			break
		}
		t.Value = numericValue(d.f.Order, e.Type, b)
	}
	return t
}

// binary renders BYTE, SBYTE and UNDEFINED values: through go-exif's
// decoders for the UNDEFINED tags it knows, as text for the Windows XP
// tags, as numbers when short, as hex or digest otherwise.
func (d *decoder) binary(t *Tag, kind string, e tiff.Entry, size int64) {
	if size > 4096 || !d.st.spend(size*2) {
		t.Blob = d.blob(e.Offset, size)
		return
	}
	b, err := d.f.Value(e)
	if err != nil {
		t.Error = problemText(err)
		return
	}
	switch {
	case kind == "IFD" && e.Tag >= 0x9C9B && e.Tag <= 0x9C9F: // XPTitle … XPSubject, UCS-2 little-endian
		t.Value = utf16String(b, binary.LittleEndian)
		return
	case e.Tag == tagUserComment || (kind == "IFD/GPSInfo" && (e.Tag == 0x1B || e.Tag == 0x1C)):
		if s, ok := encodedText(b, d.f.Order); ok {
			t.Value = s
			return
		}
	case e.Type == tiff.Undefined && e.Tag != tagMakerNote:
		if v, ok := decodeUndefined(kind, e, b, d.f.Order); ok {
			t.Value = v
			return
		}
	case e.Type == tiff.Byte && len(b) <= 16:
		t.Value = numericValue(d.f.Order, e.Type, b)
		return
	case e.Type == tiff.SByte && len(b) <= 16:
		t.Value = numericValue(d.f.Order, e.Type, b)
		return
	}
	if len(b) <= maxHex {
		t.Hex = hex.EncodeToString(b)
		return
	}
	t.Blob = d.blob(e.Offset, size)
}

// decodeUndefined runs go-exif's decoder for the tag, if it has one, on
// bytes already read and bounded here, and keeps the results that read
// well: version strings and enumerations. Its errors are dropped: they may
// quote the value.
func decodeUndefined(kind string, e tiff.Entry, b []byte, order binary.ByteOrder) (v any, ok bool) {
	defer func() {
		if recover() != nil {
			v, ok = nil, false
		}
	}()
	raw := b
	if len(raw) < 4 {
		raw = append(append([]byte(nil), b...), make([]byte, 4-len(b))...)
	}
	vc := exifcommon.NewValueContext(kind, e.Tag, uint32(len(b)), 0, raw, bytes.NewReader(b), exifcommon.TypeUndefined, order)
	val, err := exifundefined.Decode(vc)
	if err != nil || val == nil {
		return nil, false
	}
	switch x := val.(type) {
	case exifundefined.Tag9000ExifVersion, exifundefined.TagA000FlashpixVersion, exifundefined.Tag0002InteropVersion:
		return x.String(), true
	case exifundefined.TagExifA300FileSource:
		return uint32(x), true
	case exifundefined.TagExifA301SceneType:
		return uint32(x), true
	}
	return nil, false
}

// encodedText decodes the 8-byte character-code prefix used by UserComment,
// GPSProcessingMethod and GPSAreaInformation.
func encodedText(b []byte, order binary.ByteOrder) (string, bool) {
	if len(b) < 8 {
		return "", false
	}
	code, body := string(b[:8]), b[8:]
	switch {
	case strings.HasPrefix(code, "ASCII"), code == "\x00\x00\x00\x00\x00\x00\x00\x00":
		return strings.TrimRight(tiff.TrimNUL(body), " "), true
	case strings.HasPrefix(code, "UNICODE"):
		if len(body) >= 2 && (body[0] == 0xFE && body[1] == 0xFF) {
			return utf16String(body[2:], binary.BigEndian), true
		}
		if len(body) >= 2 && (body[0] == 0xFF && body[1] == 0xFE) {
			return utf16String(body[2:], binary.LittleEndian), true
		}
		return utf16String(body, order), true
	}
	return "", false
}

func utf16String(b []byte, order binary.ByteOrder) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, order.Uint16(b[i:]))
	}
	for len(u) > 0 && u[len(u)-1] == 0 {
		u = u[:len(u)-1]
	}
	return string(utf16.Decode(u))
}

// asciiValue renders an ASCII value: NUL-separated strings become a list.
func asciiValue(b []byte) any {
	s := tiff.TrimNUL(b)
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.Split(s, "\x00")
}

// numericValue renders numeric values: one value bare, more as a list.
func numericValue(order binary.ByteOrder, t tiff.Type, b []byte) any {
	s := t.Size()
	if s == 0 {
		return nil
	}
	out := make([]any, 0, len(b)/s)
	for i := 0; i+s <= len(b); i += s {
		p := b[i:]
		switch t {
		case tiff.Rational:
			out = append(out, strconv.FormatUint(uint64(order.Uint32(p)), 10)+"/"+strconv.FormatUint(uint64(order.Uint32(p[4:])), 10))
		case tiff.SRational:
			out = append(out, strconv.FormatInt(int64(int32(order.Uint32(p))), 10)+"/"+strconv.FormatInt(int64(int32(order.Uint32(p[4:]))), 10))
		case tiff.Float, tiff.Double:
			v, _ := tiff.DecodeFloats(order, t, p[:s])
			out = append(out, capture.JSONFloat(v[0]))
		case tiff.SByte, tiff.SShort, tiff.SLong, tiff.SLong8:
			v, _ := tiff.DecodeFloats(order, t, p[:s])
			out = append(out, int64(v[0]))
		default:
			v := tiff.DecodeUints(order, t, p[:s])
			if len(v) == 1 {
				out = append(out, v[0])
			}
		}
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

// blob describes n bytes at off (relative to the TIFF data) by digest,
// streaming them, within the per-file hashing budget.
func (d *decoder) blob(off, n int64) *Blob {
	b := &Blob{Offset: d.f.Base + off, Length: n}
	if d.st.hashed+n > maxHashed {
		return b
	}
	r, err := d.f.Reader(off, n)
	if err != nil {
		return b
	}
	d.st.hashed += n
	if sum, err := hashReader(r); err == nil {
		b.SHA256 = sum
	}
	return b
}

func hashReader(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// thumbnail records the JPEG thumbnail a directory points to.
func (d *decoder) thumbnail(dir *tiff.Dir) {
	oe, ok1 := dir.Find(tagThumbOffset)
	le, ok2 := dir.Find(tagThumbLength)
	if !ok1 || !ok2 {
		return
	}
	off, err1 := d.f.Uints(oe)
	n, err2 := d.f.Uints(le)
	if err1 != nil || err2 != nil || len(off) != 1 || len(n) != 1 {
		d.st.problem(dir.Path, d.f.Base+oe.Pos, "thumbnail pointer unreadable")
		return
	}
	if off[0] > uint64(d.f.Size()) || n[0] > uint64(d.f.Size())-off[0] {
		d.st.problem(dir.Path, d.f.Base+oe.Pos, "thumbnail points outside the EXIF block")
		return
	}
	d.st.m.EXIF.Thumbnails = append(d.st.m.EXIF.Thumbnails, *d.blob(int64(off[0]), int64(n[0])))
}

// problemText is an error's message for output; tiff's errors carry tag
// numbers and offsets only.
func problemText(err error) string {
	switch {
	case errors.Is(err, tiff.ErrOutOfRange):
		return "value " + tiff.ErrOutOfRange.Error()
	case errors.Is(err, tiff.ErrLimit):
		return "value " + tiff.ErrLimit.Error()
	case errors.Is(err, tiff.ErrType):
		return tiff.ErrType.Error()
	}
	return "value unreadable"
}

// derive fills Camera, Times and GPS from the directories.
func (d *decoder) derive(dirs []*tiff.Dir) {
	var ifd0, ex, gps *tiff.Dir
	for _, dir := range dirs {
		switch dir.Path {
		case "IFD0":
			ifd0 = dir
		case "IFD/Exif":
			ex = dir
		case "IFD/GPSInfo":
			gps = dir
		}
	}
	c := d.st.m.Camera
	if c == nil {
		c = &Camera{}
		d.st.m.Camera = c
	}
	text := func(dir *tiff.Dir, tag uint16) string {
		if dir == nil {
			return ""
		}
		e, ok := dir.Find(tag)
		if !ok {
			return ""
		}
		if n, _ := e.Size(); n > maxInlineString {
			return ""
		}
		s, err := d.f.ASCII(e)
		if err != nil {
			return ""
		}
		return cleanText(s)
	}
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	set(&c.Make, text(ifd0, tagMake))
	set(&c.Model, text(ifd0, tagModel))
	set(&c.Make, text(ex, tagMake)) // some phones write them in the Exif IFD
	set(&c.Model, text(ex, tagModel))
	set(&c.UniqueModel, text(ifd0, tagUniqueModel))
	set(&c.Software, text(ifd0, tagSoftware))
	set(&c.Artist, text(ifd0, tagArtist))
	set(&c.Copyright, strings.Join(strings.FieldsFunc(text(ifd0, tagCopyright), func(r rune) bool { return r == 0 }), "; "))
	set(&c.BodySerialNumber, text(ex, tagBodySerial))
	set(&c.BodySerialNumber, text(ifd0, tagDNGSerial))
	set(&c.LensMake, text(ex, tagLensMake))
	set(&c.LensModel, text(ex, tagLensModel))
	set(&c.LensSerialNumber, text(ex, tagLensSerial))
	set(&c.OwnerName, text(ex, tagOwnerName))
	set(&c.ImageUniqueID, text(ex, tagImageUniqueID))
	if ifd0 != nil {
		if e, ok := ifd0.Find(tagXPAuthor); ok && (e.Type == tiff.Byte || e.Type == tiff.Undefined) {
			if n, _ := e.Size(); n <= maxInlineString {
				if b, err := d.f.Value(e); err == nil {
					set(&c.Author, cleanText(utf16String(b, binary.LittleEndian)))
				}
			}
		}
	}
	if ex != nil {
		if e, ok := ex.Find(tagLensSpec); ok {
			if v, err := d.f.Floats(e); err == nil && len(v) == 4 {
				c.LensSpecification = lensSpec(v)
			}
		}
	}
	d.times(ifd0, ex, text)
	if gps != nil {
		d.gps(gps)
	}
}

// cleanText trims the padding cameras leave in text fields (spaces, NULs);
// a field of padding only is empty.
func cleanText(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "\x00")
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

func lensSpec(v []float64) string {
	f := func(x float64) string {
		if math.IsNaN(x) || math.IsInf(x, 0) || x == 0 {
			return "?"
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprintf("%s-%smm f/%s-%s", f(v[0]), f(v[1]), f(v[2]), f(v[3]))
}

// times records the three EXIF date-times with their offsets and
// sub-seconds.
func (d *decoder) times(ifd0, ex *tiff.Dir, text func(*tiff.Dir, uint16) string) {
	for _, spec := range []struct {
		name                string
		dir                 *tiff.Dir
		tag, offset, subsec uint16
	}{
		{"DateTimeOriginal", ex, tagDateTimeOriginal, tagOffsetOriginal, tagSubSecOriginal},
		{"DateTimeDigitized", ex, tagDateTimeDigit, tagOffsetDigitized, tagSubSecDigitized},
		{"DateTime", ifd0, tagDateTime, tagOffsetTime, tagSubSec},
	} {
		raw := text(spec.dir, spec.tag)
		if raw == "" {
			continue
		}
		sub := text(ex, spec.subsec)
		off := text(ex, spec.offset)
		t := Time{Tag: spec.name, Raw: raw, SubSec: sub, RawOffset: off}
		t.Time, t.Offset = exifTime(raw, sub, off)
		d.st.m.Times = append(d.st.m.Times, t)
	}
}

// exifTime turns "2006:01:02 15:04:05", sub-second digits and an offset
// ("+02:00") into RFC 3339 (or a local date-time without offset).
func exifTime(raw, sub, off string) (string, string) {
	s := strings.TrimSpace(raw)
	if len(s) < 19 {
		return "", ""
	}
	digits := func(p string) (int, bool) {
		n := 0
		for _, c := range p {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, p != ""
	}
	sep := func(i int, ok ...byte) bool {
		for _, c := range ok {
			if s[i] == c {
				return true
			}
		}
		return false
	}
	if !sep(4, ':', '-') || !sep(7, ':', '-') || !sep(10, ' ', 'T') || s[13] != ':' || s[16] != ':' {
		return "", ""
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	dd, ok3 := digits(s[8:10])
	h, ok4 := digits(s[11:13])
	mi, ok5 := digits(s[14:16])
	se, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || y == 0 || mo < 1 || mo > 12 || dd < 1 || dd > daysIn(y, mo) || h > 23 || mi > 59 || se > 60 {
		return "", ""
	}
	out := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", y, mo, dd, h, mi, se)
	rest := strings.TrimSpace(s[19:])
	if strings.HasPrefix(rest, ".") { // fractional seconds written into the value itself
		frac := rest[1:]
		i := 0
		for i < len(frac) && frac[i] >= '0' && frac[i] <= '9' {
			i++
		}
		if i > 0 && sub == "" {
			sub = frac[:i]
		}
		rest = strings.TrimSpace(frac[i:])
	}
	if sub = strings.TrimSpace(sub); sub != "" {
		if _, ok := digits(sub); ok && len(sub) <= 9 {
			out += "." + sub
		}
	}
	if off == "" && rest != "" {
		off = rest
	}
	if o, ok := parseOffset(off); ok {
		return out + o, o
	}
	return out, ""
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseOffset accepts "+HH:MM", "-HH:MM" and "Z".
func parseOffset(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "Z" {
		return "Z", true
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return "", false
	}
	h, err1 := strconv.Atoi(s[1:3])
	m, err2 := strconv.Atoi(s[4:6])
	if err1 != nil || err2 != nil || h > 18 || m > 59 || s[1] == '+' || s[1] == '-' || s[4] == '+' || s[4] == '-' {
		return "", false
	}
	return s, true
}

// tiffFile reads a TIFF file (or DNG, or a TIFF-shaped raw format, or
// BigTIFF): its directories are the EXIF tree.
func (st *state) tiffFile() error {
	f, err := tiff.Open(st.r, st.size, tiff.DefaultLimits)
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	st.exifDone = true
	hl := int64(8)
	if f.Big {
		hl = 16
	}
	st.part("header", 0, hl, "")
	return st.decodeTIFF(f, "tiff")
}
