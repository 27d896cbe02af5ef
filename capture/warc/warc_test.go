package warc

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// chunked frames body in chunks of n bytes, with a trailer.
func chunked(body []byte, n int) []byte {
	var b bytes.Buffer
	for len(body) > 0 {
		k := min(n, len(body))
		b.WriteString(strconv.FormatInt(int64(k), 16) + "\r\n")
		b.Write(body[:k])
		b.WriteString("\r\n")
		body = body[k:]
	}
	b.WriteString("0\r\nX-Trailer: t\r\n\r\n")
	return b.Bytes()
}

func sum(b []byte) string { s := sha256.Sum256(b); return Digest(s[:]) }

// TestWriteRead writes the records of a capture and reads them back: the
// blocks are the bytes given, byte for byte, and the digests are those an
// independent computation gives (the payload of a chunked, gzip-coded
// response: the de-chunked body as net/http reads it, still gzip-coded).
func TestWriteRead(t *testing.T) {
	body := gz(strings.Repeat("<p>evidence</p>", 200))
	resp := append([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nx-Order: kept\r\n\r\n"), chunked(body, 100)...)
	interim := append([]byte("HTTP/1.1 100 Continue\r\n\r\n"), resp...)
	req := []byte("GET /post/123 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t\r\n\r\n")
	plain := []byte("HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 5\r\n\r\nmoved")
	png := []byte("\x89PNG\r\n\x1a\nscreenshot")
	at := time.Date(2026, 3, 12, 9, 30, 0, 123456000, time.UTC)
	recs := []*Record{
		{Type: Warcinfo, ContentType: Fields, Block: bytes.NewReader([]byte("software: exhibit\r\n")), Size: 19},
		{Type: Request, TargetURI: "https://example.org/post/123", ContentType: HTTPRequest, Block: bytes.NewReader(req), Size: int64(len(req)),
			Fields: [][2]string{{"WARC-IP-Address", "192.0.2.7"}}},
		{Type: Response, TargetURI: "https://example.org/post/123", ContentType: HTTPResponse, Block: bytes.NewReader(resp), Size: int64(len(resp)), Date: at},
		{Type: Response, TargetURI: "https://example.org/a", ContentType: HTTPResponse, Block: bytes.NewReader(plain), Size: int64(len(plain))},
		{Type: Response, TargetURI: "https://example.org/up", ContentType: HTTPResponse, Block: bytes.NewReader(interim), Size: int64(len(interim))},
		{Type: Resource, TargetURI: "urn:exhibit:screenshot", ContentType: "image/png", Block: bytes.NewReader(png), Size: int64(len(png))},
	}
	var file bytes.Buffer
	w := NewWriter(&file, 0)
	var written []Written
	for _, r := range recs {
		wr, err := w.Write(r)
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, wr)
	}
	// Independent digests.
	hr, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(resp)), nil)
	if err != nil {
		t.Fatal(err)
	}
	dechunked, _ := io.ReadAll(hr.Body)
	if !bytes.Equal(dechunked, body) {
		t.Fatal("test fixture: net/http does not de-chunk to the gzip body")
	}
	wantPayload := []string{"", sum(nil), sum(body), sum([]byte("moved")), sum(body), sum(png)}
	blocks := [][]byte{[]byte("software: exhibit\r\n"), req, resp, plain, interim, png}

	rd := NewReader(bytes.NewReader(file.Bytes()))
	for i := 0; ; i++ {
		rec, err := rd.Next()
		if err == io.EOF {
			if i != len(recs) {
				t.Fatalf("%d records read, %d written", i, len(recs))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Offset != written[i].Offset || rec.Header.Get("WARC-Record-ID") != written[i].ID {
			t.Fatalf("record %d at %d (%s), written at %d (%s)", i, rec.Offset, rec.Header.Get("WARC-Record-ID"), written[i].Offset, written[i].ID)
		}
		got, err := io.ReadAll(rec.Block)
		if err != nil || !bytes.Equal(got, blocks[i]) {
			t.Fatalf("record %d block %q, %v", i, got, err)
		}
		if d := rec.Header.Get("WARC-Block-Digest"); d != sum(blocks[i]) || written[i].BlockDigest != d {
			t.Fatalf("record %d block digest %s, want %s", i, d, sum(blocks[i]))
		}
		if d := rec.Header.Get("WARC-Payload-Digest"); d != wantPayload[i] {
			t.Fatalf("record %d payload digest %q, want %q", i, d, wantPayload[i])
		}
	}
	if !strings.Contains(file.String(), "WARC-Date: 2026-03-12T09:30:00.123456Z\r\n") || !strings.Contains(file.String(), "x-Order: kept") {
		t.Fatal("date or header bytes not as given")
	}

	// Check passes every record, and catches one byte changed anywhere in
	// a block.
	check := func(data []byte) error {
		rd := NewReader(bytes.NewReader(data))
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := Check(rec); err != nil {
				return err
			}
		}
	}
	if err := check(file.Bytes()); err != nil {
		t.Fatal(err)
	}
	for i, wr := range written {
		for _, at := range []int64{0, recs[i].Size / 2, recs[i].Size - 1} {
			bad := bytes.Clone(file.Bytes())
			bad[wr.Offset+wr.HeaderLength+at] ^= 1
			if err := check(bad); err == nil {
				t.Errorf("record %d: a byte flipped at %d of its block went unnoticed", i, at)
			} else if !errors.Is(err, ErrDigest) && !strings.Contains(err.Error(), "warc:") {
				t.Errorf("record %d: %v", i, err)
			}
		}
	}
}

func TestWriteRefuses(t *testing.T) {
	w := NewWriter(io.Discard, 0)
	if _, err := w.Write(&Record{Type: Resource, Block: strings.NewReader("x"), Size: 1,
		Fields: [][2]string{{"WARC-Target-URI", "a\r\nWARC-Type: forged"}}}); err == nil {
		t.Fatal("a field with a line break was written")
	}
	if _, err := w.Write(&Record{Type: Resource, Block: strings.NewReader("x"), Size: 2}); err == nil {
		t.Fatal("a block shorter than its size was written")
	}
	if _, err := w.Write(&Record{Type: Response, ContentType: HTTPResponse, Block: strings.NewReader("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), Size: 53}); err == nil {
		t.Fatal("a response cut inside a chunk was written")
	}
}

// FuzzReader: any bytes read as records or fail, never panic.
func FuzzReader(f *testing.F) {
	var b bytes.Buffer
	w := NewWriter(&b, 0)
	resp := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
	w.Write(&Record{Type: Response, ContentType: HTTPResponse, Block: strings.NewReader(resp), Size: int64(len(resp))})
	f.Add(b.Bytes())
	f.Add([]byte("WARC/1.1\r\nContent-Length: 99999999999\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data))
		for i := 0; i < 100; i++ {
			rec, err := rd.Next()
			if err != nil {
				return
			}
			_ = Check(rec)
		}
	})
}
