package strip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"sync"
)

// Buffers and limits shared by the container walks (JPEG, PNG, WebP).
const (
	// streamBuf is how much is read and written at a time when bytes are
	// copied through.
	streamBuf = 64 << 10
	// maxContainerEXIF caps an EXIF block read into memory to be rewritten
	// (a PNG eXIf or WebP EXIF chunk; a JPEG APP1 segment is below 64 KiB
	// anyway). A larger block is dropped, never read.
	maxContainerEXIF = 16 << 20
	// maxReportNames caps the distinct names a Report lists; the rest are
	// counted under "other".
	maxReportNames = 64
)

// srcFile reads the original with random access. Every read is checked
// against the size before anything is allocated, and a short read is a
// FormatError: the file ends before the structure it declares.
type srcFile struct {
	ctx  context.Context
	r    io.ReaderAt
	size int64
	f    Format
	buf  []byte // copy buffer, streamBuf long
}

// Copy buffers and output buffers are pooled: a small photo would
// otherwise allocate more for them than for anything else.
var (
	copyBufs   = sync.Pool{New: func() any { return new([streamBuf]byte) }}
	outBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(io.Discard, streamBuf) }}
)

func newSrcFile(ctx context.Context, r io.ReaderAt, size int64, f Format) *srcFile {
	return &srcFile{ctx: ctx, r: r, size: size, f: f, buf: copyBufs.Get().(*[streamBuf]byte)[:]}
}

// release returns the copy buffer to the pool; s is not used after.
func (s *srcFile) release() {
	copyBufs.Put((*[streamBuf]byte)(s.buf))
	s.buf = nil
}

// fail returns a FormatError at off.
func (s *srcFile) fail(off int64, reason string) error {
	return &FormatError{Format: s.f, Offset: off, Reason: reason}
}

// readAt fills b from off; what names the structure being read, for the
// error.
func (s *srcFile) readAt(b []byte, off int64, what string) error {
	if off < 0 || off > s.size || int64(len(b)) > s.size-off {
		return s.fail(off, what+" runs past the end of the file")
	}
	n, err := s.r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return s.fail(off+int64(n), what+" cut short: the file ends early")
	}
	return fmt.Errorf("strip %s: read %d bytes at offset %d: %w", s.f, len(b), off, err)
}

// copyTo copies n bytes at off to d, feeding them to h too when h is not
// nil.
func (s *srcFile) copyTo(d *dstStream, off, n int64, h hash.Hash32, what string) error {
	for n > 0 {
		if err := s.ctx.Err(); err != nil {
			return fmt.Errorf("strip %s: %w", s.f, err)
		}
		k := int64(len(s.buf))
		if n < k {
			k = n
		}
		b := s.buf[:k]
		if err := s.readAt(b, off, what); err != nil {
			return err
		}
		if h != nil {
			h.Write(b)
		}
		if err := d.write(b); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}

// checkCtx returns the context's error, wrapped, once it is done.
func (s *srcFile) checkCtx() error {
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("strip %s: %w", s.f, err)
	}
	return nil
}

// dstStream writes the copy sequentially, through a buffer.
type dstStream struct {
	f Format
	w *bufio.Writer
}

func newDstStream(w io.Writer, f Format) *dstStream {
	bw := outBuffers.Get().(*bufio.Writer)
	bw.Reset(w)
	return &dstStream{f: f, w: bw}
}

// release returns the output buffer to the pool, unflushed data dropped;
// d is not used after.
func (d *dstStream) release() {
	d.w.Reset(io.Discard) // keep no reference to the caller's writer
	outBuffers.Put(d.w)
	d.w = nil
}

func (d *dstStream) write(b []byte) error {
	// Large writes (copied image data) bypass the buffer instead of being
	// copied through it.
	if len(b) >= streamBuf/2 && d.w.Buffered() > 0 {
		if err := d.flush(); err != nil {
			return err
		}
	}
	if _, err := d.w.Write(b); err != nil {
		return fmt.Errorf("strip %s: write: %w", d.f, err)
	}
	return nil
}

func (d *dstStream) flush() error {
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("strip %s: write: %w", d.f, err)
	}
	return nil
}

// tally gathers the names for a Report, counting repeats ("tEXt (3
// chunks)") and capping how many distinct names are listed, so a file of a
// million comments makes a short report.
type tally struct {
	unit    string // "segments", "chunks", "entries" (TIFF), "boxes" (HEIF)
	removed nameCounts
	kept    nameCounts
}

type nameCounts struct {
	order  []string
	counts map[string]int
	other  int
}

func (c *nameCounts) add(name string) {
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	if _, ok := c.counts[name]; !ok {
		if len(c.order) >= maxReportNames {
			c.other++
			return
		}
		c.order = append(c.order, name)
	}
	c.counts[name]++
}

func (c *nameCounts) list(unit string) []string {
	out := make([]string, 0, len(c.order)+1)
	for _, name := range c.order {
		if n := c.counts[name]; n > 1 {
			name += " (" + strconv.Itoa(n) + " " + unit + ")"
		}
		out = append(out, name)
	}
	if c.other > 0 {
		out = append(out, "other ("+strconv.Itoa(c.other)+" "+unit+")")
	}
	return out
}

func (t *tally) remove(name string) { t.removed.add(name) }
func (t *tally) keep(name string)   { t.kept.add(name) }

func (t *tally) report(f Format) *Report {
	return &Report{Format: f, Removed: t.removed.list(t.unit), Kept: t.kept.list(t.unit)}
}

// rewriteEXIF runs keptEXIF on an EXIF block found in a container and
// records the outcome under name ("APP1 Exif", "eXIf", "EXIF"). It returns
// the block to write, at most maxLen bytes, or nil when none is.
func rewriteEXIF(t *tally, name string, b []byte, p Profile, maxLen int) []byte {
	kept, err := keptEXIF(b, p)
	switch {
	case err != nil:
		// The error is not passed on: it could quote what it failed on.
		t.remove(name + " (unreadable, dropped whole)")
		return nil
	case len(kept) == 0:
		t.remove(name)
		return nil
	case len(kept) > maxLen:
		t.remove(name + " (kept tags too large for the container, dropped whole)")
		return nil
	}
	t.keep(name + " (profile tags only)")
	t.remove(name + " (other tags)")
	return kept
}
