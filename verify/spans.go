package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sort"
	"strconv"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
)

// A derivative's transform may state that its bytes are the original's:
// all of them (original-offset and original-length: a capture's
// screenshot is a WARC record's block), or parts (original-spans: a
// clip's tiles). verify hashes those bytes of the original and of the
// derivative as each streams through, and compares them.

// segment is bytes [dst, dst+n) of a derivative that its record says are
// bytes [src, src+n) of the original.
type segment struct {
	dst, src, n int64
	srcH, dstH  hash.Hash
}

// span is one derivative's claim.
type span struct {
	name string
	// whole: the derivative is exactly one segment, compared with its
	// signed sha256 (want).
	whole bool
	want  string
	segs  []*segment
	bad   string // why the claim itself is malformed
	tiff  bool   // the derivative is a TIFF whose tiles are the segments
	// The derivative's bytes before its first segment (its header and
	// directory, for a TIFF), and how far it streamed.
	head []byte
	at   int64
	size int64
	// next is the first segment the derivative's stream has not passed;
	// unverified says the derivative's own digests did not verify.
	next       int
	unverified bool
}

// maxSegments bounds the spans one record can make verify hash.
const maxSegments = 1 << 20

// spans hashes the bytes derivatives claim to share with the original.
type spans struct {
	list []*span
	// bySrc are all segments ordered by where they start in the original;
	// first is the first that may still be ahead of the stream.
	bySrc []*segment
	first int
	at    int64
}

func derivedSpans(rec *custody.Record) *spans {
	s := &spans{}
	for _, d := range rec.Derivatives {
		p := d.Transform.Params
		o, okO := p[custody.ParamOriginalOffset]
		n, okN := p[custody.ParamOriginalLength]
		list, okL := p[custody.ParamOriginalSpans]
		if !okO && !okN && !okL {
			continue
		}
		sp := &span{name: d.Name, want: d.Digest[hashing.SHA256], size: d.Size}
		s.list = append(s.list, sp)
		switch {
		case okL && (okO || okN):
			sp.bad = "names both a whole span and a list of spans"
			continue
		case okL:
			parsed, err := custody.ParseSpans(list)
			if err == nil && len(parsed) > maxSegments {
				err = fmt.Errorf("%d spans, more than %d", len(parsed), maxSegments)
			}
			if err != nil {
				sp.bad = "lists spans that do not parse: " + err.Error()
				continue
			}
			for _, x := range parsed {
				sp.segs = append(sp.segs, &segment{dst: x.DerivativeOffset, src: x.OriginalOffset, n: x.Length})
			}
			sp.tiff = d.MediaType == "image/tiff"
		default:
			sp.whole = true
			off, e1 := strconv.ParseInt(o, 10, 64)
			length, e2 := strconv.ParseInt(n, 10, 64)
			if e1 != nil || e2 != nil {
				sp.bad = fmt.Sprintf("names bytes %s+%s of the original", o, n)
				continue
			}
			sp.segs = []*segment{{dst: 0, src: off, n: length}}
		}
		for _, g := range sp.segs {
			if g.src < 0 || g.n < 0 || g.src > rec.Original.Size-g.n || (!sp.whole && g.dst > d.Size-g.n) {
				sp.bad = fmt.Sprintf("names bytes %d+%d of an original of %d bytes, at %d of a derivative of %d", g.src, g.n, rec.Original.Size, g.dst, d.Size)
				break
			}
		}
		if sp.bad != "" {
			continue
		}
		for _, g := range sp.segs {
			g.srcH = sha256.New()
			if !sp.whole {
				g.dstH = sha256.New()
			}
			s.bySrc = append(s.bySrc, g)
		}
	}
	sort.SliceStable(s.bySrc, func(i, j int) bool { return s.bySrc[i].src < s.bySrc[j].src })
	return s
}

// Write takes the original's bytes as they stream.
func (s *spans) Write(p []byte) (int, error) {
	start, end := s.at, s.at+int64(len(p))
	for s.first < len(s.bySrc) && s.bySrc[s.first].src+s.bySrc[s.first].n <= start {
		s.first++
	}
	for _, g := range s.bySrc[s.first:] {
		if g.src >= end {
			break
		}
		if lo, hi := max(start, g.src), min(end, g.src+g.n); lo < hi {
			g.srcH.Write(p[lo-start : hi-start])
		}
	}
	s.at = end
	return len(p), nil
}

// derivative returns the writer a derivative's bytes stream through.
func (s *spans) derivative(name string) io.Writer {
	if sp := s.find(name); sp != nil {
		return sp
	}
	return io.Discard
}

// unverified notes that a derivative's digests did not verify: its spans
// are then not compared (its own check has failed).
func (s *spans) unverified(name string) {
	if sp := s.find(name); sp != nil {
		sp.unverified = true
	}
}

func (s *spans) find(name string) *span {
	for _, sp := range s.list {
		if sp.name == name && !sp.whole && sp.bad == "" {
			return sp
		}
	}
	return nil
}

// maxHead bounds the bytes before a derivative's first segment that verify
// keeps to read its TIFF directory.
const maxHead = 16 << 20

// Write takes the derivative's bytes as they stream.
func (sp *span) Write(p []byte) (int, error) {
	start, end := sp.at, sp.at+int64(len(p))
	if h := min(sp.segs[0].dst, maxHead); start < h {
		sp.head = append(sp.head, p[:min(end, h)-start]...)
	}
	// Segments follow one another in the derivative (ParseSpans).
	for ; sp.next < len(sp.segs) && sp.segs[sp.next].dst+sp.segs[sp.next].n <= start; sp.next++ {
	}
	for _, g := range sp.segs[sp.next:] {
		if g.dst >= end {
			break
		}
		if lo, hi := max(start, g.dst), min(end, g.dst+g.n); lo < hi {
			g.dstH.Write(p[lo-start : hi-start])
		}
	}
	sp.at = end
	return len(p), nil
}

// check reports each derivative's claim: its bytes are the original's at
// the places its record names. Without the original's plaintext (its check
// failed, or it is encrypted and not decrypted) nothing is compared.
func (s *spans) check(c itemCheck, origOK bool, key string) {
	for _, sp := range s.list {
		name := "derivative " + sp.name + " source"
		switch {
		case sp.bad != "":
			c.add(Check{Name: name, Object: key, Status: Fail, Detail: "the record " + sp.bad})
		case !origOK:
			c.add(Check{Name: name, Object: key, Status: Warn, Detail: "not compared: the original's bytes were not verified"})
		case sp.whole:
			g := sp.segs[0]
			if got := hex.EncodeToString(g.srcH.Sum(nil)); got != sp.want {
				c.add(Check{Name: name, Object: key, Status: Fail, Expected: fmt.Sprintf("bytes %d+%d of the original hash to the derivative's sha256 %s", g.src, g.n, sp.want),
					Found: "sha256 " + got})
			} else {
				c.add(Check{Name: name, Object: key, Status: Pass, Detail: fmt.Sprintf("the derivative is bytes %d+%d of the original", g.src, g.n)})
			}
		default:
			c.add(sp.checkSegments(name, key))
		}
	}
}

// checkSegments compares each segment of a derivative with the original,
// and for a TIFF, that its directory places its image data at exactly
// those segments.
func (sp *span) checkSegments(name, key string) Check {
	switch {
	case sp.unverified:
		return Check{Name: name, Object: key, Status: Warn, Detail: "not compared: the derivative's bytes are not the ones its record names"}
	case sp.at != sp.size:
		return Check{Name: name, Object: key, Status: Warn, Detail: "not compared: the derivative's bytes were not read whole"}
	}
	total := int64(0)
	for _, g := range sp.segs {
		total += g.n
		if !bytes.Equal(g.srcH.Sum(nil), g.dstH.Sum(nil)) {
			return Check{Name: name, Object: key, Status: Fail,
				Expected: fmt.Sprintf("bytes %d+%d of the derivative are bytes %d+%d of the original", g.dst, g.n, g.src, g.n), Found: "different bytes"}
		}
	}
	detail := fmt.Sprintf("%d spans of the derivative (%d bytes) are the original's bytes at the places its record names", len(sp.segs), total)
	if sp.tiff {
		if err := sp.tiffLayout(); err != nil {
			return Check{Name: name, Object: key, Status: Fail, Expected: "a TIFF whose image data are exactly those spans", Found: err.Error()}
		}
		detail = fmt.Sprintf("its %d tiles (%d bytes) are the original's bytes at the places its record names, and its TIFF, one image and no other, has its tiles there", len(sp.segs), total)
	}
	return Check{Name: name, Object: key, Status: Pass, Detail: detail}
}

// tiffLayout reads the TIFF directory in the derivative's head: its tiles
// with data must be the segments, in order.
func (sp *span) tiffLayout() error {
	offsets, counts, err := tileArrays(sp.head)
	if err != nil {
		return err
	}
	k := 0
	for i, n := range counts {
		if n == 0 {
			continue
		}
		if k >= len(sp.segs) || sp.segs[k].dst != int64(offsets[i]) || sp.segs[k].n != int64(n) {
			return fmt.Errorf("tile %d is %d bytes at %d, not the span the record names", i, n, offsets[i])
		}
		k++
	}
	if k != len(sp.segs) {
		return fmt.Errorf("%d tiles with data, %d spans", k, len(sp.segs))
	}
	return nil
}
