package photo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
)

// JPEG APPn signatures.
const (
	sigExif        = "Exif\x00"
	sigXMP         = "http://ns.adobe.com/xap/1.0/\x00"
	sigXMPExtended = "http://ns.adobe.com/xmp/extension/\x00"
	sigPhotoshop   = "Photoshop 3.0\x00"
)

const (
	maxSegments = 65536
	scanChunk   = 64 << 10
)

// jpeg walks the marker segments of a JPEG file. Metadata segments before
// the first SOS are decoded; entropy-coded data is skipped by scanning for
// the next marker, so segments between scans, the EOI, and any data after
// it (multi-picture previews, appended files) are found too.
func (st *state) jpeg() error {
	var irb []byte // Photoshop resources can span several APP13 segments
	irbAt := int64(-1)
	pos := int64(2)
	st.part("SOI", 0, 2, "")
	scans := 0
	for n := 0; ; n++ {
		if n%64 == 0 {
			if err := st.ctx.Err(); err != nil {
				return err
			}
		}
		if n >= maxSegments {
			st.problem("jpeg", pos, "segment limit reached; rest not read")
			break
		}
		hdr, err := st.markerAt(pos)
		if err != nil {
			if n == 0 {
				return err
			}
			st.problem("jpeg", pos, "no marker where one was expected; rest not read")
			break
		}
		// Fill bytes (0xFF) may precede a marker.
		fill := int64(0)
		for hdr.marker == 0xFF {
			fill++
			if fill > 1024 {
				return fmt.Errorf("offset %d: run of fill bytes", pos)
			}
			if hdr, err = st.markerAt(pos + fill); err != nil {
				break
			}
		}
		if err != nil {
			st.problem("jpeg", pos, "truncated at a marker")
			break
		}
		pos += fill
		mk := hdr.marker
		if mk == 0xD9 { // EOI
			st.part("EOI", pos, 2, "")
			st.trailing(pos + 2)
			break
		}
		if mk == 0x01 || (mk >= 0xD0 && mk <= 0xD7) || mk == 0xD8 { // no length
			st.part(markerName(mk), pos, 2, "")
			pos += 2
			continue
		}
		if pos+4 > st.size {
			st.problem("jpeg "+markerName(mk), pos, "segment header cut short by the end of the file")
			break
		}
		length := int64(hdr.length)
		if length < 2 {
			st.problem("jpeg "+markerName(mk), pos, "segment length below 2")
			break
		}
		end := pos + 2 + length
		truncated := end > st.size
		if truncated {
			st.problem("jpeg "+markerName(mk), pos, "segment runs past the end of the file")
			end = st.size
		}
		body := pos + 4
		id := ""
		switch {
		case mk >= 0xE0 && mk <= 0xEF || mk == 0xFE:
			b, err := st.read(body, end-body)
			if err != nil {
				return err
			}
			id = appID(mk, b)
			switch {
			case mk == 0xE1 && bytes.HasPrefix(b, []byte(sigExif)) && len(b) >= 6:
				st.exifBlock("jpeg APP1", body+6, int64(len(b)-6))
			case mk == 0xE1 && bytes.HasPrefix(b, []byte(sigXMP)):
				st.xmp("APP1", body+int64(len(sigXMP)), b[len(sigXMP):])
			case mk == 0xE1 && bytes.HasPrefix(b, []byte(sigXMPExtended)):
				d := b[len(sigXMPExtended):]
				if len(st.m.XMP) < maxXMPs {
					st.m.XMP = append(st.m.XMP, XMP{Source: "APP1 extended", Offset: body + int64(len(sigXMPExtended)), Length: int64(len(d)), SHA256: hashBytes(d)})
				}
			case mk == 0xED && bytes.HasPrefix(b, []byte(sigPhotoshop)):
				if irbAt < 0 {
					irbAt = body + int64(len(sigPhotoshop))
				}
				if len(irb)+len(b) <= maxMetaBlock {
					irb = append(irb, b[len(sigPhotoshop):]...)
				} else {
					st.problem("jpeg APP13", pos, "Photoshop resources beyond %d bytes not decoded", maxMetaBlock)
				}
			case mk == 0xFE:
				st.comment(body, b)
			}
		case mk >= 0xC0 && mk <= 0xCF && mk != 0xC4 && mk != 0xC8 && mk != 0xCC: // SOFn
			if b, err := st.read(body, min(end-body, 5)); err == nil && len(b) == 5 {
				im := st.image()
				if im.Width == 0 {
					im.Height = uint64(binary.BigEndian.Uint16(b[1:]))
					im.Width = uint64(binary.BigEndian.Uint16(b[3:]))
				}
			}
		}
		st.part(markerName(mk), pos, end-pos, id)
		if truncated {
			break
		}
		pos = end
		if mk == 0xDA { // SOS: skip the entropy-coded data to the next marker
			scans++
			next, err := st.skipScan(pos)
			if err != nil {
				return err
			}
			if next < 0 {
				st.part("scan data", pos, st.size-pos, "")
				st.problem("jpeg", pos, "entropy-coded data runs to the end of the file without EOI")
				break
			}
			st.part("scan data", pos, next-pos, "")
			pos = next
		}
	}
	if len(irb) > 0 {
		st.photoshop("jpeg APP13", irbAt, irb)
	}
	return nil
}

type marker struct {
	marker byte
	length uint16
}

// markerAt reads a marker (and its length, when there is room) at pos.
func (st *state) markerAt(pos int64) (marker, error) {
	var b [4]byte
	n, err := st.r.ReadAt(b[:min(4, max(0, st.size-pos))], pos)
	if n < 2 {
		return marker{}, fmt.Errorf("offset %d: marker: %w", pos, readErr(err))
	}
	if b[0] != 0xFF {
		return marker{}, fmt.Errorf("offset %d: no marker", pos)
	}
	m := marker{marker: b[1]}
	if n == 4 {
		m.length = binary.BigEndian.Uint16(b[2:])
	}
	return m, nil
}

// skipScan finds the marker ending the entropy-coded data that starts at
// pos: 0xFF followed by anything but 0x00 (a stuffed byte) or a restart
// marker. It returns -1 when the file ends first.
func (st *state) skipScan(pos int64) (int64, error) {
	if st.scanBuf == nil {
		st.scanBuf = make([]byte, scanChunk+1)
	}
	// The first read is small: between the scans of a progressive JPEG the
	// next marker is usually close.
	buf := st.scanBuf[:4096]
	for i := 0; pos < st.size; i++ {
		if i == 1 {
			buf = st.scanBuf
		}
		if i%16 == 0 {
			if err := st.ctx.Err(); err != nil {
				return 0, err
			}
		}
		want := min(int64(len(buf)), st.size-pos)
		n, err := st.r.ReadAt(buf[:want], pos)
		if int64(n) < want {
			return 0, fmt.Errorf("offset %d: scan data: %w", pos, readErr(err))
		}
		b := buf[:n]
		for j := 0; j < len(b)-1; {
			k := bytes.IndexByte(b[j:len(b)-1], 0xFF)
			if k < 0 {
				break
			}
			j += k
			c := b[j+1]
			if c != 0x00 && c != 0xFF && !(c >= 0xD0 && c <= 0xD7) {
				return pos + int64(j), nil
			}
			j++
		}
		if pos+int64(n) >= st.size {
			return -1, nil
		}
		pos += int64(n) - 1 // keep the last byte: it may be the 0xFF of a marker
	}
	return -1, nil
}

// appID is the signature of an APPn segment, for the structure listing.
func appID(mk byte, b []byte) string {
	if mk == 0xFE {
		return ""
	}
	i := bytes.IndexByte(b[:min(len(b), 40)], 0)
	if i <= 0 {
		if len(b) >= 5 && string(b[:5]) == "Adobe" {
			return "Adobe"
		}
		return ""
	}
	s := b[:i]
	for _, c := range s {
		if c < 0x20 || c > 0x7E {
			return ""
		}
	}
	return string(s)
}

func markerName(mk byte) string {
	switch {
	case mk == 0xD8:
		return "SOI"
	case mk == 0xD9:
		return "EOI"
	case mk == 0xDA:
		return "SOS"
	case mk == 0xDB:
		return "DQT"
	case mk == 0xC4:
		return "DHT"
	case mk == 0xDD:
		return "DRI"
	case mk == 0xFE:
		return "COM"
	case mk >= 0xD0 && mk <= 0xD7:
		return fmt.Sprintf("RST%d", mk-0xD0)
	case mk >= 0xE0 && mk <= 0xEF:
		return fmt.Sprintf("APP%d", mk-0xE0)
	case mk >= 0xC0 && mk <= 0xCF && mk != 0xC8 && mk != 0xCC:
		return fmt.Sprintf("SOF%d", mk-0xC0)
	}
	return fmt.Sprintf("marker 0x%02X", mk)
}

// comment records a JPEG COM segment.
func (st *state) comment(off int64, b []byte) {
	if len(st.m.Text) >= maxTexts {
		return
	}
	t := Text{Source: "COM", Offset: off}
	if len(b) > maxText || !st.spend(int64(len(b))) {
		b = b[:min(len(b), 256)]
		t.Truncated = true
	}
	if utf8.Valid(b) {
		t.Text = string(bytes.TrimRight(b, "\x00"))
	} else {
		t.Text = latin1(b)
	}
	st.m.Text = append(st.m.Text, t)
}

// latin1 decodes ISO 8859-1 (PNG tEXt and zTXt, and the usual guess for
// text that is not UTF-8).
func latin1(b []byte) string {
	high := 0
	for _, c := range b {
		if c >= 0x80 {
			high++
		}
	}
	if high == 0 {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + high)
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}
