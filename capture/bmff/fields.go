// Package bmff is the one parser of ISO base media files (HEIF and HEIC)
// in capture: Parse reads the top-level boxes and the item structure of
// the meta box, for the metadata reader (capture/photo) and the stripper
// (capture/strip) alike, so that what is reported of a file and what is
// stripped from it come from the same reading; Fields is its bounded
// reader of big-endian box fields.
//
// bmff must not import other capture packages.
package bmff

import "bytes"

// Fields reads big-endian fields from a box body B, from position P. The
// first read past the end sets Bad and returns zero values; every read
// after that does too, so a parser checks Bad once after a group of reads.
type Fields struct {
	B   []byte
	P   int
	Bad bool
}

// N reads an unsigned integer of size bytes (0 to 8).
func (c *Fields) N(size int) uint64 {
	if c.Bad || size < 0 || size > len(c.B)-c.P {
		c.Bad = true
		return 0
	}
	var v uint64
	for _, x := range c.B[c.P : c.P+size] {
		v = v<<8 | uint64(x)
	}
	c.P += size
	return v
}

// Bytes returns the next n bytes (not a copy).
func (c *Fields) Bytes(n int) []byte {
	if c.Bad || n < 0 || n > len(c.B)-c.P {
		c.Bad = true
		return nil
	}
	b := c.B[c.P : c.P+n]
	c.P += n
	return b
}

// Str reads a NUL-terminated string; a string that runs to the end of the
// body without its terminator is accepted, as some writers omit the last one.
func (c *Fields) Str() string {
	if c.Bad {
		return ""
	}
	i := bytes.IndexByte(c.B[c.P:], 0)
	if i < 0 {
		s := string(c.B[c.P:])
		c.P = len(c.B)
		return s
	}
	s := string(c.B[c.P : c.P+i])
	c.P += i + 1
	return s
}

// Left is the number of bytes not read yet.
func (c *Fields) Left() int { return len(c.B) - c.P }
