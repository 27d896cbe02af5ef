package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/verify"
)

// missedObserver records the bundles signed without a timestamp.
type missedObserver struct {
	mu     sync.Mutex
	missed []*sign.TSAError
}

func (o *missedObserver) Planned(int, int64) {}
func (o *missedObserver) Read(int64)         {}
func (o *missedObserver) Done(ingest.Result) {}
func (o *missedObserver) TimestampMissed(_ string, err *sign.TSAError) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.missed = append(o.missed, err)
}

// tsaTrust returns the test TSA's URL and verifiers of s: one that trusts
// the TSA and one that trusts no TSA.
func tsaTrust(t *testing.T, s *sign.Signer) (string, *sign.Verifier, *sign.Verifier) {
	t.Helper()
	url := testenv.TSA(t)
	chain, err := sign.FetchTSAChain(context.Background(), nil, url)
	if err != nil {
		t.Fatal(err)
	}
	tsa, err := sign.NewTrustedTSA(url, chain)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := sign.NewTrustFile(s, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := tf.AddTSA(tsa); err != nil {
		t.Fatal(err)
	}
	v, err := sign.NewVerifier(tf)
	if err != nil {
		t.Fatal(err)
	}
	return url, v, trustOnly(t, s)
}

func ingestOne(t *testing.T, o ingest.Options, content string) ingest.Result {
	t.Helper()
	in, err := ingest.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(p, []byte(content), 0o644)
	return in.File(context.Background(), p)
}

func timestampChecks(ir verify.ItemReport) []verify.Check {
	var out []verify.Check
	for _, c := range ir.Checks {
		if c.Name == "timestamps" {
			out = append(out, c)
		}
	}
	return out
}

// setTimestamps rewrites a stored bundle with the timestamps of another
// bundle (nil: none), as someone with write access to the store could.
func setTimestamps(t *testing.T, f *fixture, key string, from []byte) {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(f.get(t, key), &b); err != nil {
		t.Fatal(err)
	}
	vm := b["verificationMaterial"].(map[string]any)
	delete(vm, "timestampVerificationData")
	if from != nil {
		var s map[string]any
		json.Unmarshal(from, &s)
		vm["timestampVerificationData"] = s["verificationMaterial"].(map[string]any)["timestampVerificationData"]
	}
	out, _ := json.Marshal(b)
	f.b.rewrite(t, key, out)
}

func TestTimestamps(t *testing.T) {
	s := newSigner(t)
	url, trust, noTSA := tsaTrust(t, s)
	newFixture := func(t *testing.T) *fixture {
		b := localBackend(t)
		r := ingestOne(t, ingest.Options{Store: b.store, Signer: s, Verifier: trust, Case: "c1",
			Timestamper: &sign.Timestamper{URLs: []string{url}}, RequireTimestamp: true}, "a witness statement\n")
		if r.Err != nil || r.Status != ingest.Archived {
			t.Fatalf("ingest: %+v", r)
		}
		id, _ := hashing.ParseDigest(r.Item)
		return &fixture{b: b, signer: s, v: &verify.Verifier{Store: b.store, Trust: trust}, id: id}
	}
	ctx := context.Background()

	t.Run("intact", func(t *testing.T) {
		f := newFixture(t)
		ir := f.v.Item(ctx, f.id)
		if ir.Status != verify.Pass {
			t.Fatalf("status %s: %+v", ir.Status, ir.Checks)
		}
		ts := timestampChecks(ir)
		if len(ts) != 2 {
			t.Fatalf("%d timestamp checks, want one per bundle: %+v", len(ts), ts)
		}
		for _, c := range ts {
			if c.Status != verify.Pass || !strings.Contains(c.Detail, url) || !strings.Contains(c.Detail, time.Now().UTC().Format("2006-01-02")) {
				t.Fatalf("check %+v, want a pass naming %s and today", c, url)
			}
		}
	})

	cases := []struct {
		name    string
		tamper  func(t *testing.T, f *fixture)
		v       func(f *fixture) *verify.Verifier
		want    verify.Status
		contain string
	}{
		{"removed", func(t *testing.T, f *fixture) { setTimestamps(t, f, custody.RecordBundleKey(f.id), nil) },
			nil, verify.Warn, "although the trust file lists 1 timestamp authorities"},
		{"removed, required", func(t *testing.T, f *fixture) { setTimestamps(t, f, custody.RecordBundleKey(f.id), nil) },
			func(f *fixture) *verify.Verifier {
				return &verify.Verifier{Store: f.b.store, Trust: trust, RequireTimestamp: true}
			},
			verify.Fail, "at least one verified RFC 3161 timestamp"},
		{"swapped from the original's bundle", func(t *testing.T, f *fixture) {
			setTimestamps(t, f, custody.RecordBundleKey(f.id), f.get(t, custody.OriginalBundleKey(f.id)))
		}, nil, verify.Fail, "covers a different signature"},
		{"one TSA where two are required", func(*testing.T, *fixture) {},
			func(f *fixture) *verify.Verifier {
				return &verify.Verifier{Store: f.b.store, Trust: trust, RequireTimestamp: true, MinTimestamps: 2}
			},
			verify.Fail, "at least 2 distinct trusted TSAs"},
		{"untrusted TSA", func(*testing.T, *fixture) {},
			func(f *fixture) *verify.Verifier { return &verify.Verifier{Store: f.b.store, Trust: noTSA} },
			verify.Untrusted, "not in the trust file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			c.tamper(t, f)
			v := f.v
			if c.v != nil {
				v = c.v(f)
			}
			ir := v.Item(ctx, f.id)
			if ir.Status != c.want {
				t.Fatalf("status %s, want %s: %+v", ir.Status, c.want, ir.Checks)
			}
			found := false
			for _, ch := range timestampChecks(ir) {
				if ch.Status == c.want && strings.Contains(ch.Detail+" "+ch.Expected+" "+ch.Found, c.contain) {
					found = true
				}
				if ch.Status != verify.Pass && strings.Contains(ch.Detail, "RFC 3161 time") {
					t.Fatalf("a failed timestamp shows a time: %+v", ch)
				}
			}
			if !found {
				t.Fatalf("no %s timestamp check saying %q: %+v", c.want, c.contain, timestampChecks(ir))
			}
			// The signatures themselves still verify: only time is in question.
			for _, ch := range ir.Checks {
				if ch.Name != "timestamps" && ch.Status != verify.Pass {
					t.Fatalf("check %s: %s %s", ch.Name, ch.Status, ch.Detail)
				}
			}
		})
	}

	t.Run("TSA down at ingest", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		down := "http://" + l.Addr().String() + "/api/v1/timestamp"
		l.Close()
		// Trusted (so ingest accepts it), but nothing answers there.
		tf, _ := sign.NewTrustFile(s, "test", time.Now())
		chain, _ := sign.FetchTSAChain(ctx, nil, url)
		tsa, _ := sign.NewTrustedTSA(down, chain)
		tf.AddTSA(tsa)
		v, _ := sign.NewVerifier(tf)
		b := localBackend(t)
		ts := &sign.Timestamper{URLs: []string{down}, Backoff: time.Millisecond}
		r := ingestOne(t, ingest.Options{Store: b.store, Signer: s, Verifier: v, Timestamper: ts, RequireTimestamp: true}, "one")
		var te *sign.TSAError
		if r.Status != ingest.Failed || !errors.As(r.Err, &te) || te.URL != down {
			t.Fatalf("required: %+v, want failed with a TSAError", r)
		}
		obs := &missedObserver{}
		r = ingestOne(t, ingest.Options{Store: b.store, Signer: s, Verifier: v, Observer: obs,
			Timestamper: &sign.Timestamper{URLs: []string{down}, Backoff: time.Millisecond}}, "two")
		if r.Status != ingest.Archived || len(obs.missed) != 2 || obs.missed[0].Attempts != 3 {
			t.Fatalf("not required: %+v, missed %v; want archived with both bundles reported", r, obs.missed)
		}
		id, _ := hashing.ParseDigest(r.Item)
		ir := (&verify.Verifier{Store: b.store, Trust: v}).Item(ctx, id)
		if ir.Status != verify.Warn {
			t.Fatalf("status %s, want warn: %+v", ir.Status, ir.Checks)
		}
	})
}
