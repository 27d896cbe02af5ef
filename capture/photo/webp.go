package photo

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

const maxRIFFChunks = 1 << 16

// webp walks the RIFF chunks of a WebP file: "EXIF" holds a TIFF-structured
// EXIF block (some writers prefix "Exif\0\0"), "XMP " an XMP packet, and
// "VP8X" the canvas size.
func (st *state) webp() error {
	hdr, err := st.read(0, 12)
	if err != nil {
		return err
	}
	riffEnd := int64(binary.LittleEndian.Uint32(hdr[4:])) + 8
	st.part("RIFF header", 0, 12, "")
	if riffEnd > st.size {
		st.problem("webp RIFF", 0, "RIFF size runs past the end of the file")
		riffEnd = st.size
	}
	pos := int64(12)
	for n := 0; pos < riffEnd; n++ {
		if n%256 == 0 {
			if err := st.ctx.Err(); err != nil {
				return err
			}
		}
		if n >= maxRIFFChunks {
			st.problem("webp", pos, "chunk limit reached; rest not read")
			break
		}
		if pos+8 > riffEnd {
			st.problem("webp", pos, "chunk header cut short by the end of the data")
			break
		}
		ch, err := st.read(pos, 8)
		if err != nil {
			return err
		}
		fourcc := string(ch[:4])
		length := int64(binary.LittleEndian.Uint32(ch[4:]))
		data := pos + 8
		end := data + length
		if end > riffEnd {
			st.problem("webp "+fourcc, pos, "chunk runs past the end of the data")
			st.part(printable(fourcc), pos, riffEnd-pos, "")
			break
		}
		st.part(printable(fourcc), pos, end+length%2-pos, "")
		switch fourcc {
		case "VP8X":
			if length >= 10 {
				if b, err := st.read(data, 10); err == nil {
					im := st.image()
					im.Width = uint64(uint32(b[4])|uint32(b[5])<<8|uint32(b[6])<<16) + 1
					im.Height = uint64(uint32(b[7])|uint32(b[8])<<8|uint32(b[9])<<16) + 1
				}
			}
		case "EXIF":
			off, n := data, length
			if b, err := st.read(data, min(6, length)); err == nil && bytes.HasPrefix(b, []byte("Exif\x00\x00")) {
				off, n = data+6, length-6
			}
			st.exifBlock("webp EXIF", off, n)
		case "XMP ":
			if length > maxXMP {
				st.problem("webp XMP", pos, "XMP chunk larger than %d bytes: not decoded", maxXMP)
				break
			}
			b, err := st.read(data, length)
			if err != nil {
				return err
			}
			st.xmp("XMP chunk", data, b)
		}
		pos = end + length%2
	}
	st.trailing(min(max(pos, riffEnd), st.size))
	return nil
}

// printable keeps a FourCC or box type readable in the output.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}
