package photo

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

const (
	maxChunks    = 1 << 20
	maxTextChunk = 8 << 20 // compressed or plain text chunk read into memory
)

// png walks the chunks of a PNG file: eXIf holds EXIF; tEXt, zTXt and iTXt
// hold text (iTXt "XML:com.adobe.xmp" is XMP; ImageMagick's "Raw profile
// type exif/iptc/xmp" texts hold hex-encoded blocks); tIME is the last
// modification time. Compressed text is inflated up to a fixed size.
func (st *state) png() error {
	st.part("signature", 0, 8, "")
	pos := int64(8)
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := st.ctx.Err(); err != nil {
				return err
			}
		}
		if n >= maxChunks {
			st.problem("png", pos, "chunk limit reached; rest not read")
			return nil
		}
		if pos == st.size {
			st.problem("png", pos, "file ends without IEND")
			return nil
		}
		if pos+12 > st.size {
			st.problem("png", pos, "chunk header cut short by the end of the file")
			return nil
		}
		hdr, err := st.read(pos, 8)
		if err != nil {
			return err
		}
		length := int64(binary.BigEndian.Uint32(hdr))
		typ := string(hdr[4:8])
		if length > 0x7FFFFFFF || !chunkType(typ) {
			if n == 0 {
				return fmt.Errorf("offset %d: malformed first chunk", pos)
			}
			st.problem("png", pos, "malformed chunk header; rest not read")
			return nil
		}
		data := pos + 8
		end := data + length + 4
		if end > st.size {
			st.problem("png "+typ, pos, "chunk runs past the end of the file")
			st.part(typ, pos, st.size-pos, "")
			return nil
		}
		st.part(typ, pos, end-pos, "")
		switch typ {
		case "IHDR":
			if length >= 8 {
				if b, err := st.read(data, 8); err == nil {
					im := st.image()
					im.Width = uint64(binary.BigEndian.Uint32(b))
					im.Height = uint64(binary.BigEndian.Uint32(b[4:]))
				}
			}
		case "eXIf":
			off, n := data, length
			if b, err := st.read(data, min(6, length)); err == nil && bytes.HasPrefix(b, []byte("Exif\x00\x00")) {
				off, n = data+6, length-6
			}
			st.exifBlock("png eXIf", off, n)
		case "tEXt", "zTXt", "iTXt":
			if length > maxTextChunk {
				st.problem("png "+typ, pos, "text chunk larger than %d bytes: not decoded", maxTextChunk)
				break
			}
			b, err := st.read(data, length)
			if err != nil {
				return err
			}
			st.pngText(typ, data, b)
		case "tIME":
			if length == 7 {
				if b, err := st.read(data, 7); err == nil {
					st.pngTime(b)
				}
			}
		case "IEND":
			st.trailing(end)
			return nil
		}
		pos = end
	}
}

func chunkType(t string) bool {
	for i := 0; i < 4; i++ {
		c := t[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// pngText decodes a tEXt, zTXt or iTXt chunk whose data b sits at off.
func (st *state) pngText(typ string, off int64, b []byte) {
	where := "png " + typ
	k := bytes.IndexByte(b, 0)
	if k < 1 || k > 79 {
		st.problem(where, off, "malformed keyword")
		return
	}
	t := Text{Source: typ, Offset: off, Keyword: latin1(b[:k])}
	rest := b[k+1:]
	var raw []byte
	utf8Text := false
	switch typ {
	case "tEXt":
		raw = rest
	case "zTXt":
		if len(rest) < 1 || rest[0] != 0 {
			st.problem(where, off, "unknown compression method")
			return
		}
		var err error
		if raw, t.Truncated, err = st.inflate(rest[1:]); err != nil {
			st.problem(where, off, "compressed text does not inflate")
			return
		}
	case "iTXt":
		utf8Text = true
		if len(rest) < 2 {
			st.problem(where, off, "malformed iTXt header")
			return
		}
		compressed, method := rest[0], rest[1]
		rest = rest[2:]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			st.problem(where, off, "malformed iTXt language tag")
			return
		}
		t.Language = string(rest[:i])
		rest = rest[i+1:]
		j := bytes.IndexByte(rest, 0)
		if j < 0 {
			st.problem(where, off, "malformed iTXt translated keyword")
			return
		}
		t.Translated = string(rest[:j])
		rest = rest[j+1:]
		switch {
		case compressed == 0:
			raw = rest
		case compressed == 1 && method == 0:
			var err error
			if raw, t.Truncated, err = st.inflate(rest); err != nil {
				st.problem(where, off, "compressed text does not inflate")
				return
			}
		default:
			st.problem(where, off, "unknown compression")
			return
		}
	}
	switch {
	case typ == "iTXt" && t.Keyword == "XML:com.adobe.xmp":
		if t.Truncated {
			st.problem(where, off, "XMP beyond the inflate limit: not decoded")
			return
		}
		st.xmp("iTXt", off, raw)
		return
	case strings.HasPrefix(t.Keyword, "Raw profile type "):
		if st.rawProfile(where, off, strings.TrimPrefix(t.Keyword, "Raw profile type "), raw) {
			return
		}
	}
	if len(st.m.Text) >= maxTexts {
		st.problem(where, off, "text limit reached; chunk not listed")
		return
	}
	if !st.spend(int64(len(raw))) {
		raw = raw[:min(len(raw), 256)]
		t.Truncated = true
	}
	if utf8Text && utf8.Valid(raw) {
		t.Text = string(raw)
	} else {
		t.Text = latin1(raw)
	}
	st.m.Text = append(st.m.Text, t)
}

var errInflate = errors.New("inflate failed")

// inflate decompresses zlib data up to maxText bytes (and the per-file text
// budget); truncated reports a cut.
func (st *state) inflate(b []byte) (out []byte, truncated bool, err error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, false, errInflate
	}
	defer zr.Close()
	limit := min(int64(maxText), maxTextTotal-st.textBytes)
	if limit <= 0 {
		return nil, true, nil
	}
	out, err = io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, false, errInflate
	}
	if int64(len(out)) > limit {
		out, truncated = out[:limit], true
	}
	st.textBytes += int64(len(out))
	return out, truncated, nil
}

// rawProfile decodes ImageMagick's hex-encoded profiles ("\nexif\n
// 1234\n4578…"). It reports whether the text was taken as a profile.
func (st *state) rawProfile(where string, off int64, kind string, text []byte) bool {
	lines := bytes.SplitN(bytes.TrimLeft(text, "\n"), []byte("\n"), 3)
	if len(lines) < 3 {
		return false
	}
	declared, err := strconv.Atoi(strings.TrimSpace(string(lines[1])))
	if err != nil || declared < 0 || declared > maxMetaBlock {
		st.problem(where, off, "raw profile with malformed length")
		return false
	}
	h := bytes.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' {
			return -1
		}
		return r
	}, lines[2])
	b := make([]byte, hex.DecodedLen(len(h)))
	n, err := hex.Decode(b, h)
	if err != nil || n != declared {
		st.problem(where, off, "raw profile hex malformed")
		return false
	}
	b = b[:n]
	switch kind {
	case "exif", "APP1":
		if st.exifDone {
			return false
		}
		if bytes.HasPrefix(b, []byte("Exif\x00\x00")) {
			b = b[6:]
		}
		st.exifBlockBytes(where, off, b)
	case "iptc":
		if bytes.HasPrefix(b, []byte("8BIM")) {
			st.photoshop(where, off, b)
		} else {
			st.iptc(where, off, b)
		}
	case "xmp":
		st.xmp(where, off, b)
	default:
		return false
	}
	return true
}

// exifBlockBytes decodes an EXIF block that exists only decoded in memory
// (its offsets are not file offsets: off is that of the text holding it).
func (st *state) exifBlockBytes(where string, off int64, b []byte) {
	saved := st.r
	st.r = bytes.NewReader(b)
	defer func() { st.r = saved }()
	savedSize := st.size
	st.size = int64(len(b))
	defer func() { st.size = savedSize }()
	st.exifBlock(where, 0, int64(len(b)))
	if st.m.EXIF != nil {
		st.m.EXIF.Offset = off
	}
}

// pngTime records tIME (UTC by definition).
func (st *state) pngTime(b []byte) {
	y := int(binary.BigEndian.Uint16(b))
	raw := fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", y, b[2], b[3], b[4], b[5], b[6])
	if len(st.m.Times) >= maxTimes {
		return
	}
	t := Time{Tag: "tIME", Raw: raw}
	if s, _ := exifTime(raw, "", "Z"); s != "" {
		t.Time = s
		t.Offset = "Z"
	}
	st.m.Times = append(st.m.Times, t)
}
