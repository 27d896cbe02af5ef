package web_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/acquire/web"
	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/acquire/web/media"
	"github.com/openexhibit/exhibit/acquire/web/profile"
	"github.com/openexhibit/exhibit/acquire/web/webtest"
	"github.com/openexhibit/exhibit/capture/wacz"
	"github.com/openexhibit/exhibit/capture/warc"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// TestCaptureWARC captures the test site's article with the real browser
// and reads the WARC back: every record's digests hold; the connection,
// every exchange and what the browser took are there; the screenshot
// record is the screenshot; a byte changed anywhere is caught.
func TestCaptureWARC(t *testing.T) {
	testenv.Program(t, "chromium-headless-shell", browser.DefaultExec)
	srv := webtest.Site(t)
	roots := webtest.Roots(srv)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url := srv.URL + "/post/123"
	res, err := web.Capture(ctx, url, web.Options{RootCAs: roots, InsecureAllowPrivate: true, TempDir: t.TempDir(), Software: "exhibit test"})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Remove()
	// Scrolling waited for the proxy to go quiet, and so loaded the whole
	// list.
	if !strings.Contains(res.Page.Text, "item 30") {
		t.Fatalf("the list was not loaded to its end (%v)", res.Page.Behaviours)
	}
	data, err := os.ReadFile(res.WARC)
	if testing.Verbose() {
		t.Logf("%s", data[:min(len(data), 3000)])
	}
	if err != nil || int64(len(data)) != res.Size {
		t.Fatalf("WARC of %d bytes, result says %d: %v", len(data), res.Size, err)
	}
	types := map[string]int{}
	var conn map[string]any
	var shot []byte
	styled := false // the stylesheet recorded as sent: gzip, chunked
	rd := warc.NewReader(bytes.NewReader(data))
	for i := 0; ; i++ {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && rec.Header.Get("WARC-Type") != warc.Warcinfo {
			t.Fatal("the first record is not warcinfo")
		}
		typ := rec.Header.Get("WARC-Type")
		types[typ]++
		uri := rec.Header.Get("WARC-Target-URI")
		var block bytes.Buffer
		if err := warc.Check(&warc.ReadRecord{Header: rec.Header, Offset: rec.Offset, Size: rec.Size, Block: io.TeeReader(rec.Block, &block)}); err != nil {
			t.Fatal(err)
		}
		switch {
		case typ == warc.Metadata && conn == nil && strings.HasPrefix(uri, srv.URL):
			if err := json.Unmarshal(block.Bytes(), &conn); err != nil {
				t.Fatal(err)
			}
		case uri == wacz.ScreenshotURN+url:
			shot = block.Bytes()
		case typ == warc.Response && uri == srv.URL+"/style.css":
			head, _, _ := bytes.Cut(block.Bytes(), []byte("\r\n\r\n"))
			styled = bytes.Contains(head, []byte("Content-Encoding: gzip")) && bytes.Contains(head, []byte("Transfer-Encoding: chunked"))
		}
	}
	if types[warc.Request] != res.Exchanges || types[warc.Response] != res.Exchanges-res.Failed || res.Exchanges < 8 || res.Failed != 0 {
		t.Fatalf("records %v for %d exchanges (%d failed)", types, res.Exchanges, res.Failed)
	}
	if types[warc.Resource] != 4 {
		t.Fatalf("%d resource records, want screenshot, PDF, DOM and text", types[warc.Resource])
	}
	if conn["tlsVersion"] != "TLS 1.3" || conn["chainVerified"] != true || !strings.Contains(conn["chain"].(string), "BEGIN CERTIFICATE") {
		t.Fatalf("connection record %v", conn)
	}
	if !bytes.Equal(shot, res.Page.Screenshot) {
		t.Fatal("the screenshot record is not the screenshot")
	}
	if !styled {
		t.Fatal("no gzip, chunked response for /style.css in the WARC")
	}
	// warcio.js, sharing no code with the writer, agrees; and catches a
	// byte changed in a response.
	node := testenv.Program(t, "nodejs", "node")
	check := func(file string) (string, error) {
		cmd := exec.Command(node, filepath.Join("..", "..", "scripts", "warc-check.mjs"), file)
		cmd.Env = append(os.Environ(), "WARCIO_MODULE="+testenv.Warcio(t))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check(res.WARC); err != nil || !strings.Contains(out, fmt.Sprintf("%d records ok", len(res.Records))) {
		t.Fatalf("warc-check: %v\n%s", err, out)
	}
	resp := res.Records[3] // warcinfo, connection, request, response
	bad := bytes.Clone(data)
	bad[resp.Offset+resp.HeaderLength+(resp.Length-resp.HeaderLength-4)/2] ^= 1
	badFile := filepath.Join(t.TempDir(), "bad.warc")
	os.WriteFile(badFile, bad, 0o644)
	if out, err := check(badFile); err == nil || !strings.Contains(out, "Digest") {
		t.Fatalf("warc-check passed a changed response: %v\n%s", err, out)
	}

	// One byte changed in any record's block is caught.
	for _, rec := range res.Records[1:6] {
		bad := bytes.Clone(data)
		bad[rec.Offset+rec.HeaderLength] ^= 0x20
		rd := warc.NewReader(bytes.NewReader(bad))
		caught := false
		for {
			r, err := rd.Next()
			if err != nil {
				break
			}
			if err := warc.Check(r); err != nil {
				caught = true
				break
			}
		}
		if !caught {
			t.Fatalf("a byte changed in the record at %d went unnoticed", rec.Offset)
		}
	}

	// The WACZ holds together: every resource's hash, the digest file, and
	// every index line resolving to its record; and a byte changed in the
	// WARC inside it is caught.
	z, err := os.ReadFile(res.WACZ)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wacz.Check(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Resources != 3 || got.Entries != len(res.Index) || got.Entries != res.Exchanges+4 || got.MainPage != url {
		t.Fatalf("WACZ %+v; %d index entries, %d exchanges", got, len(res.Index), res.Exchanges)
	}
	// The independent check (scripts/wacz-check.mjs, Node alone) agrees,
	// and catches a byte changed in the WARC, the package, or the index.
	waczCheck := func(b []byte) (string, error) {
		f := filepath.Join(t.TempDir(), "c.wacz")
		os.WriteFile(f, b, 0o644)
		out, err := exec.Command(node, filepath.Join("..", "..", "scripts", "wacz-check.mjs"), f).CombinedOutput()
		return string(out), err
	}
	if out, err := waczCheck(z); err != nil || !strings.Contains(out, fmt.Sprintf("%d index entries", len(res.Index))) {
		t.Fatalf("wacz-check: %v\n%s", err, out)
	}
	for _, at := range []int{
		bytes.Index(z, []byte("WARC/1.1\r\nWARC-Type: response")) + 400,
		bytes.Index(z, []byte(`"resources"`)) + 20,
		bytes.Index(z, []byte(`"offset":`)) + 12,
	} {
		bad := bytes.Clone(z)
		bad[at] ^= 1
		if out, err := waczCheck(bad); err == nil {
			t.Errorf("wacz-check passed a byte changed at %d: %s", at, out)
		}
		if _, err := wacz.Check(bytes.NewReader(bad), int64(len(bad))); !errors.Is(err, wacz.ErrInvalid) {
			t.Errorf("wacz.Check passed a byte changed at %d: %v", at, err)
		}
	}
	// An index line moved to another record, every hash made anew to
	// match: both checks find the line does not name its record (and pass
	// the package repacked without the change).
	same := repack(t, z, func(_ string, b []byte) []byte { return b })
	if out, err := waczCheck(same); err != nil {
		t.Fatalf("wacz-check, repacked: %v %s", err, out)
	}
	if _, err := wacz.Check(bytes.NewReader(same), int64(len(same))); err != nil {
		t.Fatalf("wacz.Check, repacked: %v", err)
	}
	moved := repack(t, z, func(name string, b []byte) []byte {
		if name != "indexes/index.cdxj" {
			return b
		}
		lines := strings.SplitAfter(string(b), "\n")
		var o1, o2 struct {
			Offset string `json:"offset"`
		}
		json.Unmarshal([]byte(lines[0][strings.Index(lines[0], "{"):]), &o1)
		json.Unmarshal([]byte(lines[1][strings.Index(lines[1], "{"):]), &o2)
		lines[0] = strings.Replace(lines[0], `"offset":"`+o1.Offset+`"`, `"offset":"`+o2.Offset+`"`, 1)
		return []byte(strings.Join(lines, ""))
	})
	if out, err := waczCheck(moved); err == nil || !strings.Contains(out, "index line 1") {
		t.Errorf("wacz-check passed a moved index line: %v %s", err, out)
	}
	if _, err := wacz.Check(bytes.NewReader(moved), int64(len(moved))); !errors.Is(err, wacz.ErrInvalid) {
		t.Errorf("wacz.Check passed a moved index line: %v", err)
	}
}

// repack rewrites a WACZ with edit applied to each file, every entry
// stored, and datapackage.json and its digest made anew to match.
func repack(t *testing.T, z []byte, edit func(name string, b []byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var names []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name], names = edit(f.Name, b), append(names, f.Name)
	}
	var pkg map[string]any
	json.Unmarshal(files["datapackage.json"], &pkg)
	for _, r := range pkg["resources"].([]any) {
		r := r.(map[string]any)
		sum := sha256.Sum256(files[r["path"].(string)])
		r["hash"], r["bytes"] = "sha256:"+hex.EncodeToString(sum[:]), len(files[r["path"].(string)])
	}
	files["datapackage.json"], _ = json.Marshal(pkg)
	sum := sha256.Sum256(files["datapackage.json"])
	files["datapackage-digest.json"], _ = json.Marshal(map[string]string{"path": "datapackage.json", "hash": "sha256:" + hex.EncodeToString(sum[:])})
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files[n])
	}
	zw.Close()
	return out.Bytes()
}

// TestRedirectAndRemoved: a shared link that redirects (setting a cookie)
// is recorded with its redirect and the page it led to; a post taken down
// (410) is captured, not refused, and recorded as unavailable at that time.
func TestRedirectAndRemoved(t *testing.T) {
	testenv.Program(t, "chromium-headless-shell", browser.DefaultExec)
	srv := webtest.Site(t)
	roots := webtest.Roots(srv)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	prov := func(path string) web.Provenance {
		t.Helper()
		res, err := web.Capture(ctx, srv.URL+path, web.Options{RootCAs: roots, InsecureAllowPrivate: true, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Remove()
		acq, err := res.Acquisition(web.AcquireOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return acq.Provenance.(web.Provenance)
	}
	p := prov("/share/123")
	if p.FinalURL != srv.URL+"/post/123" || len(p.Redirects) != 1 || p.Redirects[0].Status != 302 ||
		p.Redirects[0].URL != srv.URL+"/share/123" || p.Status != 200 || p.Availability != "available" {
		t.Fatalf("redirect: %+v", p)
	}
	p = prov("/post/removed")
	if p.Status != 410 || p.Availability != "unavailable" || p.Title != "Removed" {
		t.Fatalf("removed post: %+v", p)
	}
}

// TestCaptureMedia captures the test site's video post with --media's
// yt-dlp: the browser's range requests for the clip and yt-dlp's download
// are exchanges like any; the clip is a resource record byte-identical to
// what was served, and a derivative of the WACZ; the post's JSON-LD is
// social metadata in the provenance, with yt-dlp among the tools.
func TestCaptureMedia(t *testing.T) {
	testenv.Program(t, "chromium-headless-shell", browser.DefaultExec)
	testenv.Program(t, "yt-dlp", media.DefaultExec)
	srv := webtest.Site(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url := srv.URL + "/video/7"
	res, err := web.Capture(ctx, url, web.Options{RootCAs: webtest.Roots(srv), InsecureAllowPrivate: true, TempDir: t.TempDir(),
		Media: &media.Options{Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Remove()
	data, err := os.ReadFile(res.WARC)
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string][]string{}
	var clip, info []byte
	rd := warc.NewReader(bytes.NewReader(data))
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		block, _ := io.ReadAll(rec.Block)
		uri := rec.Header.Get("WARC-Target-URI")
		switch typ := rec.Header.Get("WARC-Type"); {
		case typ == warc.Response:
			status, _, _ := bytes.Cut(block, []byte("\r\n"))
			statuses[uri] = append(statuses[uri], string(status))
		case typ == warc.Resource && uri == wacz.MediaURN+"media-001.mp4:"+url:
			clip = block
		case typ == warc.Metadata && uri == wacz.MediaInfoURN+url:
			info = block
		}
	}
	if !bytes.Equal(clip, webtest.Clip) {
		t.Fatalf("media record of %d bytes, the clip has %d; responses: %v", len(clip), len(webtest.Clip), statuses)
	}
	got := strings.Join(statuses[srv.URL+"/clip.mp4"], ", ")
	if !strings.Contains(got, "206 Partial Content") || !strings.Contains(got, "200 OK") {
		t.Errorf("clip responses %q: want the browser's range response and yt-dlp's download", got)
	}
	if !bytes.Contains(info, []byte(`"witness_kh"`)) {
		t.Errorf("info record: %s", info)
	}
	acq, err := res.Acquisition(web.AcquireOptions{Browser: browser.DefaultExec})
	if err != nil {
		t.Fatal(err)
	}
	p := acq.Provenance.(web.Provenance)
	if p.Status != 200 || p.Availability != "available" || p.Media == nil || len(p.Media.Files) != 1 || p.Media.Problem != "" {
		t.Fatalf("provenance %+v, media %+v", p, p.Media)
	}
	f := p.Media.Files[0]
	sum := sha256.Sum256(webtest.Clip)
	if f.Name != "media-001.mp4" || f.Digest != "sha256:"+hex.EncodeToString(sum[:]) || f.MediaType != "video/mp4" {
		t.Errorf("media file %+v", f)
	}
	if p.Social == nil || p.Social.Author.Name != "witness_kh" || p.Social.Posted == nil || !strings.Contains(p.Social.Posted.Note, "not verified") {
		t.Errorf("social %+v", p.Social)
	}
	if len(acq.Tools) != 2 || acq.Tools[1].Name != "yt-dlp" || acq.Tools[1].Version == "" || acq.Tools[1].Digest["sha256"] == "" {
		t.Errorf("tools %+v", acq.Tools)
	}
	if acq.Ended.Before(p.Media.Ended) {
		t.Errorf("acquisition ended %v before its media (%v)", acq.Ended, p.Media.Ended)
	}
	// The WACZ reader makes the clip a derivative: the record's block.
	z, err := os.ReadFile(res.WACZ)
	if err != nil {
		t.Fatal(err)
	}
	out, err := wacz.New().Read(ctx, zipSource{bytes.NewReader(z)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range out.Derivatives {
		names = append(names, d.Name)
		if d.Name == "media-001.mp4" {
			var b bytes.Buffer
			if err := d.Write(ctx, &b); err != nil || !bytes.Equal(b.Bytes(), webtest.Clip) || d.Kind != "media" {
				t.Errorf("media derivative: %v, %d bytes, kind %s", err, b.Len(), d.Kind)
			}
		}
	}
	if !slices.Contains(names, "media-001.mp4") {
		t.Errorf("derivatives %v", names)
	}
}

type zipSource struct{ *bytes.Reader }

func (zipSource) Name() string      { return "capture.wacz" }
func (zipSource) MediaType() string { return "application/zip" }

// TestCaptureProfile: a members-only page redirects to the login page
// without a profile; with one, the browser and yt-dlp are logged in: the
// page and its members-only clip are captured. The cookie is in the
// original's requests (evidence of what was sent), not in the provenance,
// which names the profile's label, and not in the working copy.
func TestCaptureProfile(t *testing.T) {
	testenv.Program(t, "chromium-headless-shell", browser.DefaultExec)
	testenv.Program(t, "yt-dlp", media.DefaultExec)
	srv := webtest.Site(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := web.Options{RootCAs: webtest.Roots(srv), InsecureAllowPrivate: true, TempDir: t.TempDir()}
	res, err := web.Capture(ctx, srv.URL+"/members/report", o)
	if err != nil {
		t.Fatal(err)
	}
	res.Remove()
	if res.Page.FinalURL != srv.URL+"/login" {
		t.Fatalf("without the profile: ended on %s", res.Page.FinalURL)
	}

	// The profile also holds another site's session (which the browser
	// is not given: profile.TestFor).
	jar := append(webtest.CookiesTxt(strings.TrimPrefix(srv.URL, "https://")), ".google.com\tTRUE\t/\tTRUE\t0\tSID\tother-site-session\n"...)
	cookies, err := profile.Parse(jar)
	if err != nil {
		t.Fatal(err)
	}
	o.Profile = &profile.Profile{Name: "ngo-account", Cookies: cookies[1:], File: jar}
	if _, err := web.Capture(ctx, srv.URL+"/members/report", o); err == nil || !strings.Contains(err.Error(), "has no cookie for the site") {
		t.Fatalf("a profile without the site's cookie: %v", err)
	}
	o.Profile.Cookies = cookies
	o.Media = &media.Options{Timeout: time.Minute}
	url := srv.URL + "/members/video/9"
	res, err = web.Capture(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Remove()
	acq, err := res.Acquisition(web.AcquireOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := acq.Provenance.(web.Provenance)
	if p.FinalURL != url || p.Profile != "ngo-account" || len(p.ProfileDomains) != 1 || p.ProfileDomains[0] != "127.0.0.1" ||
		p.Media == nil || len(p.Media.Files) != 1 {
		t.Fatalf("with the profile: %+v (media %+v)", p, p.Media)
	}
	if b, _ := json.Marshal(acq); bytes.Contains(b, []byte(webtest.Session)) {
		t.Fatalf("the acquisition carries the session cookie:\n%s", b)
	}
	z, err := os.ReadFile(res.WACZ)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(z, []byte("Cookie: session="+webtest.Session)) {
		t.Fatal("the original has no Cookie field: not logged in?")
	}

	out, err := wacz.New().Read(ctx, zipSource{bytes.NewReader(z)})
	if err != nil {
		t.Fatal(err)
	}
	var copied bool
	for _, d := range out.Derivatives {
		if d.Name != "working-copy.wacz" {
			continue
		}
		var b bytes.Buffer
		if err := d.Write(ctx, &b); err != nil || bytes.Contains(b.Bytes(), []byte(webtest.Session)) {
			t.Fatalf("working copy: %v, holds the session: %v", err, bytes.Contains(b.Bytes(), []byte(webtest.Session)))
		}
		copied = true
	}
	if !copied {
		t.Fatal("no working copy without the credentials")
	}
}
