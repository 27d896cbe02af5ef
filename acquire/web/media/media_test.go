package media

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/acquire/web/proxy"
	"github.com/openexhibit/exhibit/acquire/web/webtest"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// recorded runs a recording proxy for the test site and collects the
// URLs of its exchanges.
func recorded(t *testing.T) (*proxy.Proxy, func() []string, string) {
	srv := webtest.Site(t)
	var mu sync.Mutex
	var urls []string
	p, err := proxy.Start(proxy.Options{RootCAs: webtest.Roots(srv), InsecureAllowPrivate: true, TempDir: t.TempDir(),
		Exchange: func(ex *proxy.Exchange) {
			mu.Lock()
			defer mu.Unlock()
			urls = append(urls, ex.URL)
			ex.Request.Close()
			if ex.Response != nil {
				ex.Response.Close()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, func() []string { p.Close(); mu.Lock(); defer mu.Unlock(); return urls }, srv.URL
}

// TestFetch runs the real yt-dlp on the test site's video post through
// the recording proxy: the file is the served clip, every download went
// through the proxy, and the post's JSON-LD became social metadata.
func TestFetch(t *testing.T) {
	testenv.Program(t, "yt-dlp", DefaultExec)
	p, exchanges, site := recorded(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Fetch(ctx, site+"/video/7", Options{Proxy: p.Addr(), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Problem != "" || len(res.Files) != 1 {
		t.Fatalf("problem %q, files %+v", res.Problem, res.Files)
	}
	f := res.Files[0]
	got, err := os.ReadFile(f.Path)
	if err != nil || !bytes.Equal(got, webtest.Clip) || f.Size != int64(len(webtest.Clip)) || f.MediaType != "video/mp4" || f.Name != "media-001.mp4" || f.Incomplete {
		t.Fatalf("file %+v is not the clip (%d bytes, %v)", f, len(got), err)
	}
	if res.Version == "" {
		t.Error("no version")
	}
	urls := strings.Join(exchanges(), "\n")
	for _, want := range []string{site + "/video/7", site + "/clip.mp4"} {
		if !strings.Contains(urls, want) {
			t.Errorf("%s not fetched through the proxy; it saw:\n%s", want, urls)
		}
	}
	s := res.Social
	if s == nil {
		t.Fatal("no social metadata")
	}
	if s.Platform != "Generic" || s.PostID != "7" || s.Author.Name != "witness_kh" || s.Title != "Convoy on the bridge" ||
		s.Text != "Filmed at dawn from the east bank." || s.PostURL != site+"/video/7" {
		t.Errorf("social %+v", s)
	}
	if s.Posted == nil || !s.Posted.Time.Equal(time.Date(2026, 3, 12, 5, 41, 0, 0, time.UTC)) || s.Posted.Precision != "second" {
		t.Errorf("posted %+v", s.Posted)
	}
	if e := s.Engagement; e == nil || e.Views == nil || *e.Views != 1520 || e.Likes == nil || *e.Likes != 87 || time.Since(e.ObservedAt) > 5*time.Minute {
		t.Errorf("engagement %+v", e)
	}
	// The info names no file of this machine.
	if bytes.Contains(res.Info, []byte(dir)) || bytes.Contains(res.Info, []byte(`"filepath"`)) || !bytes.Contains(res.Info, []byte(`"Convoy on the bridge"`)) {
		t.Errorf("info JSON:\n%s", res.Info)
	}
	// yt-dlp's home is gone; nothing but the media is left.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("left in the folder: %v", ents)
	}
}

// TestFetchNothing: a removed post and a page without media are not
// errors, they are problems that say why; a missing yt-dlp is an error
// that says what to do.
func TestFetchNothing(t *testing.T) {
	testenv.Program(t, "yt-dlp", DefaultExec)
	p, _, site := recorded(t)
	ctx := context.Background()
	for _, path := range []string{"/post/removed", "/pixel.png"} {
		res, err := Fetch(ctx, site+path, Options{Proxy: p.Addr(), Dir: t.TempDir(), Timeout: time.Minute})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if path == "/post/removed" && (res.Problem == "" || !strings.Contains(res.Problem, "410")) {
			t.Errorf("%s: problem %q", path, res.Problem)
		}
		if path == "/post/removed" && len(res.Files) != 0 {
			t.Errorf("%s: files %+v", path, res.Files)
		}
	}
	_, err := Fetch(ctx, site+"/video/7", Options{Exec: filepath.Join(t.TempDir(), "no-yt-dlp"), Proxy: p.Addr(), Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "apt-get install yt-dlp") {
		t.Errorf("missing yt-dlp: %v", err)
	}
}

// TestFetchAroundProxy: media served over a protocol that would not go
// through the proxy (RTSP, RTMP) are not fetched: nothing connects to
// them, and the problem says no format was available.
func TestFetchAroundProxy(t *testing.T) {
	testenv.Program(t, "yt-dlp", DefaultExec)
	p, _, site := recorded(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	for _, scheme := range []string{"rtsp", "rtmp"} {
		src := url.QueryEscape(scheme + "://" + ln.Addr().String() + "/live/clip.mp4")
		res, err := Fetch(context.Background(), site+"/video/elsewhere?src="+src, Options{Proxy: p.Addr(), Dir: t.TempDir(), Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Files) != 0 || res.Problem == "" {
			t.Errorf("%s: files %+v, problem %q", scheme, res.Files, res.Problem)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d connections around the proxy", n)
	}
}

func TestReadInfo(t *testing.T) {
	in := `{"id": 1790000000000000123, "extractor_key": "Twitter", "uploader_id": "kh_witness", "uploader": "Witness",
	 "channel_id": "99", "upload_date": "20260312", "repost_count": 4, "like_count": 1.5,
	 "requested_downloads": [{"filepath": "/home/alice/x/media-001.mp4", "format_id": "hls-832", "__files_to_merge": ["/home/alice/x/media-001.f1.mp4"]}],
	 "formats": [{"url": "https://v", "cookies": "auth_token=secret", "http_headers": {"Cookie": "auth_token=secret", "Accept": "*/*"}}], "_filename": "/home/alice/x", "epoch": 1800000000}`
	clean, s, finished, err := readInfo([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(finished) != 1 || !finished["media-001.mp4"] {
		t.Errorf("finished %v", finished)
	}
	for _, leak := range []string{"alice", "secret"} {
		if bytes.Contains(clean, []byte(leak)) {
			t.Errorf("%q left in %s", leak, clean)
		}
	}
	if !bytes.Contains(clean, []byte("1790000000000000123")) || !bytes.Contains(clean, []byte("hls-832")) {
		t.Errorf("lost a field: %s", clean)
	}
	if s.PostID != "1790000000000000123" || s.Author.Handle != "kh_witness" || s.Author.ID != "99" || s.Platform != "Twitter" {
		t.Errorf("%+v", s)
	}
	if s.Posted == nil || s.Posted.Precision != "day" || s.Posted.Source != "upload_date" || s.Posted.Time.Day() != 12 {
		t.Errorf("posted %+v", s.Posted)
	}
	e := s.Engagement
	if e == nil || e.Reposts == nil || *e.Reposts != 4 || e.Likes != nil || e.ObservedAt.Unix() != 1800000000 {
		t.Errorf("engagement %+v (a fraction is not a count)", e)
	}
	if _, _, _, err := readInfo([]byte(`{"id": `)); err == nil {
		t.Error("truncated info accepted")
	}
}
