package browser_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/acquire/web/proxy"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// A page whose text is inserted by a script, with an image, and a list
// that grows as it is scrolled (five more items each time the end is
// reached, up to item 30), as social media timelines do.
const article = `<!doctype html>
<html><head><title>Post 123</title>
<style>.item { height: 400px; border-bottom: 1px solid #ccc }</style></head>
<body>
<h1>Post 123</h1>
<p id="js"></p>
<img src="/pixel.png" width="10" height="10">
<div id="list"></div>
<script>
document.getElementById("js").textContent = "Inserted by script: trucks on the bridge at dawn.";
let n = 0, busy = false;
function more() {
	if (busy || n >= 30) return;
	busy = true;
	fetch("/more?from=" + n).then(r => r.text()).then(t => {
		for (const line of t.split("\n").filter(Boolean)) {
			const d = document.createElement("div");
			d.className = "item"; d.textContent = line;
			document.getElementById("list").appendChild(d);
			n++;
		}
		busy = false;
	});
}
more();
window.addEventListener("scroll", () => {
	if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 10) more();
});
</script>
</body></html>`

var pixel = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

func site(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/post/123", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, article)
	})
	mux.HandleFunc("/pixel.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(pixel)
	})
	mux.HandleFunc("/more", func(w http.ResponseWriter, r *http.Request) {
		var from int
		fmt.Sscan(r.URL.Query().Get("from"), &from)
		for i := from + 1; i <= from+5; i++ {
			fmt.Fprintf(w, "item %d\n", i)
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestCapture loads a page in the real chromium-headless-shell through the
// recording proxy: the script ran, scrolling loaded the whole list, the
// screenshot and PDF were made, every request went through the proxy and
// none went elsewhere, and no request says HeadlessChrome.
func TestCapture(t *testing.T) {
	testenv.Program(t, "chromium-headless-shell", browser.DefaultExec)
	srv := site(t)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
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
