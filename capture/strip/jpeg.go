package strip

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
)

// JPEG APPn signatures.
var (
	jpegSigJFIF        = []byte("JFIF\x00")
	jpegSigJFXX        = []byte("JFXX\x00")
	jpegSigExif        = []byte("Exif\x00")
	jpegSigXMP         = []byte("http://ns.adobe.com/xap/1.0/\x00")
	jpegSigXMPExtended = []byte("http://ns.adobe.com/xmp/extension/\x00")
	jpegSigICC         = []byte("ICC_PROFILE\x00")
	jpegSigMPF         = []byte("MPF\x00")
	jpegSigPhotoshop   = []byte("Photoshop 3.0\x00")
	jpegSigAdobe       = []byte("Adobe")
)

const (
	// jpegJFIFLen is the length of an APP0 JFIF body up to and including
	// the thumbnail dimensions; the thumbnail pixels follow.
	jpegJFIFLen = 14
	// jpegAdobeLen is the length of an APP14 Adobe body, whose last byte
	// (the colour transform) changes decoding.
	jpegAdobeLen = 12
	// jpegMaxFill caps a run of fill bytes (0xFF) before a marker.
	jpegMaxFill = 64 << 10
	// jpegMaxSegment is the largest segment body (a 16-bit length, less
	// the two bytes of the length itself).
	jpegMaxSegment = 0xFFFF - 2
)

// stripJPEG copies the segments a decoder needs (SOI, DQT, DHT, DAC, SOFn,
// DRI, DHP, EXP, SOS and the entropy-coded data with its restart markers,
// DNL, EOI), rewrites APP0 JFIF without its thumbnail and APP14 Adobe
// without anything past its transform byte, keeps APP2 ICC_PROFILE when p
// keeps the colour profile, replaces APP1 Exif by what keptEXIF keeps, and
// drops every other APPn, COM, and whatever follows EOI.
//
// The walk is strict: data where a marker should be is a FormatError, not
// skipped as some decoders do, because what is skipped there could be a
// metadata segment whose length lies, and copying its inside would copy
// metadata.
func stripJPEG(ctx context.Context, r io.ReaderAt, size int64, p Profile, w io.Writer) (*Report, error) {
	s := newSrcFile(ctx, r, size, JPEG)
	defer s.release()
	d := newDstStream(w, JPEG)
	defer d.release()
	t := &tally{unit: "segments"}
	if err := jpegWalk(s, d, t, p); err != nil {
		return nil, err
	}
	if err := d.flush(); err != nil {
		return nil, err
	}
	return t.report(JPEG), nil
}

func jpegWalk(s *srcFile, d *dstStream, t *tally, p Profile) error {
	var hdr [4]byte
	if err := s.readAt(hdr[:2], 0, "start-of-image marker"); err != nil {
		return err
	}
	if hdr[0] != 0xFF || hdr[1] != 0xD8 {
		return s.fail(0, "no start-of-image marker: not a JPEG file")
	}
	if err := d.write(hdr[:2]); err != nil {
		return err
	}
	var seg []byte // grown to the largest APPn or COM body met
	exifSeen := false
	pos := int64(2)
	for n := 0; ; n++ {
		if n%64 == 0 {
			if err := s.checkCtx(); err != nil {
				return err
			}
		}
		if err := s.readAt(hdr[:2], pos, "marker (the file has no end-of-image marker)"); err != nil {
			return err
		}
		if hdr[0] != 0xFF {
			return s.fail(pos, "data where a marker should be")
		}
		// Fill bytes: any number of 0xFF may precede a marker. They are
		// not copied.
		mk := hdr[1]
		if mk == 0xFF {
			var err error
			if pos, mk, err = jpegSkipFill(s, pos); err != nil {
				return err
			}
		}
		switch {
		case mk == 0xD9: // EOI
			if err := d.write([]byte{0xFF, 0xD9}); err != nil {
				return err
			}
			if rest := s.size - (pos + 2); rest > 0 {
				t.remove("after EOI (" + strconv.FormatInt(rest, 10) + " bytes)")
			}
			return nil
		case mk == 0xD8:
			return s.fail(pos, "second start-of-image marker")
		case mk >= 0xD0 && mk <= 0xD7 || mk == 0x01: // RSTn outside a scan, TEM: no length
			if err := d.write([]byte{0xFF, mk}); err != nil {
				return err
			}
			pos += 2
			continue
		case mk == 0x00:
			return s.fail(pos, "stuffed zero byte outside entropy-coded data")
		case mk < 0xC0:
			return s.fail(pos, fmt.Sprintf("reserved marker 0x%02X", mk))
		case mk == 0xC8 || mk >= 0xF0 && mk <= 0xFD:
			// JPG and JPGn: extensions (JPEG-LS among them) whose segments
			// change decoding; dropping them would break the image and
			// copying unknown segments would break the allowlist.
			return fmt.Errorf("%w: jpeg extension marker 0x%02X at offset %d", ErrUnsupported, mk, pos)
		}
		if err := s.readAt(hdr[2:4], pos+2, "segment length"); err != nil {
			return err
		}
		length := int64(binary.BigEndian.Uint16(hdr[2:4]))
		if length < 2 {
			return s.fail(pos+2, "segment length below 2")
		}
		end := pos + 2 + length
		if end > s.size {
			return s.fail(pos, "segment runs past the end of the file")
		}
		name := jpegMarkerName(mk)
		switch {
		case mk >= 0xC0 && mk <= 0xCF || mk == 0xDB || mk == 0xDC || mk == 0xDD || mk == 0xDE || mk == 0xDF:
			// SOFn, DHT, DAC, DQT, DNL, DRI, DHP, EXP: copied byte for byte.
			if err := s.copyTo(d, pos, end-pos, nil, name+" segment"); err != nil {
				return err
			}
		case mk == 0xDA: // SOS and the entropy-coded data after it
			if err := s.copyTo(d, pos, end-pos, nil, name+" segment"); err != nil {
				return err
			}
			next, err := jpegCopyScan(s, d, end)
			if err != nil {
				return err
			}
			pos = next
			continue
		default: // APPn (0xE0-0xEF), COM (0xFE)
			if int64(cap(seg)) < length-2 {
				seg = make([]byte, length-2)
			}
			body := seg[:length-2]
			if err := s.readAt(body, pos+4, name+" segment"); err != nil {
				return err
			}
			if err := jpegAppSegment(d, t, p, mk, body, &exifSeen); err != nil {
				return err
			}
		}
		pos = end
	}
}

// jpegSkipFill skips the fill bytes from pos, where 0xFF 0xFF starts, and
// returns the offset of the last 0xFF and the marker byte after it.
func jpegSkipFill(s *srcFile, pos int64) (int64, byte, error) {
	start := pos
	tooLong := s.fail(start, "run of fill bytes longer than "+strconv.Itoa(jpegMaxFill))
	for {
		if pos-start >= jpegMaxFill {
			return 0, 0, tooLong
		}
		b := s.buf[:min(int64(len(s.buf)), s.size-(pos+1))]
		if len(b) == 0 {
			return 0, 0, s.fail(s.size, "fill bytes run to the end of the file")
		}
		if err := s.readAt(b, pos+1, "fill bytes"); err != nil {
			return 0, 0, err
		}
		for i, c := range b {
			if c != 0xFF {
				if pos+int64(i)-start >= jpegMaxFill {
					return 0, 0, tooLong
				}
				return pos + int64(i), c, nil
			}
		}
		pos += int64(len(b))
	}
}

// jpegAppSegment writes what is kept of an APPn or COM segment with the
// given body, and tallies what is not.
func jpegAppSegment(d *dstStream, t *tally, p Profile, mk byte, body []byte, exifSeen *bool) error {
	switch {
	case mk == 0xE0 && bytes.HasPrefix(body, jpegSigJFIF):
		// Density and version change how the image displays; the
		// thumbnail is dropped by writing its dimensions as 0x0.
		if len(body) >= jpegJFIFLen {
			if body[12] != 0 || body[13] != 0 || len(body) > jpegJFIFLen {
				t.remove("APP0 JFIF thumbnail")
			}
			b := make([]byte, 0, jpegJFIFLen)
			b = append(b, body[:12]...)
			body = append(b, 0, 0)
		}
		t.keep("APP0 JFIF")
		return jpegWriteSegment(d, mk, nil, body)
	case mk == 0xE0 && bytes.HasPrefix(body, jpegSigJFXX):
		t.remove("APP0 JFXX")
	case mk == 0xE1 && bytes.HasPrefix(body, jpegSigExif):
		if *exifSeen {
			t.remove("APP1 Exif (duplicate)")
			return nil
		}
		*exifSeen = true
		var tiff []byte
		if len(body) > len(jpegSigExif) {
			tiff = body[len(jpegSigExif)+1:] // past "Exif\0\0"
		}
		const prefix = "Exif\x00\x00"
		if kept := rewriteEXIF(t, "APP1 Exif", tiff, p, jpegMaxSegment-len(prefix)); kept != nil {
			return jpegWriteSegment(d, mk, []byte(prefix), kept)
		}
	case mk == 0xE1 && bytes.HasPrefix(body, jpegSigXMP):
		t.remove("APP1 XMP")
	case mk == 0xE1 && bytes.HasPrefix(body, jpegSigXMPExtended):
		t.remove("APP1 XMP extended")
	case mk == 0xE2 && bytes.HasPrefix(body, jpegSigICC):
		if p.Keeps(ColorProfile) {
			t.keep("APP2 ICC_PROFILE")
			return jpegWriteSegment(d, mk, nil, body)
		}
		t.remove("APP2 ICC_PROFILE")
	case mk == 0xE2 && bytes.HasPrefix(body, jpegSigMPF):
		t.remove("APP2 MPF")
	case mk == 0xED && bytes.HasPrefix(body, jpegSigPhotoshop):
		t.remove("APP13 Photoshop")
	case mk == 0xEE && bytes.HasPrefix(body, jpegSigAdobe) && len(body) >= jpegAdobeLen:
		// The transform byte says whether the components are YCbCr or
		// RGB (YCCK or CMYK): decoders need it.
		if len(body) > jpegAdobeLen {
			t.remove("APP14 Adobe (data after the transform flag)")
		}
		t.keep("APP14 Adobe")
		return jpegWriteSegment(d, mk, nil, body[:jpegAdobeLen])
	default:
		t.remove(jpegMarkerName(mk))
	}
	return nil
}

// jpegWriteSegment writes marker mk with the body prefix+b.
func jpegWriteSegment(d *dstStream, mk byte, prefix, b []byte) error {
	n := 2 + len(prefix) + len(b)
	if err := d.write([]byte{0xFF, mk, byte(n >> 8), byte(n)}); err != nil {
		return err
	}
	if err := d.write(prefix); err != nil {
		return err
	}
	return d.write(b)
}

// jpegCopyScan copies the entropy-coded data starting at pos, with its
// stuffed bytes (0xFF 0x00) and restart markers, up to the marker that ends
// it, and returns that marker's offset.
func jpegCopyScan(s *srcFile, d *dstStream, pos int64) (int64, error) {
	for {
		if err := s.checkCtx(); err != nil {
			return 0, err
		}
		if pos >= s.size {
			return 0, s.fail(pos, "entropy-coded data runs to the end of the file")
		}
		b := s.buf[:min(int64(len(s.buf)), s.size-pos)]
		if err := s.readAt(b, pos, "entropy-coded data"); err != nil {
			return 0, err
		}
		for i := 0; i < len(b); {
			k := bytes.IndexByte(b[i:], 0xFF)
			if k < 0 {
				break
			}
			i += k
			var next byte
			if i+1 < len(b) {
				next = b[i+1]
			} else {
				var one [1]byte
				if err := s.readAt(one[:], pos+int64(i)+1, "entropy-coded data"); err != nil {
					return 0, err
				}
				next = one[0]
			}
			if next == 0x00 || next >= 0xD0 && next <= 0xD7 {
				i += 2
				continue
			}
			if err := d.write(b[:i]); err != nil {
				return 0, err
			}
			return pos + int64(i), nil
		}
		// A stuffed byte or restart marker may straddle the end of b: the
		// byte after its 0xFF is then at the start of the next read, and is
		// not 0xFF, so it is copied as data.
		if err := d.write(b); err != nil {
			return 0, err
		}
		pos += int64(len(b))
	}
}

// jpegMarkerName names a marker for a Report or an error.
func jpegMarkerName(mk byte) string {
	switch {
	case mk >= 0xE0 && mk <= 0xEF:
		return "APP" + strconv.Itoa(int(mk-0xE0))
	case mk == 0xFE:
		return "COM"
	case mk == 0xC4:
		return "DHT"
	case mk == 0xCC:
		return "DAC"
	case mk >= 0xC0 && mk <= 0xCF:
		return "SOF" + strconv.Itoa(int(mk-0xC0))
	case mk == 0xDA:
		return "SOS"
	case mk == 0xDB:
		return "DQT"
	case mk == 0xDC:
		return "DNL"
	case mk == 0xDD:
		return "DRI"
	case mk == 0xDE:
		return "DHP"
	case mk == 0xDF:
		return "EXP"
	}
	return fmt.Sprintf("marker 0x%02X", mk)
}
