package browser_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/acquire/web/proxy"
	"github.com/openexhibit/exhibit/acquire/web/webtest"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// TestCapture loads a page in the real chromium-headless-shell through the
// recording proxy: the script ran, scrolling loaded the whole list, the
// screenshot and PDF were made, every request went through the proxy and
// none went elsewhere, and no request says HeadlessChrome.
func TestCapture(t *testing.T) {
	testenv.Program(t, "chromium-headless-shell", browser.DefaultExec)
	srv := webtest.Site(t)
	roots := webtest.Roots(srv)
	var mu sync.Mutex
	var exs []*proxy.Exchange
	p, err := proxy.Start(proxy.Options{InsecureAllowPrivate: true, RootCAs: roots, TempDir: t.TempDir(),
		Exchange: func(ex *proxy.Exchange) { mu.Lock(); exs = append(exs, ex); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url := srv.URL + "/post/123"
	pg, err := browser.Capture(ctx, url, browser.Options{Proxy: p.Addr(), SPKI: p.SPKIHash(), MaxScrolls: 30})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if pg.Title != "Post 123" || pg.FinalURL != url || !strings.Contains(pg.Text, "Inserted by script: trucks on the bridge") {
		t.Fatalf("title %q, final URL %q, text %q", pg.Title, pg.FinalURL, pg.Text)
	}
	if !strings.Contains(pg.Text, "item 30") {
		t.Fatalf("scrolling did not load the whole list (%v): %q", pg.Behaviours, pg.Text)
	}
	if !bytes.HasPrefix(pg.Screenshot, []byte("\x89PNG")) || !bytes.HasPrefix(pg.PDF, []byte("%PDF")) || !strings.Contains(pg.DOM, `id="list"`) {
		t.Fatal("screenshot, PDF or DOM missing")
	}
	if strings.Contains(pg.UserAgent, "Headless") || !strings.HasPrefix(pg.Browser, "HeadlessChrome/") {
		t.Fatalf("user agent %q, browser %q", pg.UserAgent, pg.Browser)
	}
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	for _, ex := range exs {
		if !strings.HasPrefix(ex.URL, srv.URL) {
			t.Errorf("the browser fetched %s, which is not the page's", ex.URL)
		}
		seen[strings.TrimPrefix(ex.URL, srv.URL)] = true
		req := make([]byte, ex.Request.Size())
		ex.Request.ReadAt(req, 0)
		if testing.Verbose() && strings.HasSuffix(ex.URL, "/post/123") {
			t.Logf("%s", req)
		}
		if bytes.Contains(req, []byte("Headless")) {
			t.Errorf("request for %s says Headless:\n%s", ex.URL, req)
		}
		if ex.Err != nil {
			t.Errorf("%s: %v", ex.URL, ex.Err)
		}
	}
	for _, want := range []string{"/post/123", "/pixel.png", "/more?from=0", "/more?from=25"} {
		if !seen[want] {
			t.Errorf("no exchange for %s (%d exchanges)", want, len(exs))
		}
	}
}
