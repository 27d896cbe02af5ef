package warc

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Header is a record's named fields in the order they were written. Names
// compare case-insensitively, as WARC says.
type Header [][2]string

// Get returns the first value of the field name ("" when absent).
func (h Header) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f[0], name) {
			return f[1]
		}
	}
	return ""
}

// Reader reads the records of an uncompressed WARC file in order.
type Reader struct {
	br   *bufio.Reader
	off  int64
	left int64 // of the current block, not yet read
	cur  *io.LimitedReader
}

// NewReader reads records from r.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, 64<<10)} }

// ReadRecord is one record as read: its header, where it starts, and its
// block, which must be read (or not) before Next is called again.
type ReadRecord struct {
	Header Header
	Offset int64
	// BlockOffset is where the block starts in the file; Size its length.
	BlockOffset int64
	Size        int64
	Block       io.Reader
}

// maxRecordHeader bounds a record's header.
const maxRecordHeader = 1 << 20

// Next returns the next record, or io.EOF after the last.
func (r *Reader) Next() (*ReadRecord, error) {
	if r.cur != nil {
		// Skip what the caller left of the block, then the record's end.
		n, err := io.Copy(io.Discard, r.cur)
		r.off += n
		if err != nil {
			return nil, err
		}
		if r.cur.N > 0 {
			return nil, fmt.Errorf("warc: record at offset %d cut short", r.off)
		}
		var end [4]byte
		if _, err := io.ReadFull(r.br, end[:]); err != nil || string(end[:]) != "\r\n\r\n" {
			return nil, fmt.Errorf("warc: record ending at offset %d lacks its CRLF CRLF", r.off)
		}
		r.off += 4
		r.cur = nil
	}
	start := r.off
	if _, err := r.br.Peek(1); err == io.EOF {
		return nil, io.EOF
	}
	hr := &headerReader{r: r.br}
	version, err := hr.line()
	if err != nil {
		return nil, fmt.Errorf("warc: record at offset %d: %w", start, err)
	}
	if version != "WARC/1.1" && version != "WARC/1.0" {
		return nil, fmt.Errorf("warc: record at offset %d starts with %q, not WARC/1.1", start, truncate(version))
	}
	var h Header
	for {
		line, err := hr.line()
		if err != nil {
			return nil, fmt.Errorf("warc: record at offset %d: %w", start, err)
		}
		if hr.total > maxRecordHeader {
			return nil, fmt.Errorf("warc: record at offset %d: header over %d bytes", start, maxRecordHeader)
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("warc: record at offset %d: field line %q without a colon", start, truncate(line))
		}
		h = append(h, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
	}
	r.off += int64(hr.total)
	size, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("warc: record at offset %d: Content-Length %q", start, truncate(h.Get("Content-Length")))
	}
	r.cur = &io.LimitedReader{R: r.br, N: size}
	return &ReadRecord{Header: h, Offset: start, BlockOffset: r.off, Size: size, Block: &counting{r: r.cur, off: &r.off}}, nil
}

// counting advances the reader's offset by what the caller reads.
type counting struct {
	r   io.Reader
	off *int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.off += int64(n)
	if err == io.EOF && c.r.(*io.LimitedReader).N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// ErrDigest is a record whose recorded digest is not that of its bytes.
var ErrDigest = errors.New("warc: digest does not match")

// Check reads a record's block and checks its Content-Length,
// WARC-Block-Digest and WARC-Payload-Digest (those present; sha256 only)
// against its bytes. An error wrapping ErrDigest is a mismatch.
func Check(rec *ReadRecord) error {
	bd := sha256.New()
	tee := io.TeeReader(rec.Block, bd)
	var payload string
	ct := rec.Header.Get("Content-Type")
	typ := rec.Header.Get("WARC-Type")
	switch {
	case (typ == Request || typ == Response) && strings.HasPrefix(ct, "application/http"):
		body, err := EntityBody(tee, typ == Response)
		if err != nil {
			return err
		}
		pd := sha256.New()
		if _, err := io.Copy(pd, body); err != nil {
			return fmt.Errorf("warc: record at offset %d: %w", rec.Offset, err)
		}
		payload = Digest(pd.Sum(nil))
	case typ == Resource:
		payload = "block"
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return fmt.Errorf("warc: record at offset %d: %w", rec.Offset, err)
	}
	block := Digest(bd.Sum(nil))
	if payload == "block" {
		payload = block
	}
	for _, c := range []struct{ name, got string }{{"WARC-Block-Digest", block}, {"WARC-Payload-Digest", payload}} {
		want := rec.Header.Get(c.name)
		if want == "" || !strings.HasPrefix(want, "sha256:") {
			continue
		}
		if c.got != want {
			return fmt.Errorf("%w: record at offset %d: %s %s, the bytes give %s", ErrDigest, rec.Offset, c.name, want, c.got)
		}
	}
	return nil
}
