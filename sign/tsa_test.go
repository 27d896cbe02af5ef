package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/sigstore/sigstore-go/pkg/root"
)

// fakeTSA is a TSA chain made in the test (root, intermediate, leaf with a
// critical timeStamping EKU), standing for a TSA the trust file does not
// hold, and able to sign timestamps itself.
type fakeTSA struct {
	chain []*x509.Certificate
	key   *ecdsa.PrivateKey
}

func newFakeTSA(t testing.TB, name string) *fakeTSA {
	t.Helper()
	mk := func(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now().Add(-time.Hour)
	rk, ik, lk := key(), key(), key()
	rt := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " Root", Organization: []string{"test"}},
		NotBefore: now, NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	rc := mk(rt, rt, &rk.PublicKey, rk)
	it := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name + " Intermediate"},
		NotBefore: now, NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}
	ic := mk(it, rc, &ik.PublicKey, rk)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	lt := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: name + " Timestamping"},
		NotBefore: now, NotAfter: now.Add(48 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	lc := mk(lt, ic, &lk.PublicKey, ik)
	return &fakeTSA{chain: []*x509.Certificate{lc, ic, rc}, key: lk}
}

func (f *fakeTSA) pem() []byte {
	var b bytes.Buffer
	for _, c := range f.chain {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// stamp signs a timestamp response over signed.
func (f *fakeTSA) stamp(t testing.TB, signed []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(signed)
	ts := &timestamp.Timestamp{HashAlgorithm: crypto.SHA256, HashedMessage: sum[:], Time: time.Now(),
		Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}, Nonce: big.NewInt(1), AddTSACertificate: true}
	resp, err := ts.CreateResponseWithOpts(f.chain[0], f.key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// serve answers RFC 3161 requests over HTTP as a TSA would, until the test
// ends, and returns the timestamp URL.
func (f *fakeTSA) serve(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts := &timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Time: time.Now(),
			Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}, Nonce: req.Nonce, AddTSACertificate: true}
		resp, err := ts.CreateResponseWithOpts(f.chain[0], f.key, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/api/v1/timestamp"
}

// verifierWith builds a verifier trusting s and the given TSAs.
func verifierWith(t testing.TB, s *Signer, tsas ...TrustedTSA) (*Verifier, *TrustFile) {
	t.Helper()
	tf, err := NewTrustFile(s, "tester", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range tsas {
		if err := tf.AddTSA(a); err != nil {
			t.Fatal(err)
		}
	}
	data, err := tf.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tf, err = ParseTrustFile(data)
	if err != nil {
		t.Fatalf("trust file does not parse back: %v\n%s", err, data)
	}
	v, err := NewVerifier(tf)
	if err != nil {
		t.Fatal(err)
	}
	return v, tf
}

func memSigner(t testing.TB) *Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// realTSA returns the test timestamp-server's URL and its trusted entry.
func realTSA(t testing.TB) (string, TrustedTSA) {
	t.Helper()
	url := testenv.TSA(t)
	chain, err := FetchTSAChain(context.Background(), nil, url)
	if err != nil {
		t.Fatalf("fetch the chain of the test TSA: %v", err)
	}
	tsa, err := NewTrustedTSA(url, chain)
	if err != nil {
		t.Fatal(err)
	}
	return url, tsa
}

// closedURL is a TSA URL on a loopback port that nothing listens on.
func closedURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/api/v1/timestamp"
}

// dropTimestamps removes the timestamps of a bundle; swapTimestamps gives
// dst the timestamps of src.
func editTimestamps(t *testing.T, dst, src []byte) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(dst, &b); err != nil {
		t.Fatal(err)
	}
	vm := b["verificationMaterial"].(map[string]any)
	delete(vm, "timestampVerificationData")
	if src != nil {
		var s map[string]any
		if err := json.Unmarshal(src, &s); err != nil {
			t.Fatal(err)
		}
		vm["timestampVerificationData"] = s["verificationMaterial"].(map[string]any)["timestampVerificationData"]
	}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTimestampedBundles(t *testing.T) {
	url, tsa := realTSA(t)
	s := memSigner(t)
	v, _ := verifierWith(t, s, tsa)
	ts := &Timestamper{URLs: []string{url}}
	ctx := context.Background()
	sum := sha256.Sum256([]byte("evidence"))
	before := time.Now().Add(-time.Minute)

	st, err := s.StatementBundle(ctx, statement(sum[:]), BundleOptions{Verifier: v, Timestamper: ts, RequireTimestamp: true})
	if err != nil {
		t.Fatal(err)
	}
	dg, err := s.DigestBundle(ctx, sum[:], BundleOptions{Verifier: v, Timestamper: ts, RequireTimestamp: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*Signed{"statement": st, "digest": dg} {
		if len(b.Timestamps) != 1 || len(b.Missed) != 0 {
			t.Fatalf("%s: timestamps %+v, missed %v", name, b.Timestamps, b.Missed)
		}
		r := b.Timestamps[0]
		if !r.OK() || r.TSA != url || r.Time.Before(before) || r.Time.After(time.Now().Add(time.Minute)) {
			t.Fatalf("%s: timestamp %+v, want from %s near now", name, r, url)
		}
		if !bytes.Contains(b.Bundle, []byte(`"rfc3161Timestamps"`)) {
			t.Fatalf("%s: no rfc3161Timestamps in the bundle", name)
		}
	}

	// What a verifier makes of each bundle, intact and tampered.
	sv, _ := verifierWith(t, s)                                              // trusts no TSA
	uv, _ := verifierWith(t, s, mustTrusted(t, newFakeTSA(t, "Other"), url)) // another chain under the same URI
	verifyStmt := func(v *Verifier, b []byte) (*Verified, error) { return v.VerifyStatement(b, sum[:]) }
	verifyDig := func(v *Verifier, b []byte) (*Verified, error) { return v.VerifyDigest(b, sum[:]) }
	type outcome func(*testing.T, *Verified)
	okFrom := func(t *testing.T, vd *Verified) {
		if err := vd.TimestampErr(1); err != nil || vd.Timestamps[0].TSA != url {
			t.Fatalf("timestamps %+v: %v", vd.Timestamps, err)
		}
	}
	failsWith := func(target any, required int) outcome {
		return func(t *testing.T, vd *Verified) {
			err := vd.TimestampErr(required)
			if err == nil || !errors.As(err, target) {
				t.Fatalf("err = %v, want %T", err, target)
			}
			for _, r := range vd.Timestamps {
				if !r.OK() && !r.Time.IsZero() {
					t.Fatalf("a failed timestamp shows a time: %+v", r)
				}
			}
		}
	}
	cases := []struct {
		name   string
		v      *Verifier
		bundle []byte
		verify func(*Verifier, []byte) (*Verified, error)
		want   outcome
	}{
		{"statement ok", v, st.Bundle, verifyStmt, okFrom},
		{"digest ok", v, dg.Bundle, verifyDig, okFrom},
		{"removed, required", v, editTimestamps(t, st.Bundle, nil), verifyStmt, failsWith(new(*MissingTimestampError), 1)},
		{"removed, not required", v, editTimestamps(t, dg.Bundle, nil), verifyDig, func(t *testing.T, vd *Verified) {
			if err := vd.TimestampErr(0); err != nil || len(vd.Timestamps) != 0 {
				t.Fatalf("%+v %v", vd.Timestamps, err)
			}
		}},
		{"untrusted TSA: none trusted", sv, st.Bundle, verifyStmt, failsWith(new(*UntrustedTSAError), 0)},
		{"untrusted TSA: another chain trusted", uv, dg.Bundle, verifyDig, failsWith(new(*UntrustedTSAError), 0)},
		{"swapped from the digest bundle", v, editTimestamps(t, st.Bundle, dg.Bundle), verifyStmt, failsWith(new(*TimestampMismatchError), 0)},
		{"swapped from the statement bundle", v, editTimestamps(t, dg.Bundle, st.Bundle), verifyDig, failsWith(new(*TimestampMismatchError), 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vd, err := c.verify(c.v, c.bundle)
			if err != nil {
				t.Fatalf("the signature itself must still verify: %v", err)
			}
			c.want(t, vd)
		})
	}

	t.Run("TSA not in the trust file at signing", func(t *testing.T) {
		out, err := s.DigestBundle(ctx, sum[:], BundleOptions{Verifier: sv, Timestamper: ts})
		if err != nil {
			t.Fatal(err)
		}
		var ue *UntrustedTSAError
		if len(out.Missed) != 1 || !errors.As(out.Missed[0], &ue) || len(out.Timestamps) != 0 {
			t.Fatalf("missed %v, timestamps %+v: want the TSA reported as untrusted", out.Missed, out.Timestamps)
		}
		if bytes.Contains(out.Bundle, []byte("rfc3161Timestamps")) {
			t.Fatal("an unverifiable timestamp was kept in the bundle")
		}
		if _, err := s.DigestBundle(ctx, sum[:], BundleOptions{Verifier: sv, Timestamper: ts, RequireTimestamp: true}); !errors.As(err, &ue) {
			t.Fatalf("required: err = %v, want UntrustedTSAError", err)
		}
	})

	t.Run("one TSA down of two", func(t *testing.T) {
		down := closedURL(t)
		two := &Timestamper{URLs: []string{down, url}, Backoff: time.Millisecond}
		out, err := s.StatementBundle(ctx, statement(sum[:]), BundleOptions{Verifier: v, Timestamper: two})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Timestamps) != 1 || len(out.Missed) != 1 || out.Missed[0].URL != down || out.Missed[0].Attempts != 3 {
			t.Fatalf("timestamps %+v, missed %v", out.Timestamps, out.Missed)
		}
		_, err = s.StatementBundle(ctx, statement(sum[:]), BundleOptions{Verifier: v, Timestamper: two, RequireTimestamp: true})
		var te *TSAError
		if !errors.As(err, &te) || te.URL != down {
			t.Fatalf("required: err = %v, want a TSAError for %s", err, down)
		}
	})
}

// TestBundleTimestampsFake covers how signing keeps, reports and requires
// timestamps, with TSAs served in the test, so it runs without a
// timestamp-server.
func TestBundleTimestampsFake(t *testing.T) {
	s := memSigner(t)
	a, b, c := newFakeTSA(t, "A"), newFakeTSA(t, "B"), newFakeTSA(t, "C")
	ua, ub, uc := a.serve(t), b.serve(t), c.serve(t)
	v, _ := verifierWith(t, s, mustTrusted(t, a, ua), mustTrusted(t, c, uc)) // b is not trusted
	sum := sha256.Sum256([]byte("evidence"))
	ctx := context.Background()
	makers := map[string]func(BundleOptions) (*Signed, error){
		"statement": func(o BundleOptions) (*Signed, error) { return s.StatementBundle(ctx, statement(sum[:]), o) },
		"digest":    func(o BundleOptions) (*Signed, error) { return s.DigestBundle(ctx, sum[:], o) },
	}
	verify := map[string]func([]byte) (*Verified, error){
		"statement": func(bd []byte) (*Verified, error) { return v.VerifyStatement(bd, sum[:]) },
		"digest":    func(bd []byte) (*Verified, error) { return v.VerifyDigest(bd, sum[:]) },
	}
	for kind, mk := range makers {
		t.Run(kind+": all verify, in URL order", func(t *testing.T) {
			out, err := mk(BundleOptions{Verifier: v, Timestamper: &Timestamper{URLs: []string{uc, ua}}, RequireTimestamp: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Missed) != 0 || len(out.Timestamps) != 2 || out.Timestamps[0].TSA != uc || out.Timestamps[1].TSA != ua {
				t.Fatalf("timestamps %+v, missed %v", out.Timestamps, out.Missed)
			}
		})
		t.Run(kind+": an untrusted one is dropped and reported", func(t *testing.T) {
			out, err := mk(BundleOptions{Verifier: v, Timestamper: &Timestamper{URLs: []string{ub, ua}}})
			if err != nil {
				t.Fatal(err)
			}
			var ue *UntrustedTSAError
			if len(out.Missed) != 1 || out.Missed[0].URL != ub || !errors.As(out.Missed[0], &ue) ||
				len(out.Timestamps) != 1 || out.Timestamps[0].TSA != ua || !out.Timestamps[0].OK() {
				t.Fatalf("timestamps %+v, missed %v", out.Timestamps, out.Missed)
			}
			vd, err := verify[kind](out.Bundle)
			if err != nil || len(vd.Timestamps) != 1 || vd.TimestampErr(1) != nil {
				t.Fatalf("the bundle kept: %v, timestamps %+v", err, vd)
			}
		})
		t.Run(kind+": only untrusted ones, none kept", func(t *testing.T) {
			out, err := mk(BundleOptions{Verifier: v, Timestamper: &Timestamper{URLs: []string{ub}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Missed) != 1 || len(out.Timestamps) != 0 || bytes.Contains(out.Bundle, []byte("rfc3161Timestamps")) {
				t.Fatalf("timestamps %+v, missed %v", out.Timestamps, out.Missed)
			}
		})
		t.Run(kind+": N of the TSAs", func(t *testing.T) {
			// Two of three answer with a trusted timestamp: enough for 2,
			// not for 3; fewer TSAs than required is refused up front.
			out, err := mk(BundleOptions{Verifier: v, Timestamper: &Timestamper{URLs: []string{ua, ub, uc}}, MinTimestamps: 2})
			if err != nil || len(out.Timestamps) != 2 || len(out.Missed) != 1 {
				t.Fatalf("2 of 3: %v, timestamps %+v, missed %v", err, out, err)
			}
			var ue *UntrustedTSAError
			if _, err := mk(BundleOptions{Verifier: v, Timestamper: &Timestamper{URLs: []string{ua, ub, uc}}, MinTimestamps: 3}); !errors.As(err, &ue) {
				t.Fatalf("3 of 3 with one untrusted: %v, want the untrusted TSA's error", err)
			}
			if _, err := mk(BundleOptions{Verifier: v, Timestamper: &Timestamper{URLs: []string{ua}}, MinTimestamps: 2}); err == nil {
				t.Fatal("2 required of 1 configured: accepted")
			}
		})
		t.Run(kind+": an untrusted one when required", func(t *testing.T) {
			_, err := mk(BundleOptions{Verifier: v, Timestamper: &Timestamper{URLs: []string{ua, ub}}, RequireTimestamp: true})
			var ue *UntrustedTSAError
			var te *TSAError
			if !errors.As(err, &ue) || !errors.As(err, &te) || te.URL != ub {
				t.Fatalf("err = %v, want an UntrustedTSAError for %s", err, ub)
			}
		})
	}
}

func mustTrusted(t testing.TB, f *fakeTSA, uri string) TrustedTSA {
	t.Helper()
	a, err := NewTrustedTSA(uri, f.chain)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestTimestamperRetries: an unreachable or failing TSA is asked Attempts
// times with backoff, then reported; a client error is not retried; a
// cancelled context stops at once.
func TestTimestamperRetries(t *testing.T) {
	var calls atomic.Int32
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Write([]byte("not a timestamp"))
	}))
	defer garbage.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body) // so that the server notices the client leave
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer slow.Close()

	cases := []struct {
		name      string
		url       string
		status    int
		timeout   time.Duration
		wantCalls int32
		attempts  int
	}{
		{"server error", srv.URL, http.StatusServiceUnavailable, 0, 3, 3},
		{"rate limited", srv.URL, http.StatusTooManyRequests, 0, 3, 3},
		{"client error is final", srv.URL, http.StatusBadRequest, 0, 1, 1},
		{"not a timestamp", garbage.URL, 0, 0, 3, 3},
		{"per-request timeout", slow.URL, 0, 50 * time.Millisecond, 3, 3},
		{"connection refused", closedURL(t), 0, 0, 0, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls.Store(0)
			status = c.status
			ts := &Timestamper{URLs: []string{c.url}, Backoff: 10 * time.Millisecond, Timeout: c.timeout}
			start := time.Now()
			_, err := ts.Timestamp(context.Background(), c.url, []byte("sig"))
			var te *TSAError
			if !errors.As(err, &te) || te.URL != c.url || te.Attempts != c.attempts {
				t.Fatalf("err = %#v, want a TSAError after %d attempts", err, c.attempts)
			}
			if got := calls.Load(); got != c.wantCalls {
				t.Fatalf("%d requests, want %d", got, c.wantCalls)
			}
			if c.attempts == 3 && time.Since(start) < 30*time.Millisecond {
				t.Fatalf("no backoff between attempts (%v)", time.Since(start))
			}
		})
	}
	t.Run("down TSA not asked again at once", func(t *testing.T) {
		calls.Store(0)
		status = http.StatusServiceUnavailable
		ts := &Timestamper{Backoff: time.Millisecond, DownFor: time.Hour}
		ts.Timestamp(context.Background(), srv.URL, []byte("sig"))
		_, err := ts.Timestamp(context.Background(), srv.URL, []byte("sig"))
		var te *TSAError
		if !errors.As(err, &te) || te.Attempts != 0 || calls.Load() != 3 || !strings.Contains(err.Error(), "503") {
			t.Fatalf("err = %v after %d requests, want the second call refused without asking", err, calls.Load())
		}
		other := &Timestamper{Backoff: time.Millisecond, DownFor: -1}
		other.Timestamp(context.Background(), srv.URL, []byte("sig"))
		other.Timestamp(context.Background(), srv.URL, []byte("sig"))
		if calls.Load() != 9 {
			t.Fatalf("DownFor < 0: %d requests, want 9", calls.Load())
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ts := &Timestamper{Backoff: time.Hour}
		start := time.Now()
		_, err := ts.Timestamp(ctx, srv.URL, []byte("sig"))
		if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
			t.Fatalf("err = %v after %v, want context.Canceled at once", err, time.Since(start))
		}
	})
	t.Run("cancelled during backoff", func(t *testing.T) {
		status = http.StatusServiceUnavailable
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		ts := &Timestamper{Backoff: time.Hour}
		_, err := ts.Timestamp(ctx, srv.URL, []byte("sig"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the context's deadline", err)
		}
	})
}

func TestRequireTimestampWithoutTSA(t *testing.T) {
	s := memSigner(t)
	v, _ := verifierWith(t, s)
	sum := sha256.Sum256([]byte("x"))
	if _, err := s.DigestBundle(context.Background(), sum[:], BundleOptions{Verifier: v, RequireTimestamp: true}); err == nil ||
		!strings.Contains(err.Error(), "no timestamp authority is configured") {
		t.Fatalf("err = %v", err)
	}
}

// TestVerifyTimestampFake covers the verifier's classification with timestamps
// made in the test, so it runs without a timestamp-server.
func TestVerifyTimestampFake(t *testing.T) {
	s := memSigner(t)
	a, b := newFakeTSA(t, "A"), newFakeTSA(t, "B")
	v, _ := verifierWith(t, s, mustTrusted(t, a, "https://a.example/api/v1/timestamp"))
	sig := []byte("the signature")
	good := a.stamp(t, sig)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-10] ^= 1
	cases := []struct {
		name string
		resp []byte
		want any
	}{
		{"ok", good, nil},
		{"other signature", a.stamp(t, []byte("another")), new(*TimestampMismatchError)},
		{"untrusted TSA", b.stamp(t, sig), new(*UntrustedTSAError)},
		{"garbage", []byte("garbage"), new(*FormatError)},
		{"empty", nil, new(*FormatError)},
		{"flipped byte", flipped, new(error)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := v.VerifyTimestamp(c.resp, sig)
			if c.want == nil {
				if !r.OK() || r.TSA != "https://a.example/api/v1/timestamp" || r.Time.IsZero() {
					t.Fatalf("%+v", r)
				}
				return
			}
			if r.OK() || !errors.As(r.Err, c.want) || !r.Time.IsZero() {
				t.Fatalf("result %+v, want %T", r, c.want)
			}
		})
	}
}

func TestParseTSAChain(t *testing.T) {
	f := newFakeTSA(t, "P")
	enc := func(cs ...*x509.Certificate) []byte {
		var b bytes.Buffer
		for _, c := range cs {
			pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		return b.Bytes()
	}
	leaf, inter, rootc := f.chain[0], f.chain[1], f.chain[2]
	cases := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"leaf first", f.pem(), true},
		{"leaf and root only", enc(leaf, rootc), false}, // leaf not signed by root
		{"root first", enc(rootc, inter, leaf), false},
		{"leaf alone", enc(leaf), false},
		{"no root", enc(leaf, inter), false},
		{"a CA as leaf", enc(inter, rootc), false},
		{"trailing garbage", append(f.pem(), "junk"...), false},
		{"key block", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), false},
		{"empty", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseTSAChain(c.data)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok %v", err, c.ok)
			}
		})
	}
}

func TestTrustFileTSAs(t *testing.T) {
	s := memSigner(t)
	a, b := newFakeTSA(t, "A"), newFakeTSA(t, "B")
	const uri = "https://a.example/api/v1/timestamp"
	_, tf := verifierWith(t, s, mustTrusted(t, a, uri))
	if err := tf.AddTSA(mustTrusted(t, a, uri)); err != nil || len(tf.TimestampAuthorities) != 1 {
		t.Fatalf("adding the same TSA again: %v, %d entries", err, len(tf.TimestampAuthorities))
	}
	if err := tf.AddTSA(mustTrusted(t, b, uri)); err == nil {
		t.Fatal("another chain under a trusted URI was accepted")
	}
	if got := tf.TSAURIs(); len(got) != 1 || got[0] != uri {
		t.Fatalf("TSAURIs = %v", got)
	}
	// The cosign trusted root lists the same TSA, as sigstore-go reads it.
	data, err := tf.CosignTrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		t.Fatalf("trusted root does not parse: %v\n%s", err, data)
	}
	tas := tr.TimestampingAuthorities()
	if len(tas) != 1 {
		t.Fatalf("%d TSAs in the trusted root", len(tas))
	}
	sig := []byte("sig")
	if got, err := tas[0].Verify(a.stamp(t, sig), sig); err != nil || got.URI != uri {
		t.Fatalf("sigstore-go with our trusted root: %v %+v", err, got)
	}
	// A trust file whose TSA chain was edited is refused.
	raw, _ := tf.Marshal()
	bad := bytes.Replace(raw, []byte(`"rawBytes": "`), []byte(`"rawBytes": "AAAA`), 1)
	if _, err := ParseTrustFile(bad); err == nil {
		t.Fatal("a trust file with a broken TSA certificate was accepted")
	}
	dup := &TrustFile{MediaType: tf.MediaType, Keys: tf.Keys, TimestampAuthorities: []TrustedTSA{tf.TimestampAuthorities[0], tf.TimestampAuthorities[0]}}
	raw, _ = dup.Marshal()
	if _, err := ParseTrustFile(raw); err == nil {
		t.Fatal("a TSA listed twice was accepted")
	}
}

// BenchmarkTimestamp measures one timestamp from the local timestamp-server,
// request, response checks and verification against the trusted chain.
func BenchmarkTimestamp(b *testing.B) {
	url, tsa := realTSA(b)
	s := memSigner(b)
	v, _ := verifierWith(b, s, tsa)
	ts := &Timestamper{URLs: []string{url}}
	sig := []byte("a signature")
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		resp, err := ts.Timestamp(ctx, url, sig)
		if err != nil {
			b.Fatal(err)
		}
		if r := v.VerifyTimestamp(resp, sig); !r.OK() {
			b.Fatal(r.Err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/timestamp")
}

// BenchmarkSignedBundle compares a digest bundle with and without a timestamp.
func BenchmarkSignedBundle(b *testing.B) {
	url, tsa := realTSA(b)
	s := memSigner(b)
	v, _ := verifierWith(b, s, tsa)
	sum := sha256.Sum256([]byte("x"))
	for _, c := range []struct {
		name string
		ts   *Timestamper
	}{{"none", nil}, {"one TSA", &Timestamper{URLs: []string{url}}}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.DigestBundle(context.Background(), sum[:], BundleOptions{Verifier: v, Timestamper: c.ts}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/bundle")
		})
	}
}

// BenchmarkSignedBundleFakeTSA is BenchmarkSignedBundle with a TSA served in
// the test, so that signing and checking, not the TSA, dominate.
func BenchmarkSignedBundleFakeTSA(b *testing.B) {
	s := memSigner(b)
	f := newFakeTSA(b, "Bench")
	url := f.serve(b)
	v, _ := verifierWith(b, s, mustTrusted(b, f, url))
	sum := sha256.Sum256([]byte("x"))
	ts := &Timestamper{URLs: []string{url}}
	for b.Loop() {
		if _, err := s.DigestBundle(context.Background(), sum[:], BundleOptions{Verifier: v, Timestamper: ts}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/bundle")
}
