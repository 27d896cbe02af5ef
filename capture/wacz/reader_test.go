package wacz

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/warc"
)

type memSource struct{ *bytes.Reader }

func (memSource) Name() string      { return "capture.wacz" }
func (memSource) MediaType() string { return "application/zip" }

// withScreenshot is a WACZ whose WARC holds a response and a screenshot
// resource record.
func withScreenshot(t *testing.T, shot []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "data.warc")
	f, _ := os.Create(p)
	w := warc.NewWriter(f, 0)
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
	w.Write(&warc.Record{Type: warc.Response, TargetURI: "https://example.org/", ContentType: warc.HTTPResponse, Block: strings.NewReader(resp), Size: int64(len(resp))})
	out, err := w.Write(&warc.Record{Type: warc.Resource, TargetURI: "urn:exhibit:screenshot:https://example.org/", ContentType: "image/png",
		Block: bytes.NewReader(shot), Size: int64(len(shot))})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	at := time.Date(2026, 3, 12, 9, 30, 0, 0, time.UTC)
	var b bytes.Buffer
	if err := Write(&b, Package{WARC: p, Created: at, Index: []Entry{{URL: "urn:exhibit:screenshot:https://example.org/", Time: at, Mime: "image/png",
		Digest: out.PayloadDigest, Offset: out.Offset, Length: out.Length}}}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func read(t *testing.T, data []byte) (*Metadata, []capture.Derivative, error) {
	t.Helper()
	res, err := New().Read(context.Background(), memSource{bytes.NewReader(data)})
	if err != nil {
		return nil, nil, err
	}
	return res.Metadata.(*Metadata), res.Derivatives, nil
}

// TestReader: a WACZ is checked and its screenshot becomes a derivative
// whose bytes are the record's block, at the place the transform names; a
// damaged one is recorded as not valid, with no derivative; a ZIP that is
// not a WACZ is not this reader's.
func TestReader(t *testing.T) {
	shot := []byte("\x89PNG\r\n\x1a\nthe page as shown")
	data := withScreenshot(t, shot)
	m, ds, err := read(t, data)
	if err != nil || !m.Valid || m.Signature != "absent" || len(ds) != 1 {
		t.Fatalf("metadata %+v, %d derivatives, %v", m, len(ds), err)
	}
	d := ds[0]
	var b bytes.Buffer
	if err := d.Write(context.Background(), &b); err != nil || !bytes.Equal(b.Bytes(), shot) || d.Name != "screenshot.png" || d.MediaType != "image/png" {
		t.Fatalf("derivative %s %s: %q, %v", d.Name, d.MediaType, b.Bytes(), err)
	}
	var off, n int64
	json.Unmarshal([]byte(d.Transform.Params["original-offset"]), &off)
	json.Unmarshal([]byte(d.Transform.Params["original-length"]), &n)
	if !bytes.Equal(data[off:off+n], shot) {
		t.Fatalf("the transform names bytes %d+%d, which are not the screenshot", off, n)
	}

	bad := bytes.Clone(data)
	bad[bytes.Index(bad, []byte("the page as shown"))] ^= 1
	if m, ds, err := read(t, bad); err != nil || m.Valid || m.Problem == "" || len(ds) != 0 {
		t.Fatalf("damaged: %+v, %d derivatives, %v", m, len(ds), err)
	}

	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	w, _ := zw.Create("readme.txt")
	io.WriteString(w, "not a web archive")
	zw.Close()
	if _, _, err := read(t, z.Bytes()); !errors.Is(err, capture.ErrUnsupported) {
		t.Fatalf("plain ZIP: %v", err)
	}
}

// TestSignature: an anonymous WACZ-auth signature over the package hash
// verifies by its key; one over another hash does not.
func TestSignature(t *testing.T) {
	data := withScreenshot(t, []byte("x"))
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	resign := func(signed string) []byte {
		zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		var out bytes.Buffer
		zw := zip.NewWriter(&out)
		for _, f := range zr.File {
			rc, _ := f.Open()
			body, _ := io.ReadAll(rc)
			rc.Close()
			if f.Name == "datapackage-digest.json" {
				var d map[string]any
				json.Unmarshal(body, &d)
				sum := sha256.Sum256([]byte(signed))
				r, s, _ := ecdsa.Sign(rand.Reader, key, sum[:])
				sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
				d["signedData"] = map[string]any{"hash": d["hash"], "signature": base64.StdEncoding.EncodeToString(sig),
					"publicKey": base64.StdEncoding.EncodeToString(spki)}
				body, _ = json.Marshal(d)
			}
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
			w.Write(body)
		}
		zw.Close()
		return out.Bytes()
	}
	zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	rc, _ := zr.Open("datapackage-digest.json")
	var d struct{ Hash string }
	json.NewDecoder(rc).Decode(&d)
	rc.Close()
	if m, _, err := read(t, resign(d.Hash)); err != nil || m.Signature != "verified" || m.PublicKey == "" {
		t.Fatalf("signed: %+v, %v", m, err)
	}
	if m, _, err := read(t, resign("sha256:"+strings.Repeat("0", 64))); err != nil || m.Signature != "invalid" {
		t.Fatalf("signature over another hash: %+v, %v", m, err)
	}
}

// TestWorkingCopy: a WACZ whose messages carry session credentials gets a
// working copy without them, itself a valid WACZ whose other bytes are
// unchanged; the params say what was removed, by name and count.
func TestWorkingCopy(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "data.warc")
	f, _ := os.Create(p)
	w := warc.NewWriter(f, 0)
	req := "GET /inbox HTTP/1.1\r\nHost: example.org\r\nCookie: session=SECRET-INVESTIGATOR\r\nAuthorization: Bearer SECRET-TOKEN\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\nSet-Cookie: session=SECRET-NEW; HttpOnly\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\n<p>post</p>"
	shot := []byte("\x89PNG\r\n\x1a\nshown")
	var index []Entry
	at := time.Date(2026, 3, 12, 9, 30, 0, 0, time.UTC)
	for _, r := range []*warc.Record{
		{Type: warc.Request, TargetURI: "https://example.org/inbox", ContentType: warc.HTTPRequest, Block: strings.NewReader(req), Size: int64(len(req)), Date: at},
		{Type: warc.Response, TargetURI: "https://example.org/inbox", ContentType: warc.HTTPResponse, Block: strings.NewReader(resp), Size: int64(len(resp)), Date: at},
		{Type: warc.Resource, TargetURI: "urn:exhibit:screenshot:https://example.org/inbox", ContentType: "image/png", Block: bytes.NewReader(shot), Size: int64(len(shot)), Date: at},
	} {
		out, err := w.Write(r)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type != warc.Request {
			index = append(index, Entry{URL: r.TargetURI, Time: at, Digest: out.PayloadDigest, Offset: out.Offset, Length: out.Length})
		}
	}
	f.Close()
	var b bytes.Buffer
	if err := Write(&b, Package{WARC: p, Created: at, Index: index}); err != nil {
		t.Fatal(err)
	}
	m, ds, err := read(t, b.Bytes())
	if err != nil || m.Credentials != 3 || len(ds) != 2 || ds[1].Name != WorkingCopyName || ds[1].Kind != WorkingCopyKind {
		t.Fatalf("metadata %+v, derivatives %d, %v", m, len(ds), err)
	}
	var copyBuf bytes.Buffer
	if err := ds[1].Write(context.Background(), &copyBuf); err != nil {
		t.Fatal(err)
	}
	c := copyBuf.Bytes()
	if bytes.Contains(c, []byte("SECRET")) {
		t.Fatal("the working copy still holds a credential")
	}
	if _, err := Check(bytes.NewReader(c), int64(len(c))); err != nil {
		t.Fatalf("the working copy is not a valid WACZ: %v", err)
	}
	if !bytes.Contains(c, shot) || !bytes.Contains(c, []byte("<p>post</p>")) || !bytes.Contains(c, []byte("Host: example.org\r\n")) {
		t.Fatal("the working copy lost more than the credentials")
	}
	if got := ds[1].Params()["removed"]; got != "Authorization (1), Cookie (1), Set-Cookie (1)" {
		t.Fatalf("removed %q", got)
	}
	// Without credentials there is nothing to remove and no working copy.
	if m, ds, err := read(t, withScreenshot(t, shot)); err != nil || m.Credentials != 0 || len(ds) != 1 {
		t.Fatalf("no credentials: %+v, %d derivatives, %v", m, len(ds), err)
	}
}

// TestAttachmentNames: a media record names its derivative only with a
// plain name starting "media-": a WACZ from elsewhere cannot take the
// name of the working copy or of another attachment, or a path.
func TestAttachmentNames(t *testing.T) {
	for uri, want := range map[string]string{
		ScreenshotURN + "https://a.b/":                      "screenshot.png",
		MediaURN + "media-001.mp4:https://a.b/":             "media-001.mp4",
		MediaURN + "working-copy.wacz:https://a.b/":         "",
		MediaURN + "screenshot.png:https://a.b/":            "",
		MediaURN + "media-../../etc/passwd:https://a.b/":    "",
		MediaURN + "media-.mp4\x00:https://a.b/":            "",
		MediaURN + "media-" + strings.Repeat("a", 80) + ":": "",
		"urn:exhibit:other:https://a.b/":                    "",
	} {
		if got, _ := attachment(uri); got != want {
			t.Errorf("%q: %q, want %q", uri, got, want)
		}
	}
}
