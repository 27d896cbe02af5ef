package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openexhibit/exhibit/capture/warc"
)

// tap records what is read through it into a spool and, when forward is
// set, writes it on to the other side as it arrives.
type tap struct {
	r       io.Reader
	spool   *Spool
	forward io.Writer
	fwdErr  error
	br      *bufio.Reader
}

func newTap(r io.Reader) *tap {
	t := &tap{r: r}
	t.br = bufio.NewReaderSize(t, 64<<10)
	return t
}

func (t *tap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		if t.spool != nil {
			if _, werr := t.spool.Write(p[:n]); werr != nil {
				return n, werr
			}
		}
		if t.forward != nil {
			if _, t.fwdErr = t.forward.Write(p[:n]); t.fwdErr != nil {
				// The browser went away: stop reading the origin (a stream
				// would otherwise be read to its end, or the size bound).
				return n, t.fwdErr
			}
		}
	}
	return n, err
}

// begin starts recording a new message into s; what the reader holds
// already (read past the previous message) is its first bytes.
func (t *tap) begin(s *Spool, leftover []byte) error {
	t.spool = s
	if len(leftover) > 0 {
		if _, err := s.Write(leftover); err != nil {
			return err
		}
	}
	return nil
}

// end cuts the spool at the end of the message just parsed and returns
// what was read past it.
func (t *tap) end() ([]byte, error) {
	return t.spool.Truncate(t.spool.Size() - int64(t.br.Buffered()))
}

// upstream is a connection to the origin.
type upstream struct {
	conn     net.Conn
	tap      *tap
	info     *Conn
	leftover []byte
}

// tunnel serves the requests of one browser connection for one origin
// (HTTPS: the CONNECT authority) or, for plain HTTP, any origin.
type tunnel struct {
	p       *Proxy
	browser net.Conn
	scheme  string
	host    string // host:port of a CONNECT tunnel
	plain   bool
	up      *upstream
	// switched is set when the origin switched protocols (WebSocket):
	// after the handshake is recorded, the rest is passed through.
	switched bool
}

func (t *tunnel) close() {
	if t.up != nil {
		t.up.conn.Close()
		t.p.track(t.up.conn, false)
		t.up = nil
	}
}

// serve reads the browser's requests from in, one after the other. When
// first is set, the first request was read already, into the spool of ex.
func (t *tunnel) serve(in *tap, ex *Exchange, first *http.Request) {
	var leftover []byte
	for {
		req := first
		first = nil
		if req == nil {
			ex = &Exchange{Started: time.Now().UTC(), Request: NewSpool(t.p.o.TempDir, t.p.o.MaxMessage)}
			if err := in.begin(ex.Request, leftover); err != nil {
				ex.Request.Close()
				return
			}
			var err error
			if req, err = http.ReadRequest(in.br); err != nil {
				ex.Request.Close()
				return
			}
		}
		_, err := io.Copy(io.Discard, req.Body)
		if err == nil {
			leftover, err = in.end()
		}
		if err != nil {
			ex.Request.Close()
			return
		}
		t.p.busy(1)
		keep := t.exchange(ex, req)
		t.p.o.Exchange(ex)
		t.p.busy(-1)
		if t.switched {
			t.pipe(in)
			return
		}
		if !keep {
			return
		}
	}
}

// pipe passes bytes both ways, unrecorded, until either side closes.
// in holds what the browser sent past the handshake; the origin's bytes
// buffered past it were forwarded already, as the tap read them.
func (t *tunnel) pipe(in *tap) {
	up := t.up
	up.tap.spool, up.tap.forward = nil, nil
	up.tap.br.Discard(up.tap.br.Buffered())
	in.spool = nil
	go func() {
		io.Copy(up.conn, in.br)
		up.conn.Close()
	}()
	io.Copy(t.browser, up.conn)
	t.close()
}

// exchange sends one request to the origin and passes the response back.
// It reports whether the browser connection stays open.
func (t *tunnel) exchange(ex *Exchange, req *http.Request) bool {
	ex.Method = req.Method
	host := t.host
	if t.plain {
		u, err := url.Parse(req.RequestURI)
		if err != nil || u.Host == "" {
			ex.Err = fmt.Errorf("plain-HTTP proxy request without an absolute URL: %q", req.RequestURI)
			t.fail(ex, http.StatusBadRequest)
			return false
		}
		host = u.Host
		if _, _, err := net.SplitHostPort(host); err != nil {
			host = net.JoinHostPort(host, "80")
		}
		if err := originForm(ex.Request, u); err != nil {
			ex.Err = err
			t.fail(ex, http.StatusBadRequest)
			return false
		}
		ex.URL = u.String()
		if t.up != nil && t.up.info.Host != host {
			t.close()
		}
	} else {
		ex.URL = t.scheme + "://" + authority(host, "443") + req.URL.RequestURI()
	}
	for attempt := 0; ; attempt++ {
		if t.up == nil {
			up, err := t.connect(host)
			if err != nil {
				ex.Err = err
				t.fail(ex, http.StatusBadGateway)
				return false
			}
			t.up = up
		}
		retry, keep := t.roundTrip(ex, req)
		switch {
		case retry && attempt == 0:
			continue
		case retry:
			ex.Err = errors.New("the origin closed the connection without a response")
			t.fail(ex, http.StatusBadGateway)
		}
		return keep
	}
}

// roundTrip writes the recorded request to the origin and streams the
// response back. retry is true when the origin had closed a kept-alive
// connection before answering (nothing of a response came).
func (t *tunnel) roundTrip(ex *Exchange, req *http.Request) (retry, keep bool) {
	up := t.up
	ex.Conn = up.info
	if _, err := io.Copy(up.conn, io.NewSectionReader(ex.Request, 0, ex.Request.Size())); err != nil {
		t.close()
		return true, false
	}
	ex.Response = NewSpool(t.p.o.TempDir, t.p.o.MaxMessage)
	if err := up.tap.begin(ex.Response, up.leftover); err != nil {
		ex.Err = err
		t.close()
		return false, false
	}
	up.tap.forward = t.browser
	up.tap.fwdErr = nil
	resp, err := http.ReadResponse(up.tap.br, req)
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(up.tap.br, req) // after an interim response, the final one
	}
	if err != nil && ex.Response.Size() == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		ex.Response.Close()
		ex.Response = nil
		t.close()
		return true, false
	}
	if err == nil {
		ex.Status, ex.Header = resp.StatusCode, resp.Header
		_, err = io.Copy(io.Discard, resp.Body)
	}
	ex.Ended = time.Now().UTC()
	if err == nil {
		up.leftover, err = up.tap.end()
	}
	up.tap.forward = nil
	if err == nil {
		err = up.tap.fwdErr
	}
	if err != nil {
		ex.Err = err
		t.close()
		return false, false
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.switched = true
		return false, false
	}
	if resp.Close || req.Close {
		t.close()
		return false, false
	}
	return false, true
}

// fail answers the browser with status and a text body saying why.
func (t *tunnel) fail(ex *Exchange, status int) {
	ex.Ended = time.Now().UTC()
	body := "Exhibit capture proxy: " + ex.Err.Error() + "\n"
	fmt.Fprintf(t.browser, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}

// connect dials the origin and, in a tunnel, makes the TLS connection.
func (t *tunnel) connect(host string) (*upstream, error) {
	ctx, cancel := context.WithTimeout(t.p.ctx, 30*time.Second)
	defer cancel()
	c, err := t.p.dial(ctx, host)
	if err != nil {
		return nil, err
	}
	if !t.p.track(c, true) { // Close came first: it closes what it tracks
		c.Close()
		return nil, errors.New("the capture ended")
	}
	info := &Conn{ID: warc.NewID(), Host: host, Remote: c.RemoteAddr().String(), Opened: time.Now().UTC()}
	if t.scheme == "https" {
		name, _, _ := net.SplitHostPort(host)
		tc := tls.Client(c, &tls.Config{
			ServerName: name,
			NextProtos: []string{"http/1.1"},
			// The chain is verified below and recorded either way: a
			// capture keeps what the server presented.
			InsecureSkipVerify: true,
		})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS with %s: %w", host, err)
		}
		info.TLS = t.p.tlsInfo(tc.ConnectionState(), name)
		c = tc
	}
	return &upstream{conn: c, tap: newTap(c), info: info}, nil
}

// tlsInfo records a connection's TLS state and verifies its chain.
func (p *Proxy) tlsInfo(cs tls.ConnectionState, name string) *TLSInfo {
	ti := &TLSInfo{Version: tls.VersionName(cs.Version), Cipher: tls.CipherSuiteName(cs.CipherSuite),
		ALPN: cs.NegotiatedProtocol, ServerName: name}
	for _, c := range cs.PeerCertificates {
		ti.Chain = append(ti.Chain, c.Raw)
	}
	if len(cs.PeerCertificates) == 0 {
		ti.VerifyError = "no certificate presented"
		return ti
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: name, Roots: p.o.RootCAs, Intermediates: inter})
	ti.Verified = err == nil
	if err != nil {
		ti.VerifyError = err.Error()
	}
	return ti
}

// originForm rewrites the recorded request line of a plain-HTTP proxy
// request ("GET http://host/p HTTP/1.1") to the form sent to the origin
// ("GET /p HTTP/1.1"); the rest of the request is kept byte for byte.
func originForm(s *Spool, u *url.URL) error {
	raw := make([]byte, s.Size())
	if _, err := s.ReadAt(raw, 0); err != nil && err != io.EOF {
		return err
	}
	eol := strings.Index(string(raw), "\r\n")
	if eol < 0 {
		return errors.New("request line without CRLF")
	}
	parts := strings.SplitN(string(raw[:eol]), " ", 3)
	if len(parts) != 3 {
		return fmt.Errorf("request line %q", raw[:eol])
	}
	line := parts[0] + " " + u.RequestURI() + " " + parts[2]
	if _, err := s.Truncate(0); err != nil {
		return err
	}
	if _, err := s.Write([]byte(line)); err != nil {
		return err
	}
	_, err := s.Write(raw[eol:])
	return err
}

// authority is host:port without a default port.
func authority(hostport, def string) string {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil || p != def {
		return hostport
	}
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}
