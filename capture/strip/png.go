package strip

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// pngKept lists the chunks copied whatever the profile: the critical
// chunks, those that change how the pixels display (transparency, gamma,
// chromaticities, colour space, significant bits, background, pixel
// size, HDR colour information) and the APNG animation chunks.
var pngKept = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true,
	"tRNS": true, "gAMA": true, "cHRM": true, "sRGB": true, "sBIT": true,
	"bKGD": true, "pHYs": true, "cICP": true, "mDCv": true, "cLLi": true,
	"acTL": true, "fcTL": true, "fdAT": true,
}

// stripPNG copies the chunks in pngKept, checking their CRCs, keeps iCCP
// when p keeps the colour profile, replaces eXIf by what keptEXIF keeps,
// and drops every other chunk (tEXt, zTXt, iTXt, tIME, private chunks) and
// whatever follows IEND. An unknown critical chunk is ErrUnsupported: a
// decoder cannot do without it, so it can be neither dropped nor copied
// blind.
func stripPNG(ctx context.Context, r io.ReaderAt, size int64, p Profile, w io.Writer) (*Report, error) {
	s := newSrcFile(ctx, r, size, PNG)
	d := newDstStream(w, PNG)
	t := &tally{unit: "chunks"}
	if err := pngWalk(s, d, t, p); err != nil {
		return nil, err
	}
	if err := d.flush(); err != nil {
		return nil, err
	}
	return t.report(PNG), nil
}

func pngWalk(s *srcFile, d *dstStream, t *tally, p Profile) error {
	var sig [8]byte
	if err := s.readAt(sig[:], 0, "PNG signature"); err != nil {
		return err
	}
	if string(sig[:]) != pngSignature {
		return s.fail(0, "no PNG signature: not a PNG file")
	}
	if err := d.write(sig[:]); err != nil {
		return err
	}
	exifSeen := false
	pos := int64(len(pngSignature))
	for n := 0; ; n++ {
		if n%64 == 0 {
			if err := s.checkCtx(); err != nil {
				return err
			}
		}
		var hdr [8]byte
		if err := s.readAt(hdr[:], pos, "chunk header (the file has no IEND chunk)"); err != nil {
			return err
		}
		length := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := hdr[4:8]
		if length > 1<<31-1 {
			return s.fail(pos, "chunk length above 2^31-1")
		}
		if !pngValidType(typ) {
			return s.fail(pos+4, "chunk type is not four ASCII letters")
		}
		name := string(typ)
		end := pos + 12 + length
		if end > s.size {
			return s.fail(pos, name+" chunk runs past the end of the file")
		}
		if n == 0 && (name != "IHDR" || length != 13) {
			return s.fail(pos, "first chunk is not a 13-byte IHDR")
		}
		switch {
		case name == "IEND":
			if length != 0 {
				// A decoder reads nothing there: write an empty IEND.
				t.remove("IEND data (" + strconv.FormatInt(length, 10) + " bytes)")
				if err := pngWriteChunk(d, "IEND", nil); err != nil {
					return err
				}
			} else if err := pngCopyChunk(s, d, pos, hdr[:], length); err != nil {
				return err
			}
			if rest := s.size - end; rest > 0 {
				t.remove("after IEND (" + strconv.FormatInt(rest, 10) + " bytes)")
			}
			return nil
		case pngKept[name] || name == "iCCP" && p.Keeps(ColorProfile):
			if err := pngCopyChunk(s, d, pos, hdr[:], length); err != nil {
				return err
			}
			if typ[0] >= 'a' { // ancillary
				t.keep(name)
			}
		case name == "eXIf":
			if err := pngEXIf(s, d, t, p, pos, length, &exifSeen); err != nil {
				return err
			}
		case typ[0] < 'a': // critical, unknown
			return fmt.Errorf("%w: png critical chunk %s at offset %d", ErrUnsupported, name, pos)
		default:
			t.remove(name)
		}
		pos = end
	}
}

// pngEXIf rewrites the eXIf chunk at pos, whose data is length bytes long.
func pngEXIf(s *srcFile, d *dstStream, t *tally, p Profile, pos, length int64, exifSeen *bool) error {
	switch {
	case *exifSeen:
		t.remove("eXIf (duplicate)")
		return nil
	case length > maxContainerEXIF:
		t.remove("eXIf (too large to read, dropped whole)")
		return nil
	}
	*exifSeen = true
	b := make([]byte, 4+length+4)
	if err := s.readAt(b, pos+4, "eXIf chunk"); err != nil {
		return err
	}
	if crc32.ChecksumIEEE(b[:4+length]) != binary.BigEndian.Uint32(b[4+length:]) {
		return s.fail(pos, "CRC mismatch in eXIf chunk")
	}
	if kept := rewriteEXIF(t, "eXIf", b[4:4+length], p, 1<<31-1); kept != nil {
		return pngWriteChunk(d, "eXIf", kept)
	}
	return nil
}

// pngCopyChunk copies the chunk at pos, whose 8-byte header is hdr, and
// checks its CRC.
func pngCopyChunk(s *srcFile, d *dstStream, pos int64, hdr []byte, length int64) error {
	h := crc32.NewIEEE()
	h.Write(hdr[4:8])
	if err := d.write(hdr); err != nil {
		return err
	}
	name := string(hdr[4:8])
	if err := s.copyTo(d, pos+8, length, h, name+" chunk"); err != nil {
		return err
	}
	var crc [4]byte
	if err := s.readAt(crc[:], pos+8+length, name+" chunk CRC"); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(crc[:]) != h.Sum32() {
		return s.fail(pos, "CRC mismatch in "+name+" chunk")
	}
	return d.write(crc[:])
}

// pngWriteChunk writes a chunk of type typ with data b and its CRC.
func pngWriteChunk(d *dstStream, typ string, b []byte) error {
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(b)))
	copy(hdr[4:], typ)
	h := crc32.NewIEEE()
	h.Write(hdr[4:])
	h.Write(b)
	if err := d.write(hdr[:]); err != nil {
		return err
	}
	if err := d.write(b); err != nil {
		return err
	}
	return d.write(binary.BigEndian.AppendUint32(nil, h.Sum32()))
}

func pngValidType(b []byte) bool {
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
