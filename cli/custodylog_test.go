package cli

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage/local"
)

// The log key file round-trips: encrypted and plain, the signer made from
// it is the key whose verifier init put in the trust file, and a wrong
// passphrase is refused.
func TestLogKeyFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		pass string
	}{{"encrypted", "s3cret"}, {"plain", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			origin := newOrigin()
			vkey, err := newLogKeyFile(home, origin, []byte(tc.pass))
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv("EXHIBIT_PASSWORD", tc.pass)
			s, err := loadLogSigner(home, origin)
			if err != nil {
				t.Fatal(err)
			}
			v, err := note.NewVerifier(vkey)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name() != origin || v.Name() != origin || s.KeyHash() != v.KeyHash() {
				t.Fatalf("signer %s/%08x, verifier %s/%08x, origin %s", s.Name(), s.KeyHash(), v.Name(), v.KeyHash(), origin)
			}
			msg, err := note.Sign(&note.Note{Text: "x\n"}, s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
				t.Fatalf("signature by the loaded key does not verify: %v", err)
			}
			o, k, ok := logKeyComments(home)
			if !ok || o != origin || k != vkey {
				t.Fatalf("comments: %q %q %v", o, k, ok)
			}
			if tc.pass != "" {
				t.Setenv("EXHIBIT_PASSWORD", "wrong")
				if _, err := loadLogSigner(home, origin); err == nil {
					t.Fatal("a wrong passphrase opened the log key")
				}
				t.Setenv("EXHIBIT_LOG_PASSWORD", tc.pass)
				if _, err := loadLogSigner(home, origin); err != nil {
					t.Fatalf("EXHIBIT_LOG_PASSWORD: %v", err)
				}
			}
		})
	}
}

// BenchmarkCheckpoint measures what one append of one event costs the
// commands on a local folder: claim, tiles, sign, publish, and with a TSA
// (EXHIBIT_TEST_TSA) the checkpoint's timestamp.
func BenchmarkCheckpoint(b *testing.B) {
	for _, withTSA := range []bool{false, true} {
		name := "no-tsa"
		if withTSA {
			name = "tsa"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			st, err := local.Create(filepath.Join(b.TempDir(), "archive"))
			if err != nil {
				b.Fatal(err)
			}
			origin := newOrigin()
			skey, vkey, err := custody.NewLogKey(rand.Reader, origin)
			if err != nil {
				b.Fatal(err)
			}
			signer, _ := note.NewSigner(skey)
			verifier, _ := note.NewVerifier(vkey)
			opts := ledger.Options{Origin: origin, Verifiers: note.VerifierList(verifier), Signer: signer}
			if withTSA {
				u := testenv.TSA(b)
				opts.Timestamper = checkpointStamper{ts: &sign.Timestamper{URLs: []string{u}}, stampPolicy: stampPolicy{require: true}}
			}
			l, err := ledger.New(st, opts)
			if err != nil {
				b.Fatal(err)
			}
			ev := &custody.Event{V: custody.EventVersion, Type: custody.EventAccessed,
				Item:  "sha256:52c3935626c104b2cbc9031291a1c4d56614c38f52072a361d658a58a9c48698",
				Time:  time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC),
				Actor: custody.Actor{KeyFingerprint: "sha256:7c95a06168acce4678faea8b33fa71447ee784ad8fe532bac4b4acc06b8065a4"}, Command: "show"}
			b.ResetTimer()
			for b.Loop() {
				if _, err := l.Append(ctx, []*custody.Event{ev}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
