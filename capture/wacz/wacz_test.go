package wacz

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/capture/warc"
)

func TestSURT(t *testing.T) {
	for in, want := range map[string]string{
		"https://www.Example.org/Post/123?a=1": "org,example)/post/123?a=1",
		"https://example.org":                  "org,example)/",
		"http://example.org:8080/x":            "org,example:8080)/x",
		"https://127.0.0.1:4443/p":             "127.0.0.1:4443)/p",
		"urn:exhibit:screenshot:https://a.b/":  "urn:exhibit:screenshot:https://a.b/",
	} {
		if got := SURT(in); got != want {
			t.Errorf("SURT(%q) = %q, want %q", in, got, want)
		}
	}
}

// wacz writes a one-record WARC and packs it.
func build(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	warcPath := filepath.Join(dir, "data.warc")
	f, _ := os.Create(warcPath)
	w := warc.NewWriter(f, 0)
	resp := "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello"
	out, err := w.Write(&warc.Record{Type: warc.Response, TargetURI: "https://example.org/", ContentType: warc.HTTPResponse,
		Block: strings.NewReader(resp), Size: int64(len(resp))})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	at := time.Date(2026, 3, 12, 9, 30, 0, 0, time.UTC)
	var b bytes.Buffer
	if err := Write(&b, Package{WARC: warcPath, Created: at, Software: "test", Pages: []Page{{ID: "p", URL: "https://example.org/", Time: at}},
		Index: []Entry{{URL: "https://example.org/", Time: at, Mime: "text/html", Status: 200, Digest: out.PayloadDigest, Offset: out.Offset, Length: out.Length}}}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCheck(t *testing.T) {
	good := build(t)
	c, err := Check(bytes.NewReader(good), int64(len(good)))
	if err != nil || c.Resources != 3 || c.Entries != 1 || c.MainPage != "https://example.org/" {
		t.Fatalf("%+v, %v", c, err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for name, bad := range map[string][]byte{
		"byte in the WARC": mutate(func(b []byte) []byte { b[bytes.Index(b, []byte("hello"))] ^= 1; return b }),
		"byte in datapackage.json": mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"wacz_version"`))
			b[i+1] = 'W'
			return b
		}),
		"not a zip": []byte("PK not really"),
	} {
		if _, err := Check(bytes.NewReader(bad), int64(len(bad))); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An entry that datapackage.json does not list, and a name given
	// twice, are refused: nothing vouches for their bytes.
	add := func(name string, body []byte) []byte {
		zr, _ := zip.NewReader(bytes.NewReader(good), int64(len(good)))
		var out bytes.Buffer
		zw := zip.NewWriter(&out)
		for _, f := range zr.File {
			rc, _ := f.Open()
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
			io.Copy(w, rc)
			rc.Close()
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		w.Write(body)
		zw.Close()
		return out.Bytes()
	}
	for what, bad := range map[string][]byte{"unlisted entry": add("archive/other.warc", []byte("x")), "name twice": add("datapackage.json", []byte("{}"))} {
		if _, err := Check(bytes.NewReader(bad), int64(len(bad))); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", what, err)
		}
	}
	// A compressed entry is refused: records must be readable at their
	// offsets.
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("datapackage.json")
	w.Write([]byte("{}"))
	zw.Close()
	if _, err := Check(bytes.NewReader(b.Bytes()), int64(b.Len())); err == nil || !strings.Contains(err.Error(), "compressed") {
		t.Errorf("compressed entry: %v", err)
	}
}

// FuzzCheck: any bytes are a WACZ or an error, never a panic.
func FuzzCheck(f *testing.F) {
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		Check(bytes.NewReader(data), int64(len(data)))
	})
}
