// Package webtest is the local test site of the web capture tests: pages
// that scripts fill, that grow as they are scrolled, with images, served
// over HTTPS on 127.0.0.1.
package webtest

import (
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Article is a page whose text a script inserts, with an image, and a list
// that grows as it is scrolled (five more items each time the end is
// reached, up to "item 30"), as social media timelines do.
const Article = `<!doctype html>
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

// Pixel is /pixel.png.
var Pixel = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

// Site starts the test site on 127.0.0.1 (HTTPS, HTTP/2 and HTTP/1.1,
// its certificate from srv.Certificate()): /post/123 is Article, with
// /pixel.png and the list items of /more; /share/123 redirects to it
// setting a cookie; /post/removed answers 410 Gone. It stops when the
// test ends.
func Site(t testing.TB) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/post/123", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, Article)
	})
	mux.HandleFunc("/pixel.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(Pixel)
	})
	mux.HandleFunc("/more", func(w http.ResponseWriter, r *http.Request) {
		var from int
		fmt.Sscan(r.URL.Query().Get("from"), &from)
		for i := from + 1; i <= from+5; i++ {
			fmt.Fprintf(w, "item %d\n", i)
		}
	})
	// A post taken down: the platform answers 410 with a page saying so.
	mux.HandleFunc("/post/removed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusGone)
		io.WriteString(w, "<!doctype html><title>Removed</title><p>This post was removed.</p>")
	})
	// A redirect that sets a cookie, to the article.
	mux.HandleFunc("/share/123", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "tracking", Value: "abc", Path: "/"})
		http.Redirect(w, r, "/post/123", http.StatusFound)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// Roots is a pool that trusts only the site's certificate.
func Roots(srv *httptest.Server) *x509.CertPool {
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return roots
}
