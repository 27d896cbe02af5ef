package sign

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// fuzzSigner is memSigner with a verifier that trusts it.
func fuzzSigner(f *testing.F) (*Signer, *Verifier) {
	f.Helper()
	s := memSigner(f)
	v, _ := verifierWith(f, s)
	return s, v
}

// FuzzVerifyBundle: arbitrary bytes given as a bundle never panic and never
// verify unless they are a bundle the trusted key made for that digest.
func FuzzVerifyBundle(f *testing.F) {
	s, v := fuzzSigner(f)
	sum := sha256.Sum256([]byte("fuzz"))
	sb, err := s.SignStatement(context.Background(), statement(sum[:]), v)
	if err != nil {
		f.Fatal(err)
	}
	db, err := s.SignDigestBundle(context.Background(), sum[:], v)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sb)
	f.Add(db)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		other := sha256.Sum256(data)
		if _, err := v.VerifyDigest(data, other[:]); err == nil {
			t.Fatal("a bundle verified against a digest nobody signed")
		}
		v.VerifyStatement(data, sum[:])
		v.VerifyDigest(data, sum[:])
	})
}

func FuzzParseTrustFile(f *testing.F) {
	s, _ := fuzzSigner(f)
	tf, _ := NewTrustFile(s, "fuzz", time.Now())
	good, _ := tf.Marshal()
	f.Add(good)
	f.Add([]byte(`{"mediaType":"` + TrustMediaType + `","keys":[{}]}`))
	a, _ := NewTrustedTSA("https://tsa.example", newFakeTSA(f, "Fuzz").chain)
	tf.TimestampAuthorities = append(tf.TimestampAuthorities, a)
	withTSA, _ := tf.Marshal()
	f.Add(withTSA)
	_, vkey, err := note.GenerateKey(rand.Reader, "exhibit.archive/fuzz")
	if err != nil {
		f.Fatal(err)
	}
	if err := tf.AddLog(vkey, time.Now()); err != nil {
		f.Fatal(err)
	}
	withLog, _ := tf.Marshal()
	f.Add(withLog)
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := ParseTrustFile(data)
		if err != nil {
			return
		}
		if _, err := NewVerifier(tf); err != nil {
			t.Fatalf("a trust file that parsed makes no verifier: %v", err)
		}
		for _, l := range tf.Logs {
			if _, err := tf.LogVerifiers(l.Origin); err != nil {
				t.Fatalf("a trusted log that parsed has no verifier: %v", err)
			}
		}
	})
}

// FuzzKeyFile: arbitrary key files fail with ErrKey or ErrPassphrase.
func FuzzKeyFile(f *testing.F) {
	priv, _, err := GenerateKey([]byte("pw"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(priv)
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The real passphrase: a mutated file must never decrypt to a key
		// other than a valid P-256 one.
		parsePrivateKey(data, func(bool) ([]byte, error) { return []byte("pw"), nil })
	})
}

// FuzzTimestampResponse: arbitrary bytes given as a timestamp response never
// panic, and never verify for a signature the trusted TSA did not stamp.
func FuzzTimestampResponse(f *testing.F) {
	s, _ := fuzzSigner(f)
	tsa := newFakeTSA(f, "Fuzz")
	tf, _ := NewTrustFile(s, "fuzz", time.Now())
	a, err := NewTrustedTSA("https://tsa.example/api/v1/timestamp", tsa.chain)
	if err != nil {
		f.Fatal(err)
	}
	if err := tf.AddTSA(a); err != nil {
		f.Fatal(err)
	}
	v, err := NewVerifier(tf)
	if err != nil {
		f.Fatal(err)
	}
	sig := []byte("stamped signature")
	f.Add(tsa.stamp(f, sig))
	f.Add(newFakeTSA(f, "Other").stamp(f, sig))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseTimestampResponse(data)
		if r := v.VerifyTimestamp(data, []byte("never stamped")); r.OK() {
			t.Fatal("a timestamp verified over a signature nobody stamped")
		}
		if r := v.VerifyTimestamp(data, sig); r.OK() && r.Time.IsZero() {
			t.Fatal("a verified timestamp has no time")
		} else if !r.OK() && !r.Time.IsZero() {
			t.Fatal("a failed timestamp shows a time")
		}
	})
}

// FuzzParseTSAChain: arbitrary PEM never panics, and what parses is a
// chain a trust file accepts.
func FuzzParseTSAChain(f *testing.F) {
	f.Add(newFakeTSA(f, "Fuzz").pem())
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		chain, err := ParseTSAChain(data)
		if err != nil {
			return
		}
		if _, err := NewTrustedTSA("https://tsa.example", chain); err != nil {
			t.Fatalf("a chain that parsed is refused: %v", err)
		}
	})
}
