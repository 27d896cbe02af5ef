package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/digitorus/timestamp"
)

// Bounds on what a timestamp authority may send; both are far above what a
// real one does (a response with its chain is ~3 KiB).
const (
	maxTimestampResponse = 64 << 10
	maxChainPEM          = 256 << 10
	maxChainCerts        = 8
)

// Timestamper asks RFC 3161 timestamp authorities (TSAs) for timestamps over
// signatures. It is safe for concurrent use; the zero value of each field
// but URLs picks a default.
type Timestamper struct {
	// URLs are the TSAs' timestamp endpoints, asked in parallel, e.g.
	// https://tsa.example/api/v1/timestamp (sigstore's timestamp-server).
	URLs []string
	// Client sends the requests (default: a plain http.Client; per-request
	// time limits come from Timeout, not from the client).
	Client *http.Client
	// Timeout bounds one request to one TSA (default 10s).
	Timeout time.Duration
	// Attempts is how many times a TSA is asked before it counts as down
	// (default 3).
	Attempts int
	// Backoff is the wait before the second attempt; it doubles for each
	// further one (default 250ms).
	Backoff time.Duration
	// DownFor is how long a TSA that failed every attempt is not asked
	// again, so that a dead TSA costs its retries once rather than once
	// per bundle (default 30s; negative: always ask).
	DownFor time.Duration

	mu   sync.Mutex
	down map[string]downState
}

type downState struct {
	until time.Time
	err   error
}

func (t *Timestamper) client() *http.Client {
	if t.Client != nil {
		return t.Client
	}
	return http.DefaultClient
}

func (t *Timestamper) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return 10 * time.Second
}

func (t *Timestamper) attempts() int {
	if t.Attempts > 0 {
		return t.Attempts
	}
	return 3
}

func (t *Timestamper) backoff() time.Duration {
	if t.Backoff > 0 {
		return t.Backoff
	}
	return 250 * time.Millisecond
}

// TSAError reports a timestamp authority that gave no usable timestamp: it
// stayed unreachable or kept answering with errors through every attempt, or
// its timestamp did not verify against the trust file.
type TSAError struct {
	URL      string
	Attempts int
	Err      error
}

func (e *TSAError) Error() string {
	return fmt.Sprintf("timestamp authority %s: no timestamp after %d attempt(s): %v", e.URL, e.Attempts, e.Err)
}

func (e *TSAError) Unwrap() error { return e.Err }

// permanentError marks a failure that another attempt will not fix.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// Timestamp asks the TSA at url for a timestamp over the SHA-256 of
// signature, retrying with backoff, and returns the DER TimeStampResp. The
// response is checked to be granted, to cover signature and to echo the
// request's nonce; whether its signer is trusted is the Verifier's business.
func (t *Timestamper) Timestamp(ctx context.Context, url string, signature []byte) ([]byte, error) {
	if d, ok := t.isDown(url); ok {
		return nil, &TSAError{URL: url, Attempts: 0, Err: fmt.Errorf("not asked: down until %s after %w", d.until.UTC().Format(time.RFC3339), d.err)}
	}
	resp, err := t.timestamp(ctx, url, signature)
	var te *TSAError
	if errors.As(err, &te) && te.Attempts == t.attempts() && ctx.Err() == nil {
		t.markDown(url, te.Err)
	}
	return resp, err
}

func (t *Timestamper) isDown(url string) (downState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, ok := t.down[url]
	if ok && time.Now().After(d.until) {
		delete(t.down, url)
		ok = false
	}
	return d, ok
}

func (t *Timestamper) markDown(url string, err error) {
	period := t.DownFor
	if period == 0 {
		period = 30 * time.Second
	}
	if period < 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.down == nil {
		t.down = map[string]downState{}
	}
	t.down[url] = downState{until: time.Now().Add(period), err: err}
}

func (t *Timestamper) timestamp(ctx context.Context, url string, signature []byte) ([]byte, error) {
	sum := sha256.Sum256(signature)
	n := t.attempts()
	wait := t.backoff()
	var last error
	for i := 1; i <= n; i++ {
		resp, err := t.once(ctx, url, sum[:])
		if err == nil {
			return resp, nil
		}
		last = err
		var pe permanentError
		if ctx.Err() != nil || errors.As(err, &pe) || i == n {
			return nil, &TSAError{URL: url, Attempts: i, Err: last}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, &TSAError{URL: url, Attempts: i, Err: ctx.Err()}
		case <-timer.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
	return nil, &TSAError{URL: url, Attempts: n, Err: last}
}

func (t *Timestamper) once(ctx context.Context, url string, digest []byte) ([]byte, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	req, err := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest,
		Nonce: nonce, Certificates: true}).Marshal()
	if err != nil {
		return nil, permanentError{fmt.Errorf("encode request: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout())
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, permanentError{err}
	}
	hreq.Header.Set("Content-Type", "application/timestamp-query")
	hreq.Header.Set("Accept", "application/timestamp-reply")
	resp, err := t.client().Do(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTimestampResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	default:
		return nil, permanentError{fmt.Errorf("HTTP %s (check the TSA URL)", resp.Status)}
	}
	if len(body) > maxTimestampResponse {
		return nil, fmt.Errorf("response larger than %d bytes", maxTimestampResponse)
	}
	ts, err := ParseTimestampResponse(body)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(ts.HashedMessage, digest) || ts.HashAlgorithm != crypto.SHA256 {
		return nil, &TimestampMismatchError{Expected: hex.EncodeToString(digest), Found: hex.EncodeToString(ts.HashedMessage)}
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return nil, errors.New("response does not echo the request's nonce (a replayed or foreign response)")
	}
	return body, nil
}

// timestampAll asks every TSA of t at once; out[i] is nil when t.URLs[i]
// failed, and errs lists those failures in URL order.
func (t *Timestamper) timestampAll(ctx context.Context, signature []byte) (out [][]byte, errs []*TSAError) {
	out = make([][]byte, len(t.URLs))
	all := make([]error, len(t.URLs))
	var wg sync.WaitGroup
	for i, u := range t.URLs {
		wg.Go(func() { out[i], all[i] = t.Timestamp(ctx, u, signature) })
	}
	wg.Wait()
	for i, err := range all {
		if err != nil {
			var te *TSAError
			if !errors.As(err, &te) {
				te = &TSAError{URL: t.URLs[i], Attempts: 1, Err: err}
			}
			errs = append(errs, te)
		}
	}
	return out, errs
}

// ParseTimestampResponse decodes a DER RFC 3161 TimeStampResp (as a TSA
// sends it and as sigstore bundles carry it). It checks the structure, the
// PKI status and, when the token embeds its signer's certificate, the CMS
// signature; not whether that signer is trusted. It never panics.
func ParseTimestampResponse(data []byte) (ts *timestamp.Timestamp, err error) {
	if len(data) > maxTimestampResponse {
		return nil, fmt.Errorf("timestamp response is %d bytes, more than %d", len(data), maxTimestampResponse)
	}
	defer func() {
		if r := recover(); r != nil {
			ts, err = nil, fmt.Errorf("timestamp response: malformed (%v)", r)
		}
	}()
	ts, err = timestamp.ParseResponse(data)
	if err != nil {
		return nil, fmt.Errorf("timestamp response: %w", err)
	}
	if ts.HashedMessage == nil || ts.Time.IsZero() {
		return nil, errors.New("timestamp response: no message imprint or time")
	}
	return ts, nil
}

// ChainURL is where sigstore's timestamp-server publishes the certificate
// chain of the TSA whose timestamp endpoint is tsaURL.
func ChainURL(tsaURL string) string {
	return strings.TrimRight(tsaURL, "/") + "/certchain"
}

// FetchTSAChain downloads the PEM certificate chain (leaf first) of the TSA
// at tsaURL from ChainURL(tsaURL) and checks that it is a timestamping chain.
// What it returns is trusted on first use: show its fingerprint so that it
// can be compared with what the TSA's operator publishes.
func FetchTSAChain(ctx context.Context, client *http.Client, tsaURL string) ([]*x509.Certificate, error) {
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ChainURL(tsaURL), nil)
	if err != nil {
		return nil, fmt.Errorf("sign: TSA %s: %w", tsaURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sign: fetch the chain of TSA %s: %w", tsaURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxChainPEM+1))
	if err != nil {
		return nil, fmt.Errorf("sign: fetch the chain of TSA %s: %w", tsaURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sign: fetch the chain of TSA %s: HTTP %s from %s", tsaURL, resp.Status, ChainURL(tsaURL))
	}
	chain, err := ParseTSAChain(data)
	if err != nil {
		return nil, fmt.Errorf("sign: TSA %s: %w", tsaURL, err)
	}
	return chain, nil
}

// ParseTSAChain decodes a PEM certificate chain, leaf first, and checks that
// it can sign RFC 3161 timestamps: a leaf that is no CA and whose only
// extended key usage is timeStamping (marked critical, as RFC 3161 asks),
// each certificate signed by the next, ending in a self-signed root.
func ParseTSAChain(data []byte) ([]*x509.Certificate, error) {
	if len(data) > maxChainPEM {
		return nil, fmt.Errorf("certificate chain is %d bytes, more than %d", len(data), maxChainPEM)
	}
	var chain []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("certificate chain: unexpected PEM block %q", block.Type)
		}
		if len(chain) == maxChainCerts {
			return nil, fmt.Errorf("certificate chain: more than %d certificates", maxChainCerts)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate chain: certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("certificate chain: data that is not PEM after the certificates")
	}
	if err := checkTSAChain(chain); err != nil {
		return nil, err
	}
	return chain, nil
}

func checkTSAChain(chain []*x509.Certificate) error {
	if len(chain) < 2 {
		return fmt.Errorf("certificate chain: %d certificate(s), want a leaf and at least its root", len(chain))
	}
	leaf := chain[0]
	if leaf.IsCA {
		return errors.New("certificate chain: the first certificate is a CA, want the TSA's leaf first")
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(leaf.UnknownExtKeyUsage) != 0 {
		return errors.New("certificate chain: the leaf's only extended key usage must be timeStamping")
	}
	critical := false
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal([]int{2, 5, 29, 37}) {
			critical = ext.Critical
		}
	}
	if !critical {
		return errors.New("certificate chain: the leaf's extended key usage must be critical")
	}
	for i := 0; i < len(chain)-1; i++ {
		if !chain[i+1].IsCA {
			return fmt.Errorf("certificate chain: certificate %d issues certificate %d but is no CA", i+2, i+1)
		}
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return fmt.Errorf("certificate chain: certificate %d is not signed by certificate %d: %w", i+1, i+2, err)
		}
	}
	root := chain[len(chain)-1]
	if err := root.CheckSignatureFrom(root); err != nil {
		return fmt.Errorf("certificate chain: the last certificate is not a self-signed root: %w", err)
	}
	return nil
}

// CertFingerprint is "sha256:<hex>" of a certificate's DER, the identity to
// compare with what a TSA's operator publishes.
func CertFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}
