package wacz

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/warc"
)

// credentialFields are the HTTP header fields a shareable copy drops: a
// logged-in capture carries the investigator's session in them.
var credentialFields = []string{"Cookie", "Set-Cookie", "Authorization", "Proxy-Authorization"}

// WorkingCopyName and WorkingCopyKind name the shareable copy of a WACZ.
const (
	WorkingCopyName = "working-copy.wacz"
	WorkingCopyKind = capture.StrippedKind
)

// workingCopy is the derivative that rewrites the WACZ without credential
// header fields: every record as it was, but for requests and responses
// whose header held one, which get new blocks (and digests) without it.
func workingCopy(src capture.Source, f *zip.File, tempDir string) capture.Derivative {
	var removed map[string]int
	return capture.Derivative{
		Name: WorkingCopyName, Kind: WorkingCopyKind, MediaType: "application/zip",
		Transform: capture.Transform{Name: "wacz-strip-credentials", Version: "1",
			Params: map[string]string{"fields": strings.Join(credentialFields, ", ")}},
		Write: func(ctx context.Context, w io.Writer) error {
			var err error
			removed, err = stripCredentials(ctx, src, f, tempDir, w)
			return err
		},
		Params: func() map[string]string {
			var parts []string
			for name, n := range removed {
				parts = append(parts, fmt.Sprintf("%s (%d)", name, n))
			}
			sort.Strings(parts)
			if len(parts) == 0 {
				return map[string]string{"removed": "none"}
			}
			return map[string]string{"removed": strings.Join(parts, ", ")}
		},
	}
}

// stripCredentials writes the copy to w and counts the fields removed.
func stripCredentials(ctx context.Context, src capture.Source, f *zip.File, tempDir string, w io.Writer) (map[string]int, error) {
	base, err := f.DataOffset()
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(tempDir, "exhibit-wacz-copy-*.warc")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	removed := map[string]int{}
	ww := warc.NewWriter(tmp, 0)
	rd := warc.NewReader(io.NewSectionReader(src, base, int64(f.UncompressedSize64)))
	var index []Entry
	var pages []Page
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		block := io.NewSectionReader(src, base+rec.BlockOffset, rec.Size)
		out, entry, err := copyRecord(ww, rec, block, removed)
		if err != nil {
			return nil, err
		}
		if entry != nil {
			entry.Offset, entry.Length = out.Offset, out.Length
			index = append(index, *entry)
		}
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	created := time.Now().UTC()
	if len(index) > 0 {
		pages = []Page{{ID: "page-1", URL: mainPage(index), Time: index[0].Time}}
	}
	return removed, Write(w, Package{WARC: tmp.Name(), Index: index, Pages: pages, Created: created,
		Software: "exhibit (a copy without " + strings.Join(credentialFields, ", ") + ")"})
}

// mainPage is the first response's URL.
func mainPage(index []Entry) string {
	for _, e := range index {
		if e.Status != 0 {
			return e.URL
		}
	}
	return index[0].URL
}

// copyRecord writes rec to ww, without credential fields when it is an
// HTTP message, and returns its index entry (for responses and
// resources).
func copyRecord(ww *warc.Writer, rec *warc.ReadRecord, block *io.SectionReader, removed map[string]int) (warc.Written, *Entry, error) {
	typ := rec.Header.Get("WARC-Type")
	ct := rec.Header.Get("Content-Type")
	var fields [][2]string
	for _, h := range rec.Header {
		switch strings.ToLower(h[0]) {
		case "warc-type", "warc-record-id", "warc-date", "warc-target-uri", "content-type", "content-length",
			"warc-block-digest", "warc-payload-digest":
		default:
			fields = append(fields, h)
		}
	}
	date, err := time.Parse(time.RFC3339Nano, rec.Header.Get("WARC-Date"))
	if err != nil {
		return warc.Written{}, nil, fmt.Errorf("wacz: record %s: WARC-Date: %w", rec.Header.Get("WARC-Record-ID"), err)
	}
	r := &warc.Record{Type: typ, ID: rec.Header.Get("WARC-Record-ID"), Date: date, TargetURI: rec.Header.Get("WARC-Target-URI"),
		ContentType: ct, Fields: fields, Block: block, Size: rec.Size}
	var head []byte
	if (typ == warc.Request || typ == warc.Response) && strings.HasPrefix(ct, "application/http") {
		h, end, err := httpHead(block)
		if err != nil {
			return warc.Written{}, nil, err
		}
		head = h
		if kept, changed := dropFields(h, removed); changed {
			body := io.NewSectionReader(block, end, rec.Size-end)
			r.Block, r.Size = concat(kept, body), int64(len(kept))+body.Size()
		}
	}
	out, err := ww.Write(r)
	if err != nil {
		return out, nil, err
	}
	switch typ {
	case warc.Response:
		e := &Entry{URL: r.TargetURI, Time: date, Status: status(head), Digest: out.PayloadDigest}
		e.Mime = fieldValue(head, "Content-Type")
		return out, e, nil
	case warc.Resource:
		mt, _, _ := strings.Cut(ct, ";")
		return out, &Entry{URL: r.TargetURI, Time: date, Mime: strings.TrimSpace(mt), Digest: out.PayloadDigest}, nil
	}
	return out, nil, nil
}

// httpHead returns an HTTP message's header through its blank line, with
// the headers of interim (1xx) responses before it, and where the body
// starts.
func httpHead(block *io.SectionReader) ([]byte, int64, error) {
	buf := make([]byte, min(block.Size(), 1<<20))
	n, _ := block.ReadAt(buf, 0)
	buf = buf[:n]
	at := 0
	for {
		end := bytes.Index(buf[at:], []byte("\r\n\r\n"))
		if end < 0 {
			return nil, 0, fmt.Errorf("wacz: an HTTP header without its end (or over 1 MiB)")
		}
		code := status(buf[at:])
		at += end + 4
		if code < 100 || code >= 200 || code == 101 {
			return buf[:at], int64(at), nil
		}
	}
}

// dropFields removes the credential fields from an HTTP header, counting
// them; changed says whether any was there.
func dropFields(head []byte, removed map[string]int) ([]byte, bool) {
	lines := bytes.SplitAfter(head, []byte("\r\n"))
	var out []byte
	changed := false
	for i, l := range lines {
		name, _, ok := bytes.Cut(l, []byte(":"))
		if i > 0 && ok {
			for _, c := range credentialFields {
				if strings.EqualFold(strings.TrimSpace(string(name)), c) {
					removed[c]++
					changed = true
					goto next
				}
			}
		}
		out = append(out, l...)
	next:
	}
	return out, changed
}

// status is the status code of the last message in head (after any
// interim responses).
func status(head []byte) int {
	blocks := bytes.Split(bytes.TrimSuffix(head, []byte("\r\n\r\n")), []byte("\r\n\r\n"))
	first, _, _ := bytes.Cut(blocks[len(blocks)-1], []byte("\r\n"))
	parts := strings.SplitN(string(first), " ", 3)
	if len(parts) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(parts[1])
	return n
}

func fieldValue(head []byte, name string) string {
	for _, l := range strings.Split(string(head), "\r\n")[1:] {
		if n, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(n), name) {
			mt, _, _ := strings.Cut(strings.TrimSpace(v), ";")
			return strings.ToLower(strings.TrimSpace(mt))
		}
	}
	return ""
}

// concat is a header in memory followed by a body section, as one
// io.ReaderAt.
func concat(head []byte, body *io.SectionReader) io.ReaderAt { return &joined{head: head, body: body} }

type joined struct {
	head []byte
	body *io.SectionReader
}

func (j *joined) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(j.head)) {
		n = copy(p, j.head[off:])
		if n == len(p) {
			return n, nil
		}
		off = int64(len(j.head))
	}
	m, err := j.body.ReadAt(p[n:], off-int64(len(j.head)))
	return n + m, err
}
