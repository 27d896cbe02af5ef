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
	defer s.release()
	d := newDstStream(w, PNG)
	defer d.release()
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
	// The kept EXIF is written before the image data, wherever the
	// original had it: readers may ignore an eXIf after IDAT, and
	// orientation must not be ignored.
	exif, err := pngKeptEXIf(s, t, p)
	if err != nil {
		return err
	}
	writeEXIf := func() error {
		if exif == nil {
			return nil
		}
		b := exif
		exif = nil
		return pngWriteChunk(d, "eXIf", b)
	}
	exifSeen := false
	err = pngChunks(s, func(pos int64, hdr []byte, length int64) (bool, error) {
		name := string(hdr[4:8])
		switch {
		case name == "IEND":
			if err := writeEXIf(); err != nil {
				return false, err
			}
			if length != 0 {
				// A decoder reads nothing there: write an empty IEND.
				t.remove("IEND data (" + strconv.FormatInt(length, 10) + " bytes)")
				if err := pngWriteChunk(d, "IEND", nil); err != nil {
					return false, err
				}
			} else if err := pngCopyChunk(s, d, pos, hdr, length); err != nil {
				return false, err
			}
			if rest := s.size - (pos + 12 + length); rest > 0 {
				t.remove("after IEND (" + strconv.FormatInt(rest, 10) + " bytes)")
			}
			return false, nil
		case pngKept[name] || name == "iCCP" && p.Keeps(ColorProfile):
			if name == "IDAT" || name == "fcTL" {
				if err := writeEXIf(); err != nil {
					return false, err
				}
			}
			if err := pngCopyChunk(s, d, pos, hdr, length); err != nil {
				return false, err
			}
			if hdr[4] >= 'a' { // ancillary
				t.keep(name)
			}
		case name == "eXIf":
			if exifSeen { // the first was handled by pngKeptEXIf
				t.remove("eXIf (duplicate)")
			}
			exifSeen = true
		case hdr[4] < 'a': // critical, unknown
			return false, fmt.Errorf("%w: png critical chunk %s at offset %d", ErrUnsupported, name, pos)
		default:
			t.remove(name)
		}
		return true, nil
	})
	return err
}

// pngChunks calls fn with the offset, 8-byte header and data length of
// each chunk after the signature, checked to lie within the file, until fn
// returns false or an error. A file that ends before IEND is a
// FormatError.
func pngChunks(s *srcFile, fn func(pos int64, hdr []byte, length int64) (bool, error)) error {
	pos := int64(len(pngSignature))
	var hdr [8]byte
	for n := 0; ; n++ {
		if n%64 == 0 {
			if err := s.checkCtx(); err != nil {
				return err
			}
		}
		if err := s.readAt(hdr[:], pos, "chunk header (the file has no IEND chunk)"); err != nil {
			return err
		}
		length := int64(binary.BigEndian.Uint32(hdr[:4]))
		if length > 1<<31-1 {
			return s.fail(pos, "chunk length above 2^31-1")
		}
		if !pngValidType(hdr[4:8]) {
			return s.fail(pos+4, "chunk type is not four ASCII letters")
		}
		end := pos + 12 + length
		if end > s.size {
			return s.fail(pos, string(hdr[4:8])+" chunk runs past the end of the file")
		}
		if n == 0 && (string(hdr[4:8]) != "IHDR" || length != 13) {
			return s.fail(pos, "first chunk is not a 13-byte IHDR")
		}
		more, err := fn(pos, hdr[:], length)
		if err != nil || !more {
			return err
		}
		pos = end
	}
}

// pngKeptEXIf finds the first eXIf chunk and returns what keptEXIF keeps
// of it, nil when nothing. Only chunk headers are read on the way.
func pngKeptEXIf(s *srcFile, t *tally, p Profile) ([]byte, error) {
	var kept []byte
	err := pngChunks(s, func(pos int64, hdr []byte, length int64) (bool, error) {
		switch string(hdr[4:8]) {
		case "IEND":
			return false, nil
		case "eXIf":
		default:
			return true, nil
		}
		if length > maxContainerEXIF {
			t.remove("eXIf (too large to read, dropped whole)")
			return false, nil
		}
		b := make([]byte, 4+length+4)
		if err := s.readAt(b, pos+4, "eXIf chunk"); err != nil {
			return false, err
		}
		if crc32.ChecksumIEEE(b[:4+length]) != binary.BigEndian.Uint32(b[4+length:]) {
			return false, s.fail(pos, "CRC mismatch in eXIf chunk")
		}
		kept = rewriteEXIF(t, "eXIf", b[4:4+length], p, 1<<31-1)
		return false, nil
	})
	return kept, err
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
