// Package tiff reads the structure of TIFF and BigTIFF data: the header,
// the image file directories (IFDs) and the bytes of tag values. It is the
// one place where offsets and counts declared by a file are checked, so that
// whatever a file claims, reading it costs bounded memory and time: every
// offset is checked against the data's size before it is followed, every
// value's size (count × type size, overflow-checked) against per-value and
// per-file budgets before a byte is allocated, directory loops are detected
// and the number of directories is capped.
//
// It gives types, not meanings: EXIF, GPS and GeoTIFF interpretation live in
// the packages that import it. Errors name the structure and offset that
// failed, never the bytes found there. tiff must not import other packages of
// this module.
package tiff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Type is a TIFF field type.
type Type uint16

// Field types of TIFF 6.0 and BigTIFF.
const (
	Byte      Type = 1
	ASCII     Type = 2
	Short     Type = 3
	Long      Type = 4
	Rational  Type = 5
	SByte     Type = 6
	Undefined Type = 7
	SShort    Type = 8
	SLong     Type = 9
	SRational Type = 10
	Float     Type = 11
	Double    Type = 12
	IFD       Type = 13
	Long8     Type = 16
	SLong8    Type = 17
	IFD8      Type = 18
)

var typeInfo = map[Type]struct {
	size int
	name string
}{
	Byte: {1, "BYTE"}, ASCII: {1, "ASCII"}, Short: {2, "SHORT"}, Long: {4, "LONG"},
	Rational: {8, "RATIONAL"}, SByte: {1, "SBYTE"}, Undefined: {1, "UNDEFINED"},
	SShort: {2, "SSHORT"}, SLong: {4, "SLONG"}, SRational: {8, "SRATIONAL"},
	Float: {4, "FLOAT"}, Double: {8, "DOUBLE"}, IFD: {4, "IFD"},
	Long8: {8, "LONG8"}, SLong8: {8, "SLONG8"}, IFD8: {8, "IFD8"},
}

// Size is the size in bytes of one value of the type, 0 when the type is
// unknown.
func (t Type) Size() int { return typeInfo[t].size }

// String is the type's name as the TIFF specification spells it, or
// "TYPE(n)" when unknown.
func (t Type) String() string {
	if i, ok := typeInfo[t]; ok {
		return i.name
	}
	return fmt.Sprintf("TYPE(%d)", uint16(t))
}

// Errors callers may branch on. The messages wrapping them carry offsets,
// never content.
var (
	// ErrNotTIFF means the data does not start with a TIFF or BigTIFF header.
	ErrNotTIFF = errors.New("not a TIFF header")
	// ErrOutOfRange means an offset or size points outside the data.
	ErrOutOfRange = errors.New("points outside the data")
	// ErrLimit means a declared size or count is beyond what is read.
	ErrLimit = errors.New("beyond the reading limit")
	// ErrType means a field type is unknown or does not fit the use.
	ErrType = errors.New("unexpected field type")
)

// Header is a TIFF or BigTIFF header.
type Header struct {
	Order binary.ByteOrder
	// Big is true for BigTIFF (version 43, 8-byte offsets).
	Big bool
	// FirstIFD is the offset of the first directory.
	FirstIFD uint64
}

// Version is 42 for classic TIFF and 43 for BigTIFF.
func (h Header) Version() int {
	if h.Big {
		return 43
	}
	return 42
}

// ByteOrderName is "little-endian" or "big-endian".
func (h Header) ByteOrderName() string {
	if h.Order == binary.BigEndian {
		return "big-endian"
	}
	return "little-endian"
}

// HeaderLen is the number of leading bytes ParseHeader needs at most.
const HeaderLen = 16

// ParseHeader parses the header at the start of b (8 bytes for classic TIFF,
// 16 for BigTIFF).
func ParseHeader(b []byte) (Header, error) {
	if len(b) < 8 {
		return Header{}, ErrNotTIFF
	}
	var h Header
	switch string(b[:2]) {
	case "II":
		h.Order = binary.LittleEndian
	case "MM":
		h.Order = binary.BigEndian
	default:
		return Header{}, ErrNotTIFF
	}
	switch h.Order.Uint16(b[2:4]) {
	case 42:
		h.FirstIFD = uint64(h.Order.Uint32(b[4:8]))
	case 43:
		if len(b) < 16 {
			return Header{}, fmt.Errorf("BigTIFF header: %w", io.ErrUnexpectedEOF)
		}
		if h.Order.Uint16(b[4:6]) != 8 || h.Order.Uint16(b[6:8]) != 0 {
			return Header{}, fmt.Errorf("BigTIFF header: unsupported offset size: %w", ErrNotTIFF)
		}
		h.Big = true
		h.FirstIFD = h.Order.Uint64(b[8:16])
	default:
		return Header{}, ErrNotTIFF
	}
	return h, nil
}

// Entry is one directory entry.
type Entry struct {
	Tag   uint16
	Type  Type
	Count uint64
	// Offset is where the value's bytes start in the data, whether they sit
	// inside the entry itself or elsewhere.
	Offset int64
	// Pos is the offset of the entry itself.
	Pos int64

	inline    [8]byte
	hasInline bool
}

// Size is the size of the value in bytes; ok is false when the type is
// unknown or the size overflows.
func (e Entry) Size() (n int64, ok bool) {
	s := uint64(e.Type.Size())
	if s == 0 || e.Count > math.MaxInt64/s {
		return 0, false
	}
	return int64(e.Count * s), true
}

// Dir is one image file directory.
type Dir struct {
	// Path names the directory: "IFD0", "IFD1", … for the main chain and
	// "IFD/Exif", "IFD/GPSInfo", "IFD/Exif/Iop", "IFD/SubIFD0", "IFD1/Exif"
	// for directories that tags point to.
	Path    string
	Offset  int64
	Entries []Entry
	// Next is the offset of the next directory in the chain (0: none).
	Next uint64
	// Truncated is true when the data ended inside the directory; Entries
	// holds the entries that were complete.
	Truncated bool
}

// Find returns the first entry with the tag.
func (d *Dir) Find(tag uint16) (Entry, bool) {
	for _, e := range d.Entries {
		if e.Tag == tag {
			return e, true
		}
	}
	return Entry{}, false
}

// Limits bound what a File reads.
type Limits struct {
	// MaxDirs caps the number of directories a Walk visits.
	MaxDirs int
	// MaxEntries caps the entries read from one directory.
	MaxEntries int
	// MaxValue caps the size of one value read with Value.
	MaxValue int64
	// MaxTotal caps the bytes of all values read through one File.
	MaxTotal int64
}

// DefaultLimits suit camera files and GeoTIFFs: real files stay far below.
var DefaultLimits = Limits{MaxDirs: 64, MaxEntries: 4096, MaxValue: 8 << 20, MaxTotal: 32 << 20}

// File reads directories and values from TIFF data. A File is not safe for
// concurrent use: it keeps the count of bytes read against Limits.MaxTotal.
type File struct {
	Header
	// Base is added to every offset that messages and Problems report, so
	// that they give positions in the enclosing file when the TIFF data is
	// embedded (an EXIF block in a JPEG, say). Offsets in Entry and Dir stay
	// relative to the TIFF header.
	Base int64
	r    io.ReaderAt
	size int64
	lim  Limits
	used int64
}

// Open reads the header of the TIFF data r of the given size.
func Open(r io.ReaderAt, size int64, lim Limits) (*File, error) {
	var b [HeaderLen]byte
	n, err := r.ReadAt(b[:min(int64(len(b)), max(size, 0))], 0)
	if n < 8 {
		if err == nil || err == io.EOF {
			return nil, ErrNotTIFF
		}
		return nil, fmt.Errorf("TIFF header: %w", err)
	}
	h, err := ParseHeader(b[:n])
	if err != nil {
		return nil, err
	}
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	return &File{Header: h, r: r, size: size, lim: lim}, nil
}

// Size is the size of the data.
func (f *File) Size() int64 { return f.size }

// ReadDir reads the directory at off. A directory cut short by the end of the
// data is returned with Truncated set and a nil error as long as its entry
// count could be read.
func (f *File) ReadDir(off uint64, path string) (*Dir, error) {
	countLen, entryLen, nextLen := int64(2), int64(12), int64(4)
	if f.Big {
		countLen, entryLen, nextLen = 8, 20, 8
	}
	if off < 8 || off > uint64(f.size) || int64(off) > f.size-countLen {
		return nil, fmt.Errorf("%s at offset %d: %w", path, f.at(off), ErrOutOfRange)
	}
	start := int64(off)
	var cb [8]byte
	if _, err := f.r.ReadAt(cb[:countLen], start); err != nil {
		return nil, fmt.Errorf("%s at offset %d: entry count: %w", path, f.at(off), readErr(err))
	}
	var count uint64
	if f.Big {
		count = f.Order.Uint64(cb[:8])
	} else {
		count = uint64(f.Order.Uint16(cb[:2]))
	}
	if count > uint64(f.lim.MaxEntries) {
		return nil, fmt.Errorf("%s at offset %d: %d entries: %w", path, f.at(off), count, ErrLimit)
	}
	d := &Dir{Path: path, Offset: start}
	body := int64(count)*entryLen + nextLen
	avail := f.size - start - countLen
	if body > avail {
		d.Truncated = true
		body = avail
	}
	buf := make([]byte, body)
	if n, err := f.r.ReadAt(buf, start+countLen); n < len(buf) {
		return nil, fmt.Errorf("%s at offset %d: entries: %w", path, f.at(off), readErr(err))
	}
	complete := min(int64(count), body/entryLen)
	d.Entries = make([]Entry, 0, complete)
	for i := int64(0); i < complete; i++ {
		p := buf[i*entryLen : (i+1)*entryLen]
		e := Entry{Tag: f.Order.Uint16(p[0:2]), Type: Type(f.Order.Uint16(p[2:4])), Pos: start + countLen + i*entryLen}
		var field []byte
		if f.Big {
			e.Count = f.Order.Uint64(p[4:12])
			field = p[12:20]
		} else {
			e.Count = uint64(f.Order.Uint32(p[4:8]))
			field = p[8:12]
		}
		if n, ok := e.Size(); ok && n <= int64(len(field)) {
			e.Offset = e.Pos + entryLen - int64(len(field))
			copy(e.inline[:], field)
			e.hasInline = true
		} else if f.Big {
			e.Offset = int64(min(f.Order.Uint64(field), math.MaxInt64))
		} else {
			e.Offset = int64(f.Order.Uint32(field))
		}
		d.Entries = append(d.Entries, e)
	}
	if !d.Truncated {
		nb := buf[len(buf)-int(nextLen):]
		if f.Big {
			d.Next = f.Order.Uint64(nb)
		} else {
			d.Next = uint64(f.Order.Uint32(nb))
		}
	}
	return d, nil
}

// at is an offset as reported: relative to the enclosing file.
func (f *File) at(off uint64) int64 {
	return f.Base + int64(min(off, math.MaxInt64/2))
}

func readErr(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Check reports whether the entry's value can be read: a known type, within
// the data, and within the per-value limit.
func (f *File) Check(e Entry) error {
	n, ok := e.Size()
	switch {
	case !ok && e.Type.Size() == 0:
		return fmt.Errorf("tag %d at offset %d: type %d: %w", e.Tag, f.Base+e.Pos, uint16(e.Type), ErrType)
	case !ok || n > f.lim.MaxValue:
		return fmt.Errorf("tag %d at offset %d: value of %d × %d bytes: %w", e.Tag, f.Base+e.Pos, e.Count, e.Type.Size(), ErrLimit)
	case e.hasInline:
		return nil
	case e.Offset < 0 || e.Offset > f.size || n > f.size-e.Offset:
		return fmt.Errorf("tag %d at offset %d: value at offset %d, %d bytes: %w", e.Tag, f.Base+e.Pos, f.Base+e.Offset, n, ErrOutOfRange)
	}
	return nil
}

// Value returns the bytes of the entry's value after checking it (Check) and
// the per-file budget.
func (f *File) Value(e Entry) ([]byte, error) {
	if err := f.Check(e); err != nil {
		return nil, err
	}
	n, _ := e.Size()
	if e.hasInline {
		return append([]byte(nil), e.inline[:n]...), nil
	}
	if f.used+n > f.lim.MaxTotal {
		return nil, fmt.Errorf("tag %d at offset %d: %d value bytes read in all: %w", e.Tag, f.Base+e.Pos, f.used+n, ErrLimit)
	}
	f.used += n
	b := make([]byte, n)
	if m, err := f.r.ReadAt(b, e.Offset); int64(m) < n {
		return nil, fmt.Errorf("tag %d at offset %d: value at offset %d: %w", e.Tag, f.Base+e.Pos, f.Base+e.Offset, readErr(err))
	}
	return b, nil
}

// Bytes reads n bytes at off within the data, counted against the same
// budgets as values (used for thumbnails and strips that tags point to).
func (f *File) Bytes(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > f.size || n > f.size-off {
		return nil, fmt.Errorf("%d bytes at offset %d: %w", n, f.Base+off, ErrOutOfRange)
	}
	if n > f.lim.MaxValue || f.used+n > f.lim.MaxTotal {
		return nil, fmt.Errorf("%d bytes at offset %d: %w", n, f.Base+off, ErrLimit)
	}
	f.used += n
	b := make([]byte, n)
	if m, err := f.r.ReadAt(b, off); int64(m) < n {
		return nil, fmt.Errorf("%d bytes at offset %d: %w", n, f.Base+off, readErr(err))
	}
	return b, nil
}

// Reader returns a reader over n bytes at off, checked against the data's
// size (not against the budgets: the caller streams, for example to hash).
func (f *File) Reader(off, n int64) (*io.SectionReader, error) {
	if off < 0 || n < 0 || off > f.size || n > f.size-off {
		return nil, fmt.Errorf("%d bytes at offset %d: %w", n, f.Base+off, ErrOutOfRange)
	}
	return io.NewSectionReader(f.r, off, n), nil
}

// Uints returns the value of an unsigned integer field (BYTE, SHORT, LONG,
// LONG8, IFD, IFD8).
func (f *File) Uints(e Entry) ([]uint64, error) {
	switch e.Type {
	case Byte, Short, Long, Long8, IFD, IFD8:
	default:
		return nil, fmt.Errorf("tag %d at offset %d: %w", e.Tag, f.Base+e.Pos, ErrType)
	}
	b, err := f.Value(e)
	if err != nil {
		return nil, err
	}
	return DecodeUints(f.Order, e.Type, b), nil
}

// Floats returns the value of any numeric field as float64s (rationals
// divided out; a zero denominator gives NaN or ±Inf).
func (f *File) Floats(e Entry) ([]float64, error) {
	b, err := f.Value(e)
	if err != nil {
		return nil, err
	}
	v, ok := DecodeFloats(f.Order, e.Type, b)
	if !ok {
		return nil, fmt.Errorf("tag %d at offset %d: %w", e.Tag, f.Base+e.Pos, ErrType)
	}
	return v, nil
}

// ASCII returns the value of an ASCII (or BYTE/UNDEFINED) field as text,
// without trailing NULs.
func (f *File) ASCII(e Entry) (string, error) {
	switch e.Type {
	case ASCII, Byte, Undefined:
	default:
		return "", fmt.Errorf("tag %d at offset %d: %w", e.Tag, f.Base+e.Pos, ErrType)
	}
	b, err := f.Value(e)
	if err != nil {
		return "", err
	}
	return TrimNUL(b), nil
}

// TrimNUL returns b as a string without trailing NUL bytes.
func TrimNUL(b []byte) string {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b)
}

// DecodeUints decodes unsigned integer values; other types give nil.
func DecodeUints(o binary.ByteOrder, t Type, b []byte) []uint64 {
	s := t.Size()
	if s == 0 {
		return nil
	}
	out := make([]uint64, 0, len(b)/s)
	for i := 0; i+s <= len(b); i += s {
		switch t {
		case Byte:
			out = append(out, uint64(b[i]))
		case Short:
			out = append(out, uint64(o.Uint16(b[i:])))
		case Long, IFD:
			out = append(out, uint64(o.Uint32(b[i:])))
		case Long8, IFD8:
			out = append(out, o.Uint64(b[i:]))
		default:
			return nil
		}
	}
	return out
}

// DecodeFloats decodes any numeric type to float64s; ok is false for
// ASCII, UNDEFINED and unknown types.
func DecodeFloats(o binary.ByteOrder, t Type, b []byte) (v []float64, ok bool) {
	s := t.Size()
	if s == 0 || t == ASCII || t == Undefined {
		return nil, false
	}
	out := make([]float64, 0, len(b)/s)
	for i := 0; i+s <= len(b); i += s {
		p := b[i:]
		var x float64
		switch t {
		case Byte:
			x = float64(p[0])
		case SByte:
			x = float64(int8(p[0]))
		case Short:
			x = float64(o.Uint16(p))
		case SShort:
			x = float64(int16(o.Uint16(p)))
		case Long, IFD:
			x = float64(o.Uint32(p))
		case SLong:
			x = float64(int32(o.Uint32(p)))
		case Long8, IFD8:
			x = float64(o.Uint64(p))
		case SLong8:
			x = float64(int64(o.Uint64(p)))
		case Rational:
			x = float64(o.Uint32(p)) / float64(o.Uint32(p[4:]))
		case SRational:
			x = float64(int32(o.Uint32(p))) / float64(int32(o.Uint32(p[4:])))
		case Float:
			x = float64(math.Float32frombits(o.Uint32(p)))
		case Double:
			x = math.Float64frombits(o.Uint64(p))
		}
		out = append(out, x)
	}
	return out, true
}

// Problem is something wrong found while walking that did not stop the
// walk. Msg names the structure and offset, never content.
type Problem struct {
	Path   string
	Offset int64
	Msg    string
}

// Walk is the result of walking a file's directories.
type Walk struct {
	Dirs     []*Dir
	Problems []Problem
}

// Tags whose values point at child directories, with the names their
// directories get in paths.
var (
	ExifPointers = map[uint16]string{0x8769: "Exif", 0x8825: "GPSInfo", 0xA005: "Iop", 0x014A: "SubIFD"}
)

const maxChildren = 16 // SubIFDs followed per entry

// Walk reads the main directory chain from the header's first directory and
// the directories that entries whose tags are in children point to. It
// fails only when the first directory cannot be read; later trouble (bad
// offsets, loops, truncation, limits) is reported in Problems and the walk
// goes on with what it has. On success Dirs[0] is IFD0.
func (f *File) Walk(children map[uint16]string) (*Walk, error) {
	w := &Walk{}
	visited := map[uint64]bool{}
	next := f.FirstIFD
	if next == 0 {
		return nil, fmt.Errorf("IFD0 at offset 0: %w", ErrOutOfRange)
	}
	for i := 0; next != 0; i++ {
		path := fmt.Sprintf("IFD%d", i)
		if visited[next] {
			w.Problems = append(w.Problems, Problem{path, f.at(next), "directory chain loops back to an earlier directory"})
			break
		}
		if len(w.Dirs) >= f.lim.MaxDirs {
			w.Problems = append(w.Problems, Problem{path, f.at(next), "directory limit reached; rest not read"})
			break
		}
		visited[next] = true
		d, err := f.ReadDir(next, path)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			w.Problems = append(w.Problems, Problem{path, f.at(next), err.Error()})
			break
		}
		if d.Truncated {
			w.Problems = append(w.Problems, Problem{path, f.Base + d.Offset, "directory cut short by the end of the data"})
		}
		w.Dirs = append(w.Dirs, d)
		prefix := path
		if i == 0 {
			prefix = "IFD"
		}
		f.walkChildren(w, d, prefix, children, visited, 1)
		next = d.Next
	}
	return w, nil
}

const maxDepth = 4

func (f *File) walkChildren(w *Walk, d *Dir, prefix string, children map[uint16]string, visited map[uint64]bool, depth int) {
	for _, e := range d.Entries {
		name, ok := children[e.Tag]
		if !ok {
			continue
		}
		offs, err := f.Uints(e)
		if err != nil || len(offs) == 0 {
			w.Problems = append(w.Problems, Problem{d.Path, f.Base + e.Pos, fmt.Sprintf("tag %d: pointer to a directory unreadable", e.Tag)})
			continue
		}
		if len(offs) > maxChildren {
			w.Problems = append(w.Problems, Problem{d.Path, f.Base + e.Pos, fmt.Sprintf("tag %d: %d directory pointers, only %d followed", e.Tag, len(offs), maxChildren)})
			offs = offs[:maxChildren]
		}
		for j, off := range offs {
			path := prefix + "/" + name
			if e.Tag == 0x014A {
				path = fmt.Sprintf("%s/%s%d", prefix, name, j)
			}
			switch {
			case off == 0:
				continue
			case depth > maxDepth:
				w.Problems = append(w.Problems, Problem{path, f.at(off), "directories nested too deep; not read"})
				continue
			case visited[off]:
				w.Problems = append(w.Problems, Problem{path, f.at(off), "pointer to a directory already read (loop)"})
				continue
			case len(w.Dirs) >= f.lim.MaxDirs:
				w.Problems = append(w.Problems, Problem{path, f.at(off), "directory limit reached; not read"})
				continue
			}
			visited[off] = true
			c, err := f.ReadDir(off, path)
			if err != nil {
				w.Problems = append(w.Problems, Problem{path, f.at(off), err.Error()})
				continue
			}
			if c.Truncated {
				w.Problems = append(w.Problems, Problem{path, f.Base + c.Offset, "directory cut short by the end of the data"})
			}
			w.Dirs = append(w.Dirs, c)
			f.walkChildren(w, c, path, children, visited, depth+1)
		}
	}
}
