package strip

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// This file writes TIFF structure: a header, image file directories and
// their out-of-line values, and (for whole TIFF files) data blocks streamed
// from the source after them. The layout is computed first, so that every
// offset is known before the first byte is written; then the output is
// written front to back to an io.Writer. Image data is never held in memory:
// only the directories and their values are.

// ifdField is one directory entry to write. Its value is exactly one of:
// data (the bytes of the value, already in the output's byte order), dirs
// (offsets of child directories: EXIF, GPS) or blocks (offsets of data
// blocks: strips, tiles).
type ifdField struct {
	tag   uint16
	typ   tiff.Type
	count uint64
	data  []byte
	dirs  []*ifdDir
	// blocks index tiffLayout.blocks; -1 is a sparse block, written as
	// offset 0.
	blocks []int32

	valOff int64 // set by layout when the value does not fit in the entry
}

// ifdDir is one directory to write. Its fields are sorted by tag when laid
// out; a tag may appear once.
type ifdDir struct {
	fields []ifdField
	off    int64 // set by layout
}

// add appends a field with a literal value.
func (d *ifdDir) add(tag uint16, typ tiff.Type, count uint64, data []byte) {
	d.fields = append(d.fields, ifdField{tag: tag, typ: typ, count: count, data: data})
}

// has reports whether the directory has a field with the tag.
func (d *ifdDir) has(tag uint16) bool {
	for _, f := range d.fields {
		if f.tag == tag {
			return true
		}
	}
	return false
}

// dataBlock is a run of bytes copied unchanged from the source: a strip or
// a tile.
type dataBlock struct {
	src, n int64 // where in the source
	out    int64 // where in the output, set by layout
}

// tiffLayout is a TIFF file (or TIFF-structured EXIF block) to write.
type tiffLayout struct {
	order binary.ByteOrder
	big   bool
	// chain is the main directory chain (IFD0, IFD1, …).
	chain []*ifdDir
	// blocks are the data blocks, sorted by src, not overlapping; they are
	// written in this order after all directories and values.
	blocks []dataBlock

	seq       []*ifdDir // directories in write order, set by layout
	dataStart int64     // where the first block goes
	size      int64     // total output size
}

// errClassicTooBig says that a classic TIFF cannot address the output.
var errClassicTooBig = errors.New("output exceeds 4 GiB, the limit of classic TIFF")

func (t *tiffLayout) headerLen() int64 {
	if t.big {
		return 16
	}
	return 8
}

// align is the alignment of directories and out-of-line values: TIFF
// requires word (2-byte) boundaries; BigTIFF writers use 8.
func (t *tiffLayout) align(pos int64) int64 {
	a := int64(2)
	if t.big {
		a = 8
	}
	return (pos + a - 1) &^ (a - 1)
}

func (t *tiffLayout) dirLen(n int) int64 {
	if t.big {
		return 8 + int64(n)*20 + 8
	}
	return 2 + int64(n)*12 + 4
}

// inlineLen is how many value bytes fit inside an entry.
func (t *tiffLayout) inlineLen() int64 {
	if t.big {
		return 8
	}
	return 4
}

// fieldType is the type written for f: pointer and offset fields take the
// offset size of the output.
func (t *tiffLayout) fieldType(f *ifdField) tiff.Type {
	switch {
	case f.dirs != nil && t.big:
		return tiff.IFD8 // as libtiff writes it; readers look for it
	case f.dirs != nil && f.typ == tiff.IFD:
		return tiff.IFD
	case f.dirs != nil, f.blocks != nil && !t.big:
		return tiff.Long
	case f.blocks != nil:
		return tiff.Long8
	}
	return f.typ
}

func (t *tiffLayout) fieldCount(f *ifdField) uint64 {
	switch {
	case f.dirs != nil:
		return uint64(len(f.dirs))
	case f.blocks != nil:
		return uint64(len(f.blocks))
	}
	return f.count
}

// valueLen is the size of f's value in bytes.
func (t *tiffLayout) valueLen(f *ifdField) (int64, error) {
	n := t.fieldCount(f)
	s := uint64(t.fieldType(f).Size())
	if s == 0 {
		return 0, fmt.Errorf("tag 0x%04X: type %d: %w", f.tag, uint16(f.typ), tiff.ErrType)
	}
	if n > math.MaxInt32/s {
		return 0, fmt.Errorf("tag 0x%04X: value of %d values: %w", f.tag, n, tiff.ErrLimit)
	}
	if !t.big && n > math.MaxUint32 {
		return 0, fmt.Errorf("tag 0x%04X: count %d: %w", f.tag, n, errClassicTooBig)
	}
	if f.dirs == nil && f.blocks == nil && uint64(len(f.data)) != n*s {
		return 0, fmt.Errorf("tag 0x%04X: %d value bytes for %d × %d", f.tag, len(f.data), n, s)
	}
	return int64(n * s), nil
}

// layout places every directory, value and block and computes the output
// size. It fails with errClassicTooBig when a classic TIFF would need
// offsets beyond 4 GiB: the caller then sets big and lays out again.
func (t *tiffLayout) layout() error {
	t.seq = t.seq[:0]
	placed := map[*ifdDir]bool{}
	pos := t.headerLen()
	var place func(d *ifdDir, depth int) error
	place = func(d *ifdDir, depth int) error {
		if placed[d] || depth > 8 {
			return errors.New("directory referenced twice or nested too deep")
		}
		placed[d] = true
		slices.SortStableFunc(d.fields, func(a, b ifdField) int { return int(a.tag) - int(b.tag) })
		for i := 1; i < len(d.fields); i++ {
			if d.fields[i].tag == d.fields[i-1].tag {
				return fmt.Errorf("tag 0x%04X written twice in one directory", d.fields[i].tag)
			}
		}
		pos = t.align(pos)
		d.off = pos
		t.seq = append(t.seq, d)
		pos += t.dirLen(len(d.fields))
		for i := range d.fields {
			f := &d.fields[i]
			n, err := t.valueLen(f)
			if err != nil {
				return err
			}
			f.valOff = 0
			if n > t.inlineLen() {
				pos = t.align(pos)
				f.valOff = pos
				pos += n
			}
		}
		for i := range d.fields {
			for _, c := range d.fields[i].dirs {
				if err := place(c, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if len(t.chain) == 0 {
		return errors.New("no directory to write")
	}
	for _, d := range t.chain {
		if err := place(d, 0); err != nil {
			return err
		}
	}
	pos = t.align(pos)
	t.dataStart = pos
	for i := range t.blocks {
		b := &t.blocks[i]
		if i > 0 && b.src < t.blocks[i-1].src+t.blocks[i-1].n {
			return errors.New("data blocks overlap or are out of order")
		}
		b.out = pos
		pos += b.n
	}
	t.size = pos
	if !t.big && pos > math.MaxUint32 {
		return errClassicTooBig
	}
	return nil
}

// layoutFit lays out as classic TIFF when the output fits in 4 GiB and as
// BigTIFF otherwise (or when big is already set).
func (t *tiffLayout) layoutFit() error {
	err := t.layout()
	if errors.Is(err, errClassicTooBig) {
		t.big = true
		err = t.layout()
	}
	return err
}

// meta returns the bytes from the header up to the first data block:
// header, directories, values and padding. layout must have succeeded.
func (t *tiffLayout) meta() []byte {
	o := t.order
	b := make([]byte, t.dataStart)
	if o == binary.BigEndian {
		copy(b, "MM")
	} else {
		copy(b, "II")
	}
	if t.big {
		o.PutUint16(b[2:], 43)
		o.PutUint16(b[4:], 8)
		o.PutUint64(b[8:], uint64(t.chain[0].off))
	} else {
		o.PutUint16(b[2:], 42)
		o.PutUint32(b[4:], uint32(t.chain[0].off))
	}
	next := map[*ifdDir]int64{}
	for i := 0; i+1 < len(t.chain); i++ {
		next[t.chain[i]] = t.chain[i+1].off
	}
	putOff := func(p []byte, v int64) {
		if t.big {
			o.PutUint64(p, uint64(v))
		} else {
			o.PutUint32(p, uint32(v))
		}
	}
	for _, d := range t.seq {
		p := b[d.off:]
		entryLen, countLen := 12, 2
		if t.big {
			entryLen, countLen = 20, 8
			o.PutUint64(p, uint64(len(d.fields)))
		} else {
			o.PutUint16(p, uint16(len(d.fields)))
		}
		for i := range d.fields {
			f := &d.fields[i]
			e := p[countLen+i*entryLen:]
			typ := t.fieldType(f)
			n := t.fieldCount(f)
			o.PutUint16(e[0:], f.tag)
			o.PutUint16(e[2:], uint16(typ))
			var field []byte
			if t.big {
				o.PutUint64(e[4:], n)
				field = e[12:20]
			} else {
				o.PutUint32(e[4:], uint32(n))
				field = e[8:12]
			}
			dst := field
			if f.valOff != 0 {
				putOff(field, f.valOff)
				dst = b[f.valOff:]
			}
			sz := typ.Size()
			switch {
			case f.dirs != nil:
				for j, c := range f.dirs {
					putOff(dst[j*sz:], c.off)
				}
			case f.blocks != nil:
				for j, bi := range f.blocks {
					var v int64
					if bi >= 0 {
						v = t.blocks[bi].out
					}
					putOff(dst[j*sz:], v)
				}
			default:
				copy(dst, f.data)
			}
		}
		putOff(p[countLen+len(d.fields)*entryLen:], next[d])
	}
	return b
}

// copyChunk bounds one read from the source, so that cancellation is seen
// within a chunk's time even in a single multi-gigabyte strip.
const copyChunk = 32 << 20

// writeTo writes the laid-out file to w, copying the data blocks from src
// byte for byte. Blocks adjacent in the source are copied in one run.
func (t *tiffLayout) writeTo(ctx context.Context, w io.Writer, src io.ReaderAt) (int64, error) {
	written, err := w.Write(t.meta())
	total := int64(written)
	if err != nil {
		return total, err
	}
	var data int64
	for _, b := range t.blocks {
		data += b.n
	}
	buf := make([]byte, min(1<<20, max(data, 512)))
	for i := 0; i < len(t.blocks); {
		start, end := t.blocks[i].src, t.blocks[i].src+t.blocks[i].n
		j := i + 1
		for j < len(t.blocks) && t.blocks[j].src == end {
			end += t.blocks[j].n
			j++
		}
		for off := start; off < end; {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			n := min(end-off, copyChunk)
			m, err := io.CopyBuffer(w, io.NewSectionReader(src, off, n), buf)
			total += m
			if err != nil {
				return total, err
			}
			if m != n {
				return total, fmt.Errorf("data at offset %d: %w", off+m, io.ErrUnexpectedEOF)
			}
			off += n
		}
		i = j
	}
	if total != t.size {
		return total, fmt.Errorf("wrote %d bytes, laid out %d", total, t.size)
	}
	return total, nil
}

// encode returns the laid-out structure as bytes; it is for blocks without
// data (EXIF).
func (t *tiffLayout) encode() ([]byte, error) {
	if len(t.blocks) != 0 {
		return nil, errors.New("encode: layout has data blocks")
	}
	if err := t.layout(); err != nil {
		return nil, err
	}
	return t.meta(), nil
}
