package sign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// newKey writes an encrypted key file and returns its signer and verifier.
func newKey(t *testing.T, pass string) (*Signer, *Verifier, string) {
	t.Helper()
	priv, _, err := GenerateKey([]byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cosign.key")
	if err := os.WriteFile(path, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSigner(context.Background(), path, func(bool) ([]byte, error) { return []byte(pass), nil })
	if err != nil {
		t.Fatal(err)
	}
	v, _ := verifierWith(t, s)
	return s, v, path
}

func statement(sum []byte) []byte {
	return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"original","digest":{"sha256":"` +
		hexs(sum) + `"}}],"predicateType":"https://example.com/test/v1","predicate":{}}`)
}

func hexs(b []byte) string {
	const h = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, h[c>>4], h[c&15])
	}
	return string(out)
}

func TestKeyFile(t *testing.T) {
	priv, pub, err := GenerateKey([]byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(priv, []byte("ENCRYPTED SIGSTORE PRIVATE KEY")) {
		t.Fatalf("private key is not in cosign's encrypted format:\n%s", priv)
	}
	if !bytes.Contains(pub, []byte("PUBLIC KEY")) {
		t.Fatal("no public key PEM")
	}
	path := filepath.Join(t.TempDir(), "k")
	os.WriteFile(path, priv, 0o600)
	tests := []struct {
		name string
		pass PassFunc
		want error
	}{
		{"right passphrase", func(bool) ([]byte, error) { return []byte("correct horse"), nil }, nil},
		{"wrong passphrase", func(bool) ([]byte, error) { return []byte("battery staple"), nil }, ErrPassphrase},
		{"no passphrase", nil, ErrPassphrase},
		{"prompt fails", func(bool) ([]byte, error) { return nil, errors.New("no terminal") }, ErrPassphrase},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSigner(context.Background(), path, tc.pass)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// A key file that sets its own scrypt cost (here 2^30, 1 TiB of
	// memory) is refused before any work, not run.
	t.Run("kdf cost edited", func(t *testing.T) {
		block, _ := pem.Decode(priv)
		body := bytes.Replace(block.Bytes, []byte(`"N":65536`), []byte(`"N":1073741824`), 1)
		if bytes.Equal(body, block.Bytes) {
			t.Fatalf("no scrypt N in %s", block.Bytes)
		}
		if _, err := DecryptKey(body, []byte("correct horse")); !errors.Is(err, ErrKey) {
			t.Fatalf("err = %v, want ErrKey", err)
		}
		if _, err := DecryptKey(block.Bytes, []byte("correct horse")); err != nil {
			t.Fatalf("the unedited key: %v", err)
		}
	})
	t.Run("not a key", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad")
		os.WriteFile(bad, []byte("hello"), 0o600)
		if _, err := LoadSigner(context.Background(), bad, nil); !errors.Is(err, ErrKey) {
			t.Fatalf("err = %v, want ErrKey", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := LoadSigner(context.Background(), filepath.Join(t.TempDir(), "nope"), nil); !errors.Is(err, ErrKey) {
			t.Fatalf("err = %v, want ErrKey", err)
		}
	})
	t.Run("unencrypted", func(t *testing.T) {
		priv, _, err := GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "plain")
		os.WriteFile(p, priv, 0o600)
		if _, err := LoadSigner(context.Background(), p, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStatementBundle(t *testing.T) {
	s, v, _ := newKey(t, "pw")
	_, other, _ := newKey(t, "pw2")
	sum := sha256.Sum256([]byte("evidence"))
	b, err := s.SignStatement(context.Background(), statement(sum[:]), v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["mediaType"] != BundleMediaType {
		t.Fatalf("bundle media type: %v %v", m["mediaType"], err)
	}
	got, err := v.VerifyStatement(b, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyFingerprint != s.Fingerprint() || !bytes.Equal(got.Payload, statement(sum[:])) {
		t.Fatalf("verified %+v", got)
	}
	wrong := sha256.Sum256([]byte("other"))
	var se *SignatureError
	if _, err := v.VerifyStatement(b, wrong[:]); !errors.As(err, &se) {
		t.Fatalf("other subject: err = %v, want SignatureError", err)
	}
	var ue *UntrustedKeyError
	if _, err := other.VerifyStatement(b, sum[:]); !errors.As(err, &ue) {
		t.Fatalf("other key: err = %v, want UntrustedKeyError", err)
	}
	// Flip one byte of the signed payload.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(raw["dsseEnvelope"], &env); err != nil {
		t.Fatal(err)
	}
	p, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	p[len(p)-2] ^= 1
	env["payload"] = base64.StdEncoding.EncodeToString(p)
	raw["dsseEnvelope"], _ = json.Marshal(env)
	tampered, _ := json.Marshal(raw)
	if _, err := v.VerifyStatement(tampered, nil); !errors.As(err, &se) {
		t.Fatalf("tampered payload: err = %v, want SignatureError", err)
	}
	var fe *FormatError
	if _, err := v.VerifyStatement([]byte("{"), nil); !errors.As(err, &fe) {
		t.Fatalf("garbage: err = %v, want FormatError", err)
	}
}

func TestDigestBundle(t *testing.T) {
	s, v, _ := newKey(t, "pw")
	sum := sha256.Sum256([]byte("evidence"))
	b, err := s.SignDigestBundle(context.Background(), sum[:], v)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.VerifyDigest(b, sum[:]); err != nil || got.KeyFingerprint != s.Fingerprint() {
		t.Fatalf("verify: %v %+v", err, got)
	}
	wrong := sha256.Sum256([]byte("evidencf"))
	if _, err := v.VerifyDigest(b, wrong[:]); err == nil {
		t.Fatal("verified against another digest")
	}
	if _, err := v.VerifyStatement(b, sum[:]); err == nil {
		t.Fatal("digest bundle accepted as statement bundle")
	}
	if _, err := s.SignDigestBundle(context.Background(), sum[:5], v); err == nil {
		t.Fatal("short digest accepted")
	}
}

func TestTrustFileRejectsMismatchedFingerprint(t *testing.T) {
	s, _, _ := newKey(t, "pw")
	tf, _ := NewTrustFile(s, "x", time.Now())
	tf.Keys[0].Fingerprint = "sha256:" + hexs(make([]byte, 32))
	data, _ := tf.Marshal()
	if _, err := ParseTrustFile(data); err == nil {
		t.Fatal("trust file with a wrong fingerprint accepted")
	}
}
