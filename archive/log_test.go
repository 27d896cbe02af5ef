package archive

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/photo"
	"github.com/openexhibit/exhibit/capture/strip"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/verify"
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
			ctx := context.Background()
			s, err := loadLogSigner(ctx, home, origin, Passphrase(tc.pass))
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
				_, err := loadLogSigner(ctx, home, origin, Passphrase("wrong"))
				var pe *LogPassphraseError
				if !errors.As(err, &pe) || !errors.Is(err, sign.ErrPassphrase) || KindOf(err) != KindKey {
					t.Fatalf("a wrong passphrase: %v, want a LogPassphraseError of KindKey", err)
				}
				if _, err := loadLogSigner(ctx, home, origin, nil); !errors.Is(err, ErrNoPassphrase) {
					t.Fatalf("no credentials: %v, want ErrNoPassphrase", err)
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
				opts.Timestamper = checkpointStamper{ts: &sign.Timestamper{URLs: []string{u}}, require: true}
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

// The events of an item this run archived are made from what ingest wrote
// (ingest.Result), not read back: they are byte for byte the events made
// from the stored record, and the ingested event names the SHA-256 of the
// stored record bundle, as verify checks it.
func TestIngestEventsFromMemory(t *testing.T) {
	ctx := context.Background()
	st, err := local.Create(filepath.Join(t.TempDir(), "archive"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := sign.NewTrustFile(signer, "t", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	trust, err := sign.NewVerifier(tf)
	if err != nil {
		t.Fatal(err)
	}
	a := &Archive{store: st, trust: trust}
	readers, err := capture.NewRegistry(photo.New(), strip.NewReader(strip.Default))
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ctx, ingest.Options{Store: st, Signer: signer, Verifier: trust,
		Readers: readers})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lens.png", "lens.tif"} {
		t.Run(name, func(t *testing.T) {
			r := in.File(ctx, filepath.Join("..", "capture", "photo", "testdata", name))
			if r.Status != ingest.Archived || r.Record == nil || r.RecordBundle.IsZero() || r.OriginalBundle.IsZero() {
				t.Fatalf("ingest: %s %v (record %d bytes, bundle %v)", r.Status, r.Err, len(r.Record), r.RecordBundle)
			}
			id, err := hashing.ParseDigest(r.Item)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
			who := custody.Actor{KeyFingerprint: signer.Fingerprint(), Operator: "t", Host: "h"}
			events := func(r ingest.Result) []*custody.Event {
				t.Helper()
				stmt, b, err := a.signedRecord(ctx, id, r)
				if err != nil {
					t.Fatal(err)
				}
				return custody.IngestEvents(id.String(), &stmt.Predicate, b, st.Location(), now, who)
			}
			mem := events(r)
			r.Status = ingest.Exists // as a later run finds it: read from the store
			stored := events(r)
			if len(mem) < 2 || len(mem) != len(stored) {
				t.Fatalf("%d events from memory, %d from the store", len(mem), len(stored))
			}
			for i := range mem {
				a, err := mem[i].Marshal()
				if err != nil {
					t.Fatal(err)
				}
				b, err := stored[i].Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Errorf("event %d from memory:\n%s\nfrom the store:\n%s", i, a, b)
				}
			}
			bundle, err := storage.ReadAll(ctx, st, custody.RecordBundleKey(id), 64<<20)
			if err != nil {
				t.Fatal(err)
			}
			if want := verify.RecordDigest(bundle); mem[0].Type != custody.EventIngested || mem[0].Record != want {
				t.Fatalf("first event %s names %s, the stored record bundle is %s", mem[0].Type, mem[0].Record, want)
			}
		})
	}
}
