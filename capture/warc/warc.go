// Package warc writes and reads WARC 1.1 files (ISO 28500:2017): the records of a
// web capture, each block exactly the bytes that crossed the wire.
//
// Files are written uncompressed: a record's bytes can then be read, and
// indexed, at its offset without a decompressor, and writing a large media
// response costs one copy rather than a compression pass. A WACZ packs the
// file as it is (capture/wacz).
//
// Digests are SHA-256, written as "sha256:" and 64 lower-case hex digits.
// WARC-Block-Digest covers the record block. WARC-Payload-Digest covers the
// payload: for an HTTP message (application/http) the entity body after
// the transfer coding is removed (chunk framing decoded, as
// iipc/warc-specifications#22 settles it) and with any content coding
// (gzip, br) kept, since that is what the server sent; for any other block,
// the block itself.
package warc

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"
)

// Record types.
const (
	Warcinfo = "warcinfo"
	Request  = "request"
	Response = "response"
	Resource = "resource"
	Metadata = "metadata"
)

// Content types of HTTP blocks.
const (
	HTTPRequest  = "application/http;msgtype=request"
	HTTPResponse = "application/http;msgtype=response"
	Fields       = "application/warc-fields"
)

// Record is a record to write. The block is read from Block, which holds
// exactly Size bytes; it is read twice (once for the digests that precede
// it, once to write it), so it must be an io.ReaderAt.
type Record struct {
	Type        string
	ID          string // "<urn:uuid:…>"; NewID when empty
	Date        time.Time
	TargetURI   string
	ContentType string
	// Fields are further named fields, in order (WARC-IP-Address,
	// WARC-Concurrent-To, WARC-Protocol, …).
	Fields [][2]string
	Block  io.ReaderAt
	Size   int64
}

// Written says where a record went and what its digests are.
type Written struct {
	ID            string
	Offset        int64 // of "WARC/1.1" in the file
	Length        int64 // of the whole record, trailing CRLFs included
	BlockDigest   string
	PayloadDigest string // empty for blocks without a payload
	// HeaderLength is the length of the record's own header: the block
	// starts at Offset+HeaderLength.
	HeaderLength int64
}

// Writer appends records to a file.
type Writer struct {
	w   io.Writer
	off int64
}

// NewWriter writes records to w, whose first byte is at offset off.
func NewWriter(w io.Writer, off int64) *Writer { return &Writer{w: w, off: off} }

// Offset is where the next record will start.
func (w *Writer) Offset() int64 { return w.off }

// NewID returns a new record ID, "<urn:uuid:…>" (random, version 4).
func NewID() string {
	var u [16]byte
	rand.Read(u[:]) // never fails: crypto/rand crashes the program rather than return an error
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("<urn:uuid:%x-%x-%x-%x-%x>", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Digest formats a SHA-256 sum as WARC writes it.
func Digest(sum []byte) string { return "sha256:" + hex.EncodeToString(sum) }

// Write writes r and returns where it went.
func (w *Writer) Write(r *Record) (Written, error) {
	if r.Type == "" || r.Size < 0 {
		return Written{}, errors.New("warc: a record needs a type and a size")
	}
	if r.ID == "" {
		r.ID = NewID()
	}
	if r.Date.IsZero() {
		r.Date = time.Now()
	}
	block := io.NewSectionReader(r.Block, 0, r.Size)
	bd := sha256.New()
	if _, err := io.Copy(bd, block); err != nil {
		return Written{}, fmt.Errorf("warc: read block: %w", err)
	}
	out := Written{ID: r.ID, Offset: w.off, BlockDigest: Digest(bd.Sum(nil))}
	var err error
	out.PayloadDigest, err = payloadDigest(r)
	if err != nil {
		return Written{}, err
	}
	var h bytes.Buffer
	h.WriteString("WARC/1.1\r\n")
	field := func(name, value string) {
		if value != "" {
			h.WriteString(name + ": " + value + "\r\n")
		}
	}
	field("WARC-Type", r.Type)
	field("WARC-Record-ID", r.ID)
	field("WARC-Date", r.Date.UTC().Format("2006-01-02T15:04:05.000000Z"))
	field("WARC-Target-URI", r.TargetURI)
	for _, f := range r.Fields {
		if strings.ContainsAny(f[0]+f[1], "\r\n") {
			return Written{}, fmt.Errorf("warc: field %q holds a line break", f[0])
		}
		field(f[0], f[1])
	}
	field("WARC-Block-Digest", out.BlockDigest)
	field("WARC-Payload-Digest", out.PayloadDigest)
	field("Content-Type", r.ContentType)
	field("Content-Length", strconv.FormatInt(r.Size, 10))
	h.WriteString("\r\n")
	out.HeaderLength = int64(h.Len())
	if _, err := w.w.Write(h.Bytes()); err != nil {
		return Written{}, err
	}
	n, err := io.Copy(w.w, io.NewSectionReader(r.Block, 0, r.Size))
	if err == nil && n != r.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return Written{}, fmt.Errorf("warc: write block: %w", err)
	}
	if _, err := io.WriteString(w.w, "\r\n\r\n"); err != nil {
		return Written{}, err
	}
	out.Length = out.HeaderLength + r.Size + 4
	w.off += out.Length
	return out, nil
}

// payloadDigest is the digest of r's payload (see the package comment).
func payloadDigest(r *Record) (string, error) {
	switch {
	case r.Type == Request || r.Type == Response:
		if !strings.HasPrefix(r.ContentType, "application/http") {
			return "", nil
		}
		body, err := EntityBody(io.NewSectionReader(r.Block, 0, r.Size), r.Type == Response)
		if err != nil {
			return "", err
		}
		d := sha256.New()
		if _, err := io.Copy(d, body); err != nil {
			return "", fmt.Errorf("warc: %s payload: %w", r.Type, err)
		}
		return Digest(d.Sum(nil)), nil
	case r.Type == Resource:
		d := sha256.New()
		if _, err := io.Copy(d, io.NewSectionReader(r.Block, 0, r.Size)); err != nil {
			return "", err
		}
		return Digest(d.Sum(nil)), nil
	}
	return "", nil
}

// EntityBody returns the entity body of the HTTP message in block, with
// the chunk framing of a chunked transfer coding decoded and any content
// coding kept: what WARC-Payload-Digest covers. Interim (1xx) responses
// before the final one are skipped; a message cut short in its framing is
// an error.
func EntityBody(block io.Reader, response bool) (io.Reader, error) {
	br := bufio.NewReader(block)
	tp := &headerReader{r: br}
	for {
		start, err := tp.line()
		if err != nil {
			return nil, fmt.Errorf("warc: HTTP message: %w", err)
		}
		chunked := false
		for {
			line, err := tp.line()
			if err != nil {
				return nil, fmt.Errorf("warc: HTTP header: %w", err)
			}
			if line == "" {
				break
			}
			name, value, ok := strings.Cut(line, ":")
			if ok && strings.EqualFold(strings.TrimSpace(name), "Transfer-Encoding") {
				codings := strings.Split(strings.ToLower(value), ",")
				chunked = strings.TrimSpace(codings[len(codings)-1]) == "chunked"
			}
		}
		if response {
			if _, code, _ := strings.Cut(start, " "); strings.HasPrefix(code, "1") {
				if strings.HasPrefix(code, "101") {
					return strings.NewReader(""), nil // the connection changed protocol
				}
				continue // an interim response: the final one follows
			}
		}
		if chunked {
			return &strictChunked{r: httputil.NewChunkedReader(br)}, nil
		}
		return br, nil
	}
}

// strictChunked passes on a chunked reader's error (a cut chunk), which
// http.Response would also report.
type strictChunked struct{ r io.Reader }

func (s *strictChunked) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("warc: chunked body cut short: %w", err)
	}
	return n, err
}

// headerReader reads CRLF- (or LF-) terminated header lines, bounded.
type headerReader struct {
	r     *bufio.Reader
	total int
}

// maxHeader bounds an HTTP message's header, as net/http's server does.
const maxHeader = 1 << 20

func (h *headerReader) line() (string, error) {
	var b []byte
	for {
		frag, err := h.r.ReadSlice('\n')
		b = append(b, frag...)
		h.total += len(frag)
		if h.total > maxHeader {
			return "", fmt.Errorf("header over %d bytes", maxHeader)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}
