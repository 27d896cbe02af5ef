package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// origin is a raw HTTP/1.1 server: for each path it writes canned bytes,
// exactly, and it keeps the bytes of each request as it read them.
type origin struct {
	ln       net.Listener
	cert     *x509.Certificate
	mu       sync.Mutex
	requests [][]byte
	replies  map[string][]byte
	closeAll bool // close the connection after every response
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

func chunk(body []byte, n int) []byte {
	var b bytes.Buffer
	for len(body) > 0 {
		k := min(n, len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, body[:k])
		body = body[k:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

var article = gzipped(strings.Repeat("<p>The trucks crossed the bridge at dawn.</p>\n", 300))

func replies() map[string][]byte {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB: past the in-memory spool
	return map[string][]byte{
		"/article": append([]byte("HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\nX-Zebra: 1\r\nContent-Encoding: gzip\r\nX-Aardvark: 2\r\nTransfer-Encoding: chunked\r\n\r\n"), chunk(article, 1000)...),
		"/moved":   []byte("HTTP/1.1 302 Found\r\nLocation: /article\r\nSet-Cookie: session=abc; Path=/\r\nContent-Length: 25\r\n\r\n<a href=/article>here</a>"),
		"/video":   append([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n", len(big))), big...),
	}
}

func startOrigin(t *testing.T, useTLS bool) *origin {
	t.Helper()
	o := &origin{replies: replies()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if useTLS {
		srv := httptest.NewUnstartedServer(nil) // only for its certificate
		srv.StartTLS()
		cert := srv.TLS.Certificates[0]
		o.cert = srv.Certificate()
		srv.Close()
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	}
	o.ln = ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go o.serve(c)
		}
	}()
	return o
}

// rawTap keeps what is read through it.
type rawTap struct {
	r   io.Reader
	buf bytes.Buffer
}

func (t *rawTap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf.Write(p[:n])
	return n, err
}

func (o *origin) serve(c net.Conn) {
	defer c.Close()
	tp := &rawTap{r: c}
	br := bufio.NewReader(tp)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		raw := tp.buf.Bytes()[:tp.buf.Len()-br.Buffered()]
		o.mu.Lock()
		o.requests = append(o.requests, bytes.Clone(raw))
		o.mu.Unlock()
		rest := bytes.Clone(tp.buf.Bytes()[len(raw):])
		tp.buf.Reset()
		tp.buf.Write(rest)
		reply, ok := o.replies[req.URL.Path]
		if !ok {
			reply = []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		}
		if req.Method == http.MethodHead {
			reply = reply[:bytes.Index(reply, []byte("\r\n\r\n"))+4]
		}
		if _, err := c.Write(reply); err != nil || o.closeAll {
			return
		}
	}
}

func (o *origin) url(scheme, path string) string { return scheme + "://" + o.ln.Addr().String() + path }

// recorder collects exchanges.
type recorder struct {
	mu  sync.Mutex
	exs []*Exchange
}

func (r *recorder) add(ex *Exchange) { r.mu.Lock(); r.exs = append(r.exs, ex); r.mu.Unlock() }

// wait returns the exchanges once n have been handed over: the browser
// may have its response before the proxy hands the exchange on.
func (r *recorder) wait(t *testing.T, n int) []*Exchange {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		exs := append([]*Exchange(nil), r.exs...)
		r.mu.Unlock()
		if len(exs) >= n || time.Now().After(deadline) {
			return exs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func bytesOf(t *testing.T, s *Spool) []byte {
	t.Helper()
	b := make([]byte, s.Size())
	if _, err := s.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}

// browser is an HTTP client that goes through the proxy and trusts its
// key by pin, as chromium does with --ignore-certificate-errors-spki-list.
func browser(p *Proxy) *http.Client {
	pu, _ := url.Parse("http://" + p.Addr())
	return &http.Client{
		Transport: &http.Transport{
			Proxy:              http.ProxyURL(pu),
			DisableCompression: true,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				c, err := x509.ParseCertificate(raw[0])
				if err != nil {
					return err
				}
				sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
				if base64.StdEncoding.EncodeToString(sum[:]) != p.SPKIHash() {
					return errors.New("not the pinned proxy key")
				}
				return nil
			}},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func start(t *testing.T, o Options) (*Proxy, *recorder) {
	t.Helper()
	rec := &recorder{}
	o.Exchange = rec.add
	o.TempDir = t.TempDir()
	p, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, rec
}

// TestExactBytes: through the proxy, each exchange holds the request as
// the origin read it and the response as the origin wrote it, byte for
// byte (header case and order, chunk framing, gzip), and the browser
// receives that same response; the connection's TLS state and chain are
// the origin's.
func TestExactBytes(t *testing.T) {
	o := startOrigin(t, true)
	roots := x509.NewCertPool()
	roots.AddCert(o.cert)
	p, rec := start(t, Options{InsecureAllowPrivate: true, RootCAs: roots})
	c := browser(p)
	var got [][]byte
	for _, path := range []string{"/article", "/moved", "/video", "/article"} {
		resp, err := c.Get(o.url("https", path))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, body)
	}
	if !bytes.Equal(got[0], article) || !bytes.Equal(got[3], article) {
		t.Fatal("the browser did not get the gzip body as the origin sent it")
	}
	exs := rec.wait(t, 4)
	if len(exs) != 4 {
		t.Fatalf("%d exchanges, want 4", len(exs))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, ex := range exs {
		path := []string{"/article", "/moved", "/video", "/article"}[i]
		if ex.Err != nil || ex.URL != o.url("https", path) {
			t.Fatalf("exchange %d: %s, %v", i, ex.URL, ex.Err)
		}
		if !bytes.Equal(bytesOf(t, ex.Request), o.requests[i]) {
			t.Fatalf("exchange %d: request recorded %q, the origin read %q", i, bytesOf(t, ex.Request), o.requests[i])
		}
		if !bytes.Equal(bytesOf(t, ex.Response), o.replies[path]) {
			t.Fatalf("exchange %d: the response recorded differs from what the origin wrote (%d bytes, want %d)", i, ex.Response.Size(), len(o.replies[path]))
		}
		ti := ex.Conn.TLS
		if ti == nil || ti.Version != "TLS 1.3" || ti.ALPN != "http/1.1" || !ti.Verified || len(ti.Chain) == 0 || !bytes.Equal(ti.Chain[0], o.cert.Raw) {
			t.Fatalf("exchange %d: TLS %+v", i, ti)
		}
		if ex.Conn.Remote != o.ln.Addr().String() {
			t.Fatalf("exchange %d: remote %s", i, ex.Conn.Remote)
		}
	}
	if exs[0].Conn.ID != exs[1].Conn.ID {
		t.Error("a kept-alive connection was not reused")
	}
	if exs[2].Response.f == nil {
		t.Error("an 8 MiB response was kept in memory")
	}
}

// TestUnverifiedChainRecorded: a chain the roots do not verify is still
// captured, and recorded as not verified, with why.
func TestUnverifiedChainRecorded(t *testing.T) {
	o := startOrigin(t, true)
	p, rec := start(t, Options{InsecureAllowPrivate: true, RootCAs: x509.NewCertPool()})
	resp, err := browser(p).Get(o.url("https", "/article"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ti := rec.wait(t, 1)[0].Conn.TLS
	if ti.Verified || ti.VerifyError == "" || len(ti.Chain) == 0 {
		t.Fatalf("TLS %+v", ti)
	}
}

// TestALPN: an origin that offers HTTP/2 and HTTP/1.1 is spoken to in
// HTTP/1.1, so that every byte is recorded as sent, and the connection's
// record says so.
func TestALPN(t *testing.T) {
	o := startOrigin(t, true)
	roots := x509.NewCertPool()
	roots.AddCert(o.cert)
	p, rec := start(t, Options{InsecureAllowPrivate: true, RootCAs: roots})
	resp, err := browser(p).Get(o.url("https", "/article"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ti := rec.wait(t, 1)[0].Conn.TLS; ti.ALPN != "http/1.1" {
		t.Fatalf("ALPN %q", ti.ALPN)
	}
}

// TestPlainHTTP: a plain-HTTP request reaches the origin in origin form,
// the rest of it byte for byte, and that is what is recorded.
func TestPlainHTTP(t *testing.T) {
	o := startOrigin(t, false)
	p, rec := start(t, Options{InsecureAllowPrivate: true})
	resp, err := browser(p).Get(o.url("http", "/moved"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ex := rec.wait(t, 1)[0]
	req := bytesOf(t, ex.Request)
	o.mu.Lock()
	defer o.mu.Unlock()
	if !bytes.Equal(req, o.requests[0]) || !bytes.HasPrefix(req, []byte("GET /moved HTTP/1.1\r\n")) {
		t.Fatalf("request recorded %q, the origin read %q", req, o.requests[0])
	}
	if !bytes.Equal(bytesOf(t, ex.Response), o.replies["/moved"]) || ex.Status != 302 || ex.Conn.TLS != nil {
		t.Fatalf("response %q, status %d", bytesOf(t, ex.Response), ex.Status)
	}
}

// TestBlocked: without the insecure option, loopback is refused before
// any connection, the browser is told why, and the exchange says so.
func TestBlocked(t *testing.T) {
	o := startOrigin(t, true)
	p, rec := start(t, Options{})
	resp, err := browser(p).Get(o.url("https", "/article"))
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "not a public address") {
			t.Fatalf("status %d, body %q", resp.StatusCode, body)
		}
	}
	exs := rec.wait(t, 1)
	var be *BlockedError
	if len(exs) != 1 || !errors.As(exs[0].Err, &be) {
		t.Fatalf("second exchange: %v", exs[len(exs)-1].Err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.requests) != 0 {
		t.Fatal("a blocked destination was contacted")
	}
}

// TestOriginClosesEachConnection: an origin that closes after every
// response is reconnected, and each connection is described.
func TestOriginClosesEachConnection(t *testing.T) {
	o := startOrigin(t, true)
	o.closeAll = true
	p, rec := start(t, Options{InsecureAllowPrivate: true})
	c := browser(p)
	for range 3 {
		resp, err := c.Get(o.url("https", "/moved"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	exs := rec.wait(t, 3)
	if len(exs) != 3 || exs[0].Conn.ID == exs[1].Conn.ID {
		t.Fatalf("%d exchanges", len(exs))
	}
	for _, ex := range exs {
		if ex.Err != nil || ex.Status != 302 {
			t.Fatalf("%+v", ex)
		}
	}
}

// TestHostileOrigin: an origin that answers with something that is not
// HTTP, cuts a chunked body short, or sends more than the bound gets an
// exchange that says so, never a panic or a hang; what came is kept.
func TestHostileOrigin(t *testing.T) {
	o := startOrigin(t, true)
	o.closeAll = true
	o.replies["/garbage"] = []byte("NOT HTTP AT ALL\r\n\r\n")
	o.replies["/cut"] = []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort")
	p, rec := start(t, Options{InsecureAllowPrivate: true, MaxMessage: 1 << 20})
	c := browser(p)
	for _, path := range []string{"/garbage", "/cut", "/video"} {
		if resp, err := c.Get(o.url("https", path)); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	exs := rec.wait(t, 3)
	if len(exs) != 3 {
		t.Fatalf("%d exchanges", len(exs))
	}
	// Recorded as each ends, which need not be the order of the requests.
	byPath := map[string]*Exchange{}
	for i, ex := range exs {
		if ex.Err == nil {
			t.Errorf("exchange %d (%s): no error", i, ex.URL)
		}
		byPath[ex.URL[strings.LastIndexByte(ex.URL, '/'):]] = ex
	}
	if ex := byPath["/video"]; ex == nil || !errors.Is(ex.Err, ErrTooLarge) {
		t.Errorf("8 MiB over a 1 MiB bound: %+v", ex)
	}
	if ex := byPath["/cut"]; ex == nil {
		t.Error("no exchange of /cut")
	} else if got := bytesOf(t, ex.Response); !bytes.Equal(got, o.replies["/cut"]) {
		t.Errorf("the cut response kept %q", got)
	}
}

// TestQuiet: the proxy says it is quiet only when no exchange is under way.
func TestQuiet(t *testing.T) {
	o := startOrigin(t, true)
	release := make(chan struct{})
	started := make(chan struct{})
	slow := &recorder{}
	p, err := Start(Options{InsecureAllowPrivate: true, TempDir: t.TempDir(), Exchange: func(ex *Exchange) {
		close(started)
		<-release // the exchange is handed on while still counted
		slow.add(ex)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	time.Sleep(20 * time.Millisecond)
	if p.Quiet() < 20*time.Millisecond {
		t.Fatalf("an idle proxy quiet for %v", p.Quiet())
	}
	go func() {
		if resp, err := browser(p).Get(o.url("https", "/moved")); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	if q := p.Quiet(); q != 0 {
		t.Fatalf("quiet for %v with an exchange under way", q)
	}
	close(release)
	slow.wait(t, 1)
	time.Sleep(20 * time.Millisecond)
	if p.Quiet() < 10*time.Millisecond {
		t.Fatalf("quiet for only %v after the exchange ended", p.Quiet())
	}
}
