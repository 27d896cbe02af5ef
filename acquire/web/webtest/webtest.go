// Package webtest is the local test site of the web capture tests: pages
// that scripts fill, that grow as they are scrolled, with images, served
// over HTTPS on 127.0.0.1.
package webtest

import (
	"bytes"
	"compress/gzip"
	"crypto/x509"
	_ "embed"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Article is a page whose text a script inserts, with an image, and a list
// that grows as it is scrolled (five more items each time the end is
// reached, up to "item 30"), as social media timelines do.
const Article = `<!doctype html>
<html><head><title>Post 123</title>
<link rel="stylesheet" href="/style.css"></head>
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

// Style is /style.css, which the site sends gzip-compressed in chunks
// (Content-Encoding: gzip, Transfer-Encoding: chunked).
const Style = ".item { height: 400px; border-bottom: 1px solid #ccc }\n"

// Pixel is /pixel.png.
var Pixel = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

// Clip is /clip.mp4: two seconds of H.264 test pattern, 96x64 (made with
// ffmpeg -f lavfi -i testsrc=duration=2:size=96x64:rate=10 -c:v libx264
// -pix_fmt yuv420p -profile:v baseline -movflags +faststart).
//
//go:embed clip.mp4
var Clip []byte

// Video is /video/7: a post with a video that plays by itself (inserted
// by a script, as platforms' players are), described
// in schema.org JSON-LD as platforms do (the author, the time of posting,
// view and like counts), which yt-dlp's generic extractor reads. HOST is
// replaced by the site's address.
const Video = `<!doctype html>
<html><head><title>Convoy on the bridge</title>
<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "VideoObject",
 "name": "Convoy on the bridge", "description": "Filmed at dawn from the east bank.",
 "uploadDate": "2026-03-12T05:41:00Z", "author": {"@type": "Person", "name": "witness_kh"},
 "contentUrl": "https://HOST/clip.mp4", "encodingFormat": "video/mp4",
 "interactionStatistic": [
  {"@type": "InteractionCounter", "interactionType": {"@type": "WatchAction"}, "userInteractionCount": 1520},
  {"@type": "InteractionCounter", "interactionType": "https://schema.org/LikeAction", "userInteractionCount": 87}]}
</script></head>
<body><h1>Convoy on the bridge</h1>
<p>Filmed at dawn from the east bank.</p>
<script>
const v = document.createElement("video");
Object.assign(v, {src: "/clip.mp4", autoplay: true, muted: true, playsInline: true, width: 96, height: 64});
document.body.insertBefore(v, document.querySelector("p"));
</script>
</body></html>`

// Session is the value of the "session" cookie that opens /members/.
const Session = "letmein-7f3a"

// CookiesTxt is a cookies.txt file (as browser extensions export it) that
// logs in to the site at host (127.0.0.1:PORT: cookies ignore the port).
func CookiesTxt(host string) []byte {
	h, _, _ := strings.Cut(host, ":")
	return []byte("# Netscape HTTP Cookie File\n#HttpOnly_" + h + "\tFALSE\t/\tTRUE\t0\tsession\t" + Session + "\n")
}

// Site starts the test site on 127.0.0.1 (HTTPS, HTTP/2 and HTTP/1.1,
// its certificate from srv.Certificate()): /post/123 is Article, with
// /style.css (gzip, chunked), /pixel.png and the list items of /more; /video/7 is Video, with /clip.mp4
// (served as range responses when asked); /video/elsewhere?src=URL is the
// same post with its video at URL; /share/123 redirects to the
// article setting a cookie; /post/removed answers 410 Gone. Under
// /members/, only with the cookie session=Session (else a redirect to
// /login): /members/report, a page, and /members/video/9, a video post as
// /video/7 whose clip is /members/clip.mp4. It stops when the
// test ends.
func Site(t testing.TB) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/post/123", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, Article)
	})
	mux.HandleFunc("/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		w.Header().Set("Content-Encoding", "gzip")
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		io.WriteString(zw, Style)
		zw.Close()
		half := z.Len() / 2
		w.Write(z.Bytes()[:half])
		w.(http.Flusher).Flush() // no Content-Length: chunked
		w.Write(z.Bytes()[half:])
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
	mux.HandleFunc("/video/7", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, strings.ReplaceAll(Video, "HOST", r.Host))
	})
	// A post whose video is elsewhere, at ?src= (any URL, any scheme).
	mux.HandleFunc("/video/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, strings.ReplaceAll(Video, "https://HOST/clip.mp4", r.URL.Query().Get("src")))
	})
	mux.HandleFunc("/clip.mp4", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		http.ServeContent(w, r, "clip.mp4", time.Date(2026, 3, 12, 5, 41, 0, 0, time.UTC), bytes.NewReader(Clip))
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><title>Sign in</title><form><input name=user><input name=password type=password></form>")
	})
	members := http.NewServeMux()
	members.HandleFunc("/members/report", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><title>Members' report</title><p>Members only: 14 detainees listed at the school.</p>")
	})
	members.HandleFunc("/members/video/9", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, strings.ReplaceAll(strings.ReplaceAll(Video, "/clip.mp4", "/members/clip.mp4"), "HOST", r.Host))
	})
	members.HandleFunc("/members/clip.mp4", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		http.ServeContent(w, r, "clip.mp4", time.Date(2026, 3, 12, 5, 41, 0, 0, time.UTC), bytes.NewReader(Clip))
	})
	mux.HandleFunc("/members/", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("session"); err != nil || c.Value != Session {
			http.Redirect(w, r, "/login", http.StatusFound)
			return
		}
		members.ServeHTTP(w, r)
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
