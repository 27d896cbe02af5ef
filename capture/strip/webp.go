package strip

import (
	"context"
	"encoding/binary"
	"io"
	"strconv"
	"strings"
)

// VP8X flags.
const (
	webpFlagAnimation = 0x02
	webpFlagXMP       = 0x04
	webpFlagEXIF      = 0x08
	webpFlagAlpha     = 0x10
	webpFlagICC       = 0x20
	// webpVP8XLen is the length of the VP8X payload: flags, three
	// reserved bytes, canvas width and height less one (24 bits each).
	webpVP8XLen = 10
)

// stripWebP copies a simple WebP (one VP8 or VP8L chunk) as it is, and
// from an extended one (VP8X) keeps VP8X with its flags fixed, ICCP when p
// keeps the colour profile, ANIM, ANMF, ALPH, VP8 and VP8L, replaces EXIF
// by what keptEXIF keeps, and drops XMP, unknown chunks and whatever
// follows the RIFF chunk.
//
// VP8X comes first but its flags depend on what is kept after it, so the
// chunks are walked twice: once to decide (and to rewrite the EXIF, the
// only thing held in memory), once to write. Nothing is remembered per
// chunk, so a file of millions of chunks costs no memory.
func stripWebP(ctx context.Context, r io.ReaderAt, size int64, p Profile, w io.Writer) (*Report, error) {
	s := newSrcFile(ctx, r, size, WebP)
	defer s.release()
	wp := &webpStrip{s: s, p: p, t: &tally{unit: "chunks"}}
	if err := wp.header(); err != nil {
		return nil, err
	}
	if err := wp.pass(nil); err != nil {
		return nil, err
	}
	d := newDstStream(w, WebP)
	defer d.release()
	var hdr [12]byte
	copy(hdr[:], "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(wp.outSize))
	copy(hdr[8:], "WEBP")
	if err := d.write(hdr[:]); err != nil {
		return nil, err
	}
	if err := wp.pass(d); err != nil {
		return nil, err
	}
	if err := d.flush(); err != nil {
		return nil, err
	}
	if rest := size - wp.riffEnd; rest > 0 {
		wp.t.remove("after RIFF (" + strconv.FormatInt(rest, 10) + " bytes)")
	}
	return wp.t.report(WebP), nil
}

type webpStrip struct {
	s       *srcFile
	p       Profile
	t       *tally
	riffEnd int64

	// Decided by the first pass.
	extended bool
	keepICC  bool
	exif     []byte // rewritten EXIF, nil when none is kept
	outSize  int64  // RIFF size of the copy
}

func (wp *webpStrip) header() error {
	var hdr [12]byte
	if err := wp.s.readAt(hdr[:], 0, "RIFF header"); err != nil {
		return err
	}
	if string(hdr[:4]) != "RIFF" || string(hdr[8:]) != "WEBP" {
		return wp.s.fail(0, "no RIFF WEBP header: not a WebP file")
	}
	n := int64(binary.LittleEndian.Uint32(hdr[4:]))
	if n < 4+8 {
		return wp.s.fail(4, "RIFF size too small to hold a chunk")
	}
	wp.riffEnd = 8 + n
	if wp.riffEnd > wp.s.size {
		return wp.s.fail(4, "RIFF size runs past the end of the file")
	}
	return nil
}

// webpChunk is one chunk's header.
type webpChunk struct {
	fourcc string
	off    int64 // of the header
	size   int64 // of the payload
	next   int64 // offset of the next chunk, after any padding
}

// chunkAt reads the chunk header at pos.
func (wp *webpStrip) chunkAt(pos int64) (webpChunk, error) {
	var hdr [8]byte
	if pos+8 > wp.riffEnd {
		return webpChunk{}, wp.s.fail(pos, "chunk header cut short by the end of the RIFF chunk")
	}
	if err := wp.s.readAt(hdr[:], pos, "chunk header"); err != nil {
		return webpChunk{}, err
	}
	c := webpChunk{fourcc: string(hdr[:4]), off: pos, size: int64(binary.LittleEndian.Uint32(hdr[4:]))}
	end := pos + 8 + c.size
	if end > wp.riffEnd {
		return webpChunk{}, wp.s.fail(pos, "chunk runs past the end of the RIFF chunk")
	}
	c.next = end + c.size&1
	if c.next > wp.riffEnd { // an odd last chunk whose padding byte is missing: tolerated
		c.next = wp.riffEnd
	}
	return c, nil
}

// pass walks the chunks. With d nil it decides what is kept and how large
// the copy is; with d set it writes the kept chunks to d and tallies the
// rest. Both passes make the same decisions.
func (wp *webpStrip) pass(d *dstStream) error {
	first := true
	vp8xSeen, iccSeen, exifSeen, image := false, false, false, false
	out := int64(4) // "WEBP"
	for pos, n := int64(12), 0; pos < wp.riffEnd; n++ {
		if n%64 == 0 {
			if err := wp.s.checkCtx(); err != nil {
				return err
			}
		}
		c, err := wp.chunkAt(pos)
		if err != nil {
			return err
		}
		pos = c.next
		if first {
			first = false
			switch c.fourcc {
			case "VP8X":
				wp.extended = true
			case "VP8 ", "VP8L":
			default:
				return wp.s.fail(c.off, "first chunk is not VP8, VP8L or VP8X")
			}
		}
		keep := false
		switch c.fourcc {
		case "VP8X":
			if vp8xSeen || !wp.extended {
				wp.tallyRemove(d, "VP8X (misplaced)")
				continue
			}
			vp8xSeen = true
			if c.size < webpVP8XLen {
				return wp.s.fail(c.off, "VP8X chunk shorter than 10 bytes")
			}
			if d != nil {
				if err := wp.writeVP8X(d, c); err != nil {
					return err
				}
			}
			out += 8 + webpVP8XLen
			continue
		case "VP8 ", "VP8L":
			// A simple file is its one image chunk.
			keep = wp.extended || !image
			image = true
		case "ANMF":
			keep = wp.extended
			image = true
		case "ANIM", "ALPH":
			keep = wp.extended
		case "ICCP":
			if wp.extended && !iccSeen && wp.p.Keeps(ColorProfile) {
				iccSeen = true
				wp.keepICC = true
				keep = true
				if d != nil {
					wp.t.keep("ICCP")
				}
			}
		case "EXIF":
			if !wp.extended || exifSeen {
				break
			}
			exifSeen = true
			if d == nil {
				if err := wp.rewriteEXIF(c); err != nil {
					return err
				}
			} else if wp.exif != nil {
				if err := wp.writeChunk(d, "EXIF", wp.exif); err != nil {
					return err
				}
			}
			if wp.exif != nil {
				out += 8 + int64(len(wp.exif)) + int64(len(wp.exif)&1)
			}
			continue
		}
		if !keep {
			wp.tallyRemove(d, webpChunkName(c.fourcc))
			continue
		}
		out += 8 + c.size + c.size&1
		if d != nil {
			if err := wp.copyChunk(d, c); err != nil {
				return err
			}
		}
	}
	if !image {
		return wp.s.fail(12, "no image chunk (VP8, VP8L or ANMF)")
	}
	if out > 0xFFFFFFFF {
		return wp.s.fail(4, "copy would not fit a RIFF chunk")
	}
	wp.outSize = out
	return nil
}

func (wp *webpStrip) tallyRemove(d *dstStream, name string) {
	if d != nil {
		wp.t.remove(name)
	}
}

// rewriteEXIF reads the EXIF chunk c and keeps what the profile keeps. In
// the first pass only: the tally then says what became of it.
func (wp *webpStrip) rewriteEXIF(c webpChunk) error {
	if c.size > maxContainerEXIF {
		wp.t.remove("EXIF (too large to read, dropped whole)")
		return nil
	}
	b := make([]byte, c.size)
	if err := wp.s.readAt(b, c.off+8, "EXIF chunk"); err != nil {
		return err
	}
	// Some writers put JPEG's "Exif\0\0" before the TIFF header.
	if strings.HasPrefix(string(b[:min(len(b), 6)]), "Exif\x00\x00") {
		b = b[6:]
	}
	wp.exif = rewriteEXIF(wp.t, "EXIF", b, wp.p, 0xFFFFFFFF-64)
	return nil
}

// writeVP8X writes the VP8X chunk c with its flags set to what the copy
// holds: animation and alpha as they were, ICC and EXIF as kept, XMP and
// the reserved bits cleared.
func (wp *webpStrip) writeVP8X(d *dstStream, c webpChunk) error {
	var b [webpVP8XLen]byte
	if err := wp.s.readAt(b[:], c.off+8, "VP8X chunk"); err != nil {
		return err
	}
	flags := b[0] & (webpFlagAnimation | webpFlagAlpha)
	if wp.keepICC {
		flags |= webpFlagICC
	}
	if wp.exif != nil {
		flags |= webpFlagEXIF
	}
	b[0] = flags
	b[1], b[2], b[3] = 0, 0, 0
	return wp.writeChunk(d, "VP8X", b[:])
}

// writeChunk writes a chunk with payload b, padded to an even length.
func (wp *webpStrip) writeChunk(d *dstStream, fourcc string, b []byte) error {
	var hdr [8]byte
	copy(hdr[:], fourcc)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(b)))
	if err := d.write(hdr[:]); err != nil {
		return err
	}
	if err := d.write(b); err != nil {
		return err
	}
	if len(b)&1 == 1 {
		return d.write([]byte{0})
	}
	return nil
}

// copyChunk copies chunk c byte for byte, padding it with a zero byte when
// its size is odd.
func (wp *webpStrip) copyChunk(d *dstStream, c webpChunk) error {
	if err := wp.s.copyTo(d, c.off, 8+c.size, nil, webpChunkName(c.fourcc)+" chunk"); err != nil {
		return err
	}
	if c.size&1 == 1 {
		return d.write([]byte{0})
	}
	return nil
}

// webpChunkName names a chunk for a Report: its FourCC without trailing
// spaces when printable.
func webpChunkName(fourcc string) string {
	for i := 0; i < len(fourcc); i++ {
		if fourcc[i] < 0x20 || fourcc[i] > 0x7E {
			return "unnamed chunk"
		}
	}
	return strings.TrimRight(fourcc, " ")
}
