// Package proxy is the recording proxy of a web capture. The browser is
// configured to send everything through it; it terminates the browser's
// TLS with a key of its own (which the browser trusts by its SPKI pin,
// SPKIHash), opens its own connection to the origin with the standard
// library's TLS, and passes the bytes through unchanged in both
// directions, keeping a copy of each request and response exactly as they
// crossed the wire to and from the origin: header order and case, chunk
// framing, content coding. For each connection to an origin it keeps the
// remote address, TLS version, cipher suite, ALPN and the certificate
// chain as the server presented it, and whether that chain verified.
//
// It speaks HTTP/1.1 to the browser and to origins (ALPN offers only
// http/1.1), so every message has a byte form that is the one on the wire.
// By default it refuses to connect to loopback, private, link-local and
// other non-public addresses (a capture must not reach a cloud metadata
// endpoint or the intranet): InsecureAllowPrivate lifts that for tests.
package proxy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/openexhibit/exhibit/internal/netguard"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options configure a Proxy.
type Options struct {
	// Exchange receives each exchange once its response is complete (or
	// failed). It owns the exchange's spools. Calls may be concurrent.
	Exchange func(*Exchange)
	// RootCAs verify origins' chains (nil: the system's). A chain that does
	// not verify is still captured, and recorded as not verified.
	RootCAs *x509.CertPool
	// InsecureAllowPrivate allows loopback, private and link-local
	// destinations.
	InsecureAllowPrivate bool
	// TempDir holds the spools of large messages (default: the system's).
	TempDir string
	// MaxMessage bounds one request or response (default 4 GiB).
	MaxMessage int64
	// Resolver resolves origin names (default net.DefaultResolver).
	Resolver *net.Resolver
}

// Conn describes one connection to an origin.
type Conn struct {
	// ID is the WARC record ID of the connection's metadata record.
	ID string
	// Host is the origin as dialled (host:port); Remote the address
	// connected to.
	Host, Remote string
	Opened       time.Time
	// TLS is nil for plain HTTP.
	TLS *TLSInfo
}

// TLSInfo is a TLS connection's state as negotiated.
type TLSInfo struct {
	Version    string // "TLS 1.3"
	Cipher     string
	ALPN       string
	ServerName string
	// Chain is the certificate chain as presented, leaf first (DER).
	Chain [][]byte
	// Verified says whether Chain verified for ServerName against the
	// roots; VerifyError says why not.
	Verified    bool
	VerifyError string
}

// Exchange is one request and its response.
type Exchange struct {
	Conn   *Conn
	URL    string
	Method string
	Status int
	// Header is the final response's header as parsed (nil without one);
	// Response holds it as it was sent.
	Header   http.Header
	Started  time.Time
	Ended    time.Time
	Request  *Spool
	Response *Spool // nil when no response came
	// Err is why the exchange failed (blocked destination, connection
	// error, message too large); Response then holds what came, if any.
	Err error
}

// BlockedError is a destination refused because it is not public.
type BlockedError = netguard.BlockedError

// Proxy is a running recording proxy.
type Proxy struct {
	o     Options
	ln    net.Listener
	cert  tls.Certificate
	spki  string
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
	done  chan struct{}
	once  sync.Once
	err   error
	// ctx ends with Close, so that dials and handshakes under way end too.
	ctx    context.Context
	cancel context.CancelFunc
	// inflight counts the exchanges under way; quietSince is when the
	// last one ended.
	inflight   int
	quietSince time.Time
}

// Start listens on 127.0.0.1 and serves until Close.
func Start(o Options) (*Proxy, error) {
	if o.Exchange == nil {
		return nil, errors.New("proxy: an Exchange function is required")
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = 4 << 30
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	cert, spki, err := newLeaf()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &Proxy{o: o, ln: ln, cert: cert, spki: spki, conns: map[net.Conn]bool{}, done: make(chan struct{}), quietSince: time.Now()}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's address (127.0.0.1:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SPKIHash is base64(SHA-256(SubjectPublicKeyInfo)) of the key the proxy
// shows the browser: what chromium's --ignore-certificate-errors-spki-list
// takes, so that the browser trusts this proxy and nothing else it would
// not trust anyway.
func (p *Proxy) SPKIHash() string { return p.spki }

// Quiet is how long no exchange has been under way (0 while one is): a
// page whose requests have all been answered for a while has loaded what
// it will load.
func (p *Proxy) Quiet() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inflight > 0 {
		return 0
	}
	return time.Since(p.quietSince)
}

// busy counts an exchange in (+1) or out (-1).
func (p *Proxy) busy(delta int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight += delta
	if p.inflight == 0 {
		p.quietSince = time.Now()
	}
}

// Close stops the proxy and waits for its connections to end. Only the
// first call does anything.
func (p *Proxy) Close() error {
	p.once.Do(func() {
		close(p.done)
		p.cancel()
		p.err = p.ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p.err
}

// newLeaf makes the key and self-signed certificate shown to the browser.
func newLeaf() (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Exhibit capture proxy"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"exhibit-capture-proxy.invalid"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	spkiDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	sum := sha256.Sum256(spkiDER)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, base64.StdEncoding.EncodeToString(sum[:]), nil
}

func (p *Proxy) track(c net.Conn, on bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		if on {
			return false
		}
	default:
	}
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c, true) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			defer c.Close()
			p.client(c)
		}()
	}
}

// client serves one browser connection: a CONNECT tunnel (HTTPS), or
// plain-HTTP proxy requests.
func (p *Proxy) client(c net.Conn) {
	in := newTap(c)
	ex := &Exchange{Started: time.Now().UTC(), Request: NewSpool(p.o.TempDir, p.o.MaxMessage)}
	in.begin(ex.Request, nil)
	req, err := http.ReadRequest(in.br)
	if err != nil {
		ex.Request.Close()
		return
	}
	if req.Method != http.MethodConnect {
		t := &tunnel{p: p, browser: c, scheme: "http", plain: true}
		defer t.close()
		t.serve(in, ex, req)
		return
	}
	ex.Request.Close()
	in.spool = nil
	host := req.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "443")
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		return
	}
	tc := tls.Server(&prefixConn{Conn: c, r: in.br}, &tls.Config{
		Certificates: []tls.Certificate{p.cert},
		NextProtos:   []string{"http/1.1"},
	})
	if err := tc.Handshake(); err != nil {
		return
	}
	t := &tunnel{p: p, browser: tc, scheme: "https", host: host}
	defer t.close()
	t.serve(newTap(tc), nil, nil)
}

// prefixConn reads what a bufio.Reader already holds before the conn.
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if c.r.Buffered() > 0 {
		return c.r.Read(b)
	}
	return c.Conn.Read(b)
}

// dial connects to hostport's first allowed address.
func (p *Proxy) dial(ctx context.Context, hostport string) (net.Conn, error) {
	return netguard.Dial(ctx, p.o.Resolver, hostport, p.o.InsecureAllowPrivate)
}
