// Package wacz packs a web capture's WARC into a WACZ 1.1.1 file
// (https://specs.webrecorder.net/wacz/1.1.1/), which replay tools open as
// it is: a ZIP, every entry stored (not compressed, so a record can be read
// at its offset), holding
//
//	archive/data.warc          the WARC, as written
//	indexes/index.cdxj         one line per response and resource record
//	pages/pages.jsonl          the pages captured
//	datapackage.json           every file above with its size and sha256
//	datapackage-digest.json    the sha256 of datapackage.json
//
// Check reads a WACZ back and verifies all of it: the ZIP, every resource's
// size and hash, the digest file, and every index line's record.
package wacz

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Version is the WACZ version written.
const Version = "1.1.1"

// Entry is one line of the index: a response or resource record.
type Entry struct {
	URL    string
	Time   time.Time
	Mime   string
	Status int    // 0 for resources
	Digest string // the record's payload digest
	Offset int64
	Length int64
}

// Page is one page captured.
type Page struct {
	ID    string
	URL   string
	Time  time.Time
	Title string
}

// Package describes a WACZ to write.
type Package struct {
	WARC     string // path of the WARC file
	Index    []Entry
	Pages    []Page
	Software string
	Title    string
	Created  time.Time
}

// resource is an entry of datapackage.json.
type resource struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	Hash  string `json:"hash"`
	Bytes int64  `json:"bytes"`
}

type datapackage struct {
	Profile      string     `json:"profile"`
	WACZVersion  string     `json:"wacz_version"`
	Title        string     `json:"title,omitempty"`
	Created      string     `json:"created"`
	Software     string     `json:"software,omitempty"`
	MainPageURL  string     `json:"mainPageUrl,omitempty"`
	MainPageDate string     `json:"mainPageDate,omitempty"`
	Resources    []resource `json:"resources"`
}

type digestFile struct {
	Path string `json:"path"`
	Hash string `json:"hash"`
}

const timeFormat = "2006-01-02T15:04:05.000Z"

func hashOf(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }

// Write writes the WACZ to w.
func Write(w io.Writer, p Package) error {
	zw := zip.NewWriter(w)
	var resources []resource
	store := func(path string, r io.Reader) error {
		hw, err := zw.CreateHeader(&zip.FileHeader{Name: path, Method: zip.Store, Modified: p.Created})
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(hw, h), r)
		if err != nil {
			return fmt.Errorf("wacz: %s: %w", path, err)
		}
		name := path[strings.LastIndex(path, "/")+1:]
		resources = append(resources, resource{Name: name, Path: path, Hash: "sha256:" + hex.EncodeToString(h.Sum(nil)), Bytes: n})
		return nil
	}
	f, err := os.Open(p.WARC)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := store("archive/data.warc", f); err != nil {
		return err
	}
	if err := store("indexes/index.cdxj", bytes.NewReader(CDXJ(p.Index, "data.warc"))); err != nil {
		return err
	}
	if err := store("pages/pages.jsonl", bytes.NewReader(pagesJSONL(p.Pages))); err != nil {
		return err
	}
	dp := datapackage{Profile: "data-package", WACZVersion: Version, Title: p.Title, Created: p.Created.UTC().Format(timeFormat),
		Software: p.Software, Resources: resources}
	if len(p.Pages) > 0 {
		dp.MainPageURL, dp.MainPageDate = p.Pages[0].URL, p.Pages[0].Time.UTC().Format(timeFormat)
	}
	dpJSON, err := json.MarshalIndent(dp, "", "  ")
	if err != nil {
		return err
	}
	if err := storeBytes(zw, "datapackage.json", dpJSON, p.Created); err != nil {
		return err
	}
	dg, _ := json.MarshalIndent(digestFile{Path: "datapackage.json", Hash: hashOf(dpJSON)}, "", "  ")
	if err := storeBytes(zw, "datapackage-digest.json", dg, p.Created); err != nil {
		return err
	}
	return zw.Close()
}

func storeBytes(zw *zip.Writer, path string, b []byte, at time.Time) error {
	w, err := zw.CreateHeader(&zip.FileHeader{Name: path, Method: zip.Store, Modified: at})
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// cdxjFields are the JSON fields of an index line.
type cdxjFields struct {
	URL      string `json:"url"`
	Mime     string `json:"mime,omitempty"`
	Status   string `json:"status,omitempty"`
	Digest   string `json:"digest,omitempty"`
	Length   string `json:"length"`
	Offset   string `json:"offset"`
	Filename string `json:"filename"`
}

// CDXJ makes the index: "SURT TIMESTAMP {json}" lines, sorted.
func CDXJ(entries []Entry, filename string) []byte {
	lines := make([]string, 0, len(entries))
	for _, e := range entries {
		f := cdxjFields{URL: e.URL, Mime: e.Mime, Digest: e.Digest, Length: fmt.Sprint(e.Length), Offset: fmt.Sprint(e.Offset), Filename: filename}
		if e.Status != 0 {
			f.Status = fmt.Sprint(e.Status)
		}
		j, _ := json.Marshal(f)
		lines = append(lines, SURT(e.URL)+" "+e.Time.UTC().Format("20060102150405")+" "+string(j))
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return nil
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// SURT is the sort-friendly form of a URL that CDXJ indexes use:
// "org,example)/post/123?a=1" for https://www.example.org/post/123?a=1.
// A URN or a URL that does not parse is kept as it is.
func SURT(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	host, port := u.Hostname(), u.Port()
	host = strings.TrimPrefix(strings.ToLower(host), "www.")
	if net.ParseIP(host) == nil {
		labels := strings.Split(host, ".")
		for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
			labels[i], labels[j] = labels[j], labels[i]
		}
		host = strings.Join(labels, ",")
	}
	if port != "" && !(u.Scheme == "https" && port == "443" || u.Scheme == "http" && port == "80") {
		host += ":" + port
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return host + ")" + strings.ToLower(path)
}

func pagesJSONL(pages []Page) []byte {
	var b bytes.Buffer
	b.WriteString(`{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}` + "\n")
	for _, p := range pages {
		j, _ := json.Marshal(struct {
			ID    string `json:"id"`
			URL   string `json:"url"`
			TS    string `json:"ts"`
			Title string `json:"title,omitempty"`
		}{p.ID, p.URL, p.Time.UTC().Format(timeFormat), p.Title})
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Checked is what Check found.
type Checked struct {
	Resources int
	Entries   int
	Software  string
	Created   string
	MainPage  string
}

// ErrInvalid is a WACZ that does not hold together.
var ErrInvalid = errors.New("wacz: not a valid WACZ")

// Check verifies a WACZ held in r (size bytes): it is a ZIP whose entries
// are stored; datapackage-digest.json names datapackage.json's hash;
// datapackage.json lists every other file with its true size and sha256;
// and every index line points at a record of the WARC with its URL.
func Check(r io.ReaderAt, size int64) (*Checked, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		if f.Method != zip.Store {
			return nil, fmt.Errorf("%w: %s is compressed (WACZ stores its entries)", ErrInvalid, f.Name)
		}
		if files[f.Name] != nil {
			return nil, fmt.Errorf("%w: %s appears twice in the ZIP", ErrInvalid, f.Name)
		}
		files[f.Name] = f
	}
	read := func(name string, max int64) ([]byte, error) {
		f, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("%w: no %s", ErrInvalid, name)
		}
		if f.UncompressedSize64 > uint64(max) {
			return nil, fmt.Errorf("%w: %s is over %d bytes", ErrInvalid, name, max)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
		}
		return b, nil
	}
	dpJSON, err := read("datapackage.json", 64<<20)
	if err != nil {
		return nil, err
	}
	if dgJSON, err := read("datapackage-digest.json", 1<<20); err == nil {
		var dg digestFile
		if err := json.Unmarshal(dgJSON, &dg); err != nil || dg.Path != "datapackage.json" {
			return nil, fmt.Errorf("%w: datapackage-digest.json malformed", ErrInvalid)
		}
		if dg.Hash != hashOf(dpJSON) {
			return nil, fmt.Errorf("%w: datapackage.json hashes to %s, datapackage-digest.json says %s", ErrInvalid, hashOf(dpJSON), dg.Hash)
		}
	} else {
		return nil, err
	}
	var dp datapackage
	if err := json.Unmarshal(dpJSON, &dp); err != nil {
		return nil, fmt.Errorf("%w: datapackage.json: %v", ErrInvalid, err)
	}
	out := &Checked{Software: dp.Software, Created: dp.Created, MainPage: dp.MainPageURL}
	listed := map[string]bool{}
	for _, res := range dp.Resources {
		listed[res.Path] = true
	}
	for name := range files {
		if (strings.HasPrefix(name, "archive/") || strings.HasPrefix(name, "indexes/")) && !listed[name] {
			return nil, fmt.Errorf("%w: %s is in the ZIP but not in datapackage.json, so nothing vouches for it", ErrInvalid, name)
		}
	}
	for _, res := range dp.Resources {
		f, ok := files[res.Path]
		if !ok {
			return nil, fmt.Errorf("%w: %s is listed but not in the ZIP", ErrInvalid, res.Path)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, res.Path, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, res.Path, err)
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != res.Hash || n != res.Bytes {
			return nil, fmt.Errorf("%w: %s is %d bytes hashing to %s; datapackage.json says %d bytes, %s", ErrInvalid, res.Path, n, got, res.Bytes, res.Hash)
		}
		out.Resources++
	}
	entries, err := checkIndex(r, files, read)
	if err != nil {
		return nil, err
	}
	out.Entries = entries
	return out, nil
}

// checkIndex checks that every CDXJ line of indexes/ points at a WARC
// record (its offset starts "WARC/1.1", its length ends the record) that
// names the line's URL.
func checkIndex(r io.ReaderAt, files map[string]*zip.File, read func(string, int64) ([]byte, error)) (int, error) {
	n := 0
	for name := range files {
		if !strings.HasPrefix(name, "indexes/") || !strings.HasSuffix(name, ".cdxj") {
			continue
		}
		idx, err := read(name, 256<<20)
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(strings.TrimSpace(string(idx)), "\n") {
			if line == "" {
				continue
			}
			parts := strings.SplitN(line, " ", 3)
			var f cdxjFields
			if len(parts) != 3 || json.Unmarshal([]byte(parts[2]), &f) != nil {
				return 0, fmt.Errorf("%w: %s: line %q", ErrInvalid, name, line)
			}
			wf, ok := files["archive/"+f.Filename]
			if !ok {
				return 0, fmt.Errorf("%w: %s names archive/%s, which is not there", ErrInvalid, name, f.Filename)
			}
			off, err1 := strconv.ParseInt(f.Offset, 10, 64)
			length, err2 := strconv.ParseInt(f.Length, 10, 64)
			data, err := wf.DataOffset()
			if err != nil || err1 != nil || err2 != nil || off < 0 || length < 12 || uint64(off+length) > wf.UncompressedSize64 {
				return 0, fmt.Errorf("%w: %s: %s at %s+%s is outside the WARC", ErrInvalid, name, f.URL, f.Offset, f.Length)
			}
			// Entries are stored: the record is at the same offset in the ZIP.
			head := make([]byte, min(length, 64<<10))
			_, err = r.ReadAt(head, data+off)
			if err != nil || !bytes.HasPrefix(head, []byte("WARC/1.")) || !bytes.Contains(head, []byte("WARC-Target-URI: "+f.URL+"\r\n")) {
				return 0, fmt.Errorf("%w: %s: the record at offset %s is not that of %s", ErrInvalid, name, f.Offset, f.URL)
			}
			n++
		}
	}
	return n, nil
}
