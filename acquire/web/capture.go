// Package web captures web pages as evidence: what the server sent,
// provably. A capture runs the recording proxy (acquire/web/proxy) and the
// headless browser (acquire/web/browser) and writes one WARC 1.1 file
// (capture/warc) holding, in order:
//
//   - a warcinfo record naming the programs and how the capture was made;
//   - for each connection to an origin, a metadata record with its remote
//     address, TLS version, cipher, ALPN and certificate chain as presented
//     (PEM), and whether the chain verified;
//   - for each exchange, the request and the response exactly as they
//     crossed the wire (a refused or failed exchange gets a metadata record
//     saying why in place of the response);
//   - the page as the browser showed it, as resource records: the full-page
//     screenshot (PNG), a PDF, the DOM after scripts ran, the visible text;
//   - a metadata record describing the page: requested and final URL,
//     times, browser, user agent and client hints, viewport, behaviours;
//   - with Options.Media, the media files yt-dlp fetched (through the same
//     proxy, so their wire bytes are among the exchanges) as resource
//     records, and yt-dlp's description of the post as a metadata record.
package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/acquire/web/media"
	"github.com/openexhibit/exhibit/acquire/web/profile"
	"github.com/openexhibit/exhibit/acquire/web/proxy"
	"github.com/openexhibit/exhibit/capture/wacz"
	"github.com/openexhibit/exhibit/capture/warc"
)

// Options configure a capture.
type Options struct {
	Browser browser.Options
	// RootCAs verify origins' chains (nil: the system's).
	RootCAs *x509.CertPool
	// InsecureAllowPrivate allows loopback, private and link-local
	// destinations (tests).
	InsecureAllowPrivate bool
	// TempDir holds the WARC being written and large messages.
	TempDir string
	// MaxMessage bounds one request or response (default 4 GiB).
	MaxMessage int64
	// Software names the capturing program in the warcinfo record.
	Software string
	// Media, when set, has yt-dlp fetch the page's media files too
	// (Proxy, Dir and Cookies are set by Capture).
	Media *media.Options
	// Profile, when set, logs the capture in: its cookies for the site of
	// the URL (its registrable domain) go to the browser and to yt-dlp,
	// no others; the provenance names its label and those cookies'
	// domains, never a cookie.
	Profile *profile.Profile
}

// Result is a capture: its WARC file, the WACZ that packs it (both
// removed by Remove), and what the browser took.
type Result struct {
	WARC, WACZ string
	Size       int64 // of the WARC
	Page       *browser.Page
	// Records are the WARC records written, in order; Index the response
	// and resource records, as the WACZ's index lists them.
	Records []warc.Written
	Index   []wacz.Entry
	// Exchanges counts the request-response pairs; Failed those that
	// failed (refused destination, origin error).
	Exchanges, Failed int

	hops, redirects []Redirect // every redirect seen; those from the page's URL
	origins         []Origin
	// failed and fetched say, per URL, why an exchange failed and whether
	// one succeeded.
	failedURL map[string]error
	fetched   map[string]bool
	statusOf  map[string]int // the last status each URL answered with

	// media is what yt-dlp fetched (with Options.Media), in mediaDir.
	media                *media.Result
	mediaDir             string
	mediaStart, mediaEnd time.Time
	mediaFiles           []MediaFile
	profile              string   // the login profile's label
	profileDomains       []string // the domains of the cookies it gave
}

// PageError says that the page itself could not be fetched (a refused
// destination, an unreachable server): nothing worth archiving was shown.
type PageError struct {
	URL string
	Err error
}

func (e *PageError) Error() string { return fmt.Sprintf("%s could not be fetched: %v", e.URL, e.Err) }
func (e *PageError) Unwrap() error { return e.Err }

// Remove removes the capture's files.
func (r *Result) Remove() {
	if r.mediaDir != "" {
		os.RemoveAll(r.mediaDir)
	}
	os.Remove(r.WARC)
	if r.WACZ != "" {
		os.Remove(r.WACZ)
	}
}

// writer writes the capture's records as they come, one at a time.
type writer struct {
	mu    sync.Mutex
	w     *warc.Writer
	info  string // warcinfo record ID
	conns map[string]bool
	seen  map[string]bool // origins noted
	res   *Result
	err   error
	// media: the exchanges are yt-dlp's, which say nothing about the
	// page's status or redirects.
	media bool
}

func (w *writer) write(r *warc.Record) (warc.Written, error) {
	if w.err != nil {
		return warc.Written{}, w.err
	}
	if w.info != "" {
		r.Fields = append([][2]string{{"WARC-Warcinfo-ID", w.info}}, r.Fields...)
	}
	out, err := w.w.Write(r)
	if err != nil {
		w.err = err
		return out, err
	}
	w.res.Records = append(w.res.Records, out)
	return out, nil
}

func bytesRecord(typ, uri, ct string, b []byte, fields ...[2]string) *warc.Record {
	return &warc.Record{Type: typ, TargetURI: uri, ContentType: ct, Block: bytes.NewReader(b), Size: int64(len(b)), Fields: fields}
}

// Capture captures url.
func Capture(ctx context.Context, url string, o Options) (*Result, error) {
	if o.Profile != nil {
		// The profile's cookies for this site only.
		site := o.Profile.For(url)
		if site == nil {
			return nil, fmt.Errorf("the login profile %q has no cookie for the site of %s: capture it without the profile, or add that site's cookies to the profile", o.Profile.Name, url)
		}
		o.Profile = site
	}
	f, err := os.CreateTemp(o.TempDir, "exhibit-capture-*.warc")
	if err != nil {
		return nil, err
	}
	res := &Result{WARC: f.Name(), failedURL: map[string]error{}, fetched: map[string]bool{}, statusOf: map[string]int{}}
	w := &writer{w: warc.NewWriter(f, 0), conns: map[string]bool{}, seen: map[string]bool{}, res: res}
	fail := func(err error) (*Result, error) {
		f.Close()
		res.Remove()
		return nil, err
	}
	info, err := w.write(bytesRecord(warc.Warcinfo, "", warc.Fields, warcinfo(o)))
	if err != nil {
		return fail(err)
	}
	w.info = info.ID

	p, err := proxy.Start(proxy.Options{RootCAs: o.RootCAs, InsecureAllowPrivate: o.InsecureAllowPrivate,
		TempDir: o.TempDir, MaxMessage: o.MaxMessage, Exchange: w.exchange})
	if err != nil {
		return fail(err)
	}
	bo := o.Browser
	bo.Proxy, bo.SPKI, bo.Quiet = p.Addr(), p.SPKIHash(), p.Quiet
	if o.Profile != nil {
		bo.Cookies, res.profile, res.profileDomains = o.Profile.Cookies, o.Profile.Name, o.Profile.Domains()
	}
	page, err := browser.Capture(ctx, url, bo)
	if err == nil && o.Media != nil {
		err = res.fetchMedia(ctx, url, w, p.Addr(), o)
	}
	p.Close() // every exchange is written when Close returns
	if err != nil {
		return fail(err)
	}
	if w.err != nil {
		return fail(fmt.Errorf("write the WARC: %w", w.err))
	}
	res.Page = page
	for _, u := range []string{url, page.FinalURL} {
		if err := res.failedURL[u]; err != nil && !res.fetched[u] {
			return fail(&PageError{URL: u, Err: err})
		}
	}
	res.chain()
	if err := w.page(page); err != nil {
		return fail(fmt.Errorf("write the WARC: %w", err))
	}
	if err := w.mediaRecords(url); err != nil {
		return fail(fmt.Errorf("write the WARC: %w", err))
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	res.Size = w.w.Offset()
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if res.mediaDir != "" {
		os.RemoveAll(res.mediaDir) // the files are in the WARC
	}
	if err := res.pack(o); err != nil {
		return fail(err)
	}
	return res, nil
}

// pack writes the WACZ.
func (res *Result) pack(o Options) error {
	f, err := os.CreateTemp(o.TempDir, "exhibit-capture-*.wacz")
	if err != nil {
		return err
	}
	res.WACZ = f.Name()
	p := res.Page
	err = wacz.Write(f, wacz.Package{WARC: res.WARC, Index: res.Index, Software: o.Software, Title: p.Title, Created: p.Ended,
		Pages: []wacz.Page{{ID: "page-1", URL: p.URL, Time: p.Started, Title: p.Title}}})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func warcinfo(o Options) []byte {
	var b bytes.Buffer
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	field("software", o.Software)
	field("format", "WARC File Format 1.1")
	field("conformsTo", "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/")
	field("description", "Web capture: every request and response through a recording proxy, byte for byte as exchanged with the origin; the page as a headless browser showed it")
	field("payload-digest", "sha256 of the entity body with chunked transfer coding removed and content coding kept")
	return b.Bytes()
}

// exchange writes one exchange's records (and its connection's, the
// first time) and releases its spools.
func (w *writer) exchange(ex *proxy.Exchange) {
	defer ex.Request.Close()
	if ex.Response != nil {
		defer ex.Response.Close()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.res.Exchanges++
	var fields [][2]string
	if c := ex.Conn; c != nil {
		if !w.conns[c.ID] {
			w.conns[c.ID] = true
			if err := w.conn(ex.URL, c); err != nil {
				return
			}
		}
		ip := c.Remote
		if h, _, err := net.SplitHostPort(ip); err == nil {
			ip = h
		}
		// WARC-Protocol repeats, one per layer (the WARC 1.1 annotations
		// of iipc/warc-specifications#42).
		fields = append(fields, [2]string{"WARC-IP-Address", ip}, [2]string{"WARC-Protocol", "http/1.1"})
		if c.TLS != nil {
			fields = append(fields, [2]string{"WARC-Protocol", tlsProtocol(c.TLS.Version)}, [2]string{"WARC-Cipher-Suite", c.TLS.Cipher})
		}
		fields = append(fields, [2]string{"WARC-Concurrent-To", c.ID})
	}
	failed := ex.Err != nil || ex.Response == nil
	respID, reqID := warc.NewID(), warc.NewID()
	reqFields := append([][2]string(nil), fields...)
	if !failed {
		reqFields = append(reqFields, [2]string{"WARC-Concurrent-To", respID})
	}
	if _, err := w.write(&warc.Record{Type: warc.Request, ID: reqID, TargetURI: ex.URL, Date: ex.Started, ContentType: warc.HTTPRequest,
		Block: ex.Request, Size: ex.Request.Size(), Fields: reqFields}); err != nil {
		return
	}
	if failed {
		w.res.Failed++
		if !w.media {
			w.res.failedURL[ex.URL] = ex.Err
		}
		msg := map[string]any{"url": ex.URL, "error": fmt.Sprint(ex.Err)}
		if ex.Response != nil {
			msg["responseBytes"] = ex.Response.Size()
		}
		b, _ := json.MarshalIndent(msg, "", "  ")
		w.write(bytesRecord(warc.Metadata, ex.URL, "application/json", b, [2]string{"WARC-Concurrent-To", reqID}))
		return
	}
	out, err := w.write(&warc.Record{Type: warc.Response, ID: respID, TargetURI: ex.URL, Date: ex.Started, ContentType: warc.HTTPResponse,
		Block: ex.Response, Size: ex.Response.Size(), Fields: fields})
	if err != nil {
		return
	}
	if !w.media {
		w.res.fetched[ex.URL] = true
		w.res.statusOf[ex.URL] = ex.Status
	}
	mt, _, _ := strings.Cut(ex.Header.Get("Content-Type"), ";")
	w.res.Index = append(w.res.Index, wacz.Entry{URL: ex.URL, Time: ex.Started, Mime: strings.ToLower(strings.TrimSpace(mt)), Status: ex.Status,
		Digest: out.PayloadDigest, Offset: out.Offset, Length: out.Length})
	var o *originNote
	if c := ex.Conn; c != nil {
		o = &originNote{Host: c.Host, Remote: c.Remote}
		if c.TLS != nil {
			verified := c.TLS.Verified
			o.TLS, o.ChainVerified = c.TLS.Version, &verified
		}
	}
	w.note(ex.URL, ex.Status, ex.Header.Get("Location"), o)
}

// connInfo is the metadata record of a connection to an origin.
type connInfo struct {
	Host        string    `json:"host"`
	Remote      string    `json:"remote"`
	Opened      time.Time `json:"opened"`
	TLSVersion  string    `json:"tlsVersion,omitempty"`
	Cipher      string    `json:"cipherSuite,omitempty"`
	ALPN        string    `json:"alpn,omitempty"`
	ServerName  string    `json:"serverName,omitempty"`
	Verified    *bool     `json:"chainVerified,omitempty"`
	VerifyError string    `json:"chainError,omitempty"`
	Chain       string    `json:"chain,omitempty"` // PEM, leaf first, as presented
}

func (w *writer) conn(url string, c *proxy.Conn) error {
	ci := connInfo{Host: c.Host, Remote: c.Remote, Opened: c.Opened}
	if t := c.TLS; t != nil {
		ci.TLSVersion, ci.Cipher, ci.ALPN, ci.ServerName = t.Version, t.Cipher, t.ALPN, t.ServerName
		ci.Verified, ci.VerifyError = &t.Verified, t.VerifyError
		var chain bytes.Buffer
		for _, der := range t.Chain {
			pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
		ci.Chain = chain.String()
	}
	b, err := json.MarshalIndent(ci, "", "  ")
	if err != nil {
		return err
	}
	r := bytesRecord(warc.Metadata, url, "application/json", b)
	r.ID, r.Date = c.ID, c.Opened
	_, err = w.write(r)
	return err
}

// page writes what the browser took.
func (w *writer) page(p *browser.Page) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range []*warc.Record{
		bytesRecord(warc.Resource, wacz.ScreenshotURN+p.URL, "image/png", p.Screenshot),
		bytesRecord(warc.Resource, wacz.PDFURN+p.URL, "application/pdf", p.PDF),
		bytesRecord(warc.Resource, wacz.DOMURN+p.URL, "text/html; charset=utf-8", []byte(p.DOM)),
		bytesRecord(warc.Resource, wacz.TextURN+p.URL, "text/plain; charset=utf-8", []byte(p.Text)),
	} {
		r.Date = p.Ended
		out, err := w.write(r)
		if err != nil {
			return err
		}
		mt, _, _ := strings.Cut(r.ContentType, ";")
		w.res.Index = append(w.res.Index, wacz.Entry{URL: r.TargetURI, Time: r.Date, Mime: mt, Digest: out.PayloadDigest,
			Offset: out.Offset, Length: out.Length})
	}
	desc, err := json.MarshalIndent(pageInfo(p), "", "  ")
	if err != nil {
		return err
	}
	r := bytesRecord(warc.Metadata, wacz.PageURN+p.URL, "application/json", desc)
	r.Date = p.Ended
	_, err = w.write(r)
	return err
}

func tlsProtocol(v string) string {
	switch v {
	case "TLS 1.3":
		return "tls/1.3"
	case "TLS 1.2":
		return "tls/1.2"
	}
	return v
}

// ReadURLList reads a list of URLs to capture: one a line, blank lines and
// lines starting with # left out.
func ReadURLList(r io.Reader) ([]string, error) {
	var urls []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			urls = append(urls, line)
		}
	}
	return urls, sc.Err()
}
