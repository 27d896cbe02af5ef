package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/s3"
)

func TestAppendReadProve(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := testCtx(t)
			s := be.open(t).Store
			l := newLog(t, s)
			if c, signed, err := l.Latest(ctx); err != nil || c.Size != 0 || signed != nil {
				t.Fatalf("empty log: %+v %q %v", c, signed, err)
			}
			var all [][]byte
			var cps []custody.Checkpoint
			for i, n := range []int{1, 2, 253, 1, 300, 5, 700} {
				evs := events(0, i, n)
				a := mustAppend(t, l, evs)
				if a.First != int64(len(all)) || a.Count != n || a.Checkpoint.Size != int64(len(all)+n) {
					t.Fatalf("batch %d: appended %+v, want first %d count %d", i, a, len(all), n)
				}
				for _, e := range evs {
					b, _ := e.Marshal()
					all = append(all, b)
				}
				cps = append(cps, a.Checkpoint)
			}
			latest, signed, err := l.Latest(ctx)
			if err != nil || latest != cps[len(cps)-1] {
				t.Fatalf("Latest = %+v, %v; want %+v", latest, err, cps[len(cps)-1])
			}
			if c, err := custody.OpenCheckpoint(signed, testKey.verifiers, testOrigin); err != nil || c != latest {
				t.Fatalf("signed note: %+v %v", c, err)
			}
			// A fresh reader sees the same entries.
			r := newLog(t, s)
			got, err := r.Entries(ctx, latest, 0, latest.Size)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(all) {
				t.Fatalf("%d entries, want %d", len(got), len(all))
			}
			for i := range got {
				if !bytes.Equal(got[i], all[i]) {
					t.Fatalf("entry %d differs", i)
				}
			}
			for _, i := range []int64{0, 1, 255, 256, 257, latest.Size - 1} {
				p, err := r.ProveInclusion(ctx, latest, i)
				if err != nil {
					t.Fatal(err)
				}
				if err := CheckInclusion(latest, i, all[i], p); err != nil {
					t.Fatalf("inclusion of %d: %v", i, err)
				}
				var ie *InclusionError
				if err := CheckInclusion(latest, i, []byte("forged"), p); !errors.As(err, &ie) || ie.Index != i {
					t.Fatalf("forged entry %d: %v", i, err)
				}
			}
			for _, old := range cps {
				p, err := r.ProveConsistency(ctx, old, latest)
				if err != nil {
					t.Fatal(err)
				}
				if err := CheckConsistency(old, latest, p); err != nil {
					t.Fatalf("consistency %d -> %d: %v", old.Size, latest.Size, err)
				}
			}
			forged := cps[2]
			forged.Root = tlog.RecordHash([]byte("other"))
			p, _ := r.ProveConsistency(ctx, cps[2], latest)
			var fe *ForkError
			if err := CheckConsistency(forged, latest, p); !errors.As(err, &fe) || fe.Trusted != forged {
				t.Fatalf("forged old checkpoint: %v", err)
			}
			rep, err := r.Audit(ctx, &cps[0])
			if err != nil {
				t.Fatalf("Audit: %v", err)
			}
			if rep.Checkpoint != latest || rep.Entries != latest.Size {
				t.Fatalf("Audit report %+v", rep)
			}
		})
	}
}

// TestRetentionOnObjectLock: on a bucket with Object Lock, the log's
// write-once objects get the retention asked for, and the checkpoint
// still swaps (each swap a new version).
func TestRetentionOnObjectLock(t *testing.T) {
	env := testenv.MinIO(t)
	bucket := testenv.NewBucket(t, env, true)
	s, err := s3.Open(testCtx(t), s3.Options{Endpoint: env.Endpoint, AccessKey: env.AccessKey, SecretKey: env.SecretKey, Bucket: bucket, Prefix: "archive"})
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	l, err := New(s, Options{Origin: testOrigin, Verifiers: testKey.verifiers, Signer: testKey.signer,
		Retention: func() storage.Retention { return storage.Retention{Mode: storage.Governance, Until: until} }})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, events(0, 0, 3))
	mustAppend(t, l, events(0, 1, 3))
	c := testenv.Client(t, env)
	for _, key := range []string{BatchKey(3), TileKey(entryTile(0, 6)), "log/tile/8/0/000.p/6"} {
		mode, got, err := c.GetObjectRetention(testCtx(t), bucket, "archive/"+key, "")
		if err != nil || mode == nil || string(*mode) != string(storage.Governance) || got == nil || !got.Equal(until) {
			t.Fatalf("%s: retention %v until %v (%v), want governance until %v", key, mode, got, err, until)
		}
	}
	if _, _, err := c.GetObjectRetention(testCtx(t), bucket, "archive/"+CheckpointKey, ""); err == nil {
		t.Log("checkpoint has a retention (bucket default?)")
	}
}

// stamper is a fake timestamp authority: its token is a hash of what it
// was given, so the test can tell which bytes were timestamped.
type stamper struct{ fail bool }

func (s *stamper) Timestamp(ctx context.Context, signed []byte) ([]byte, error) {
	if s.fail {
		return nil, errors.New("authority unreachable")
	}
	sum := sha256.Sum256(signed)
	return append([]byte("token:"), sum[:]...), nil
}

func TestTimestamper(t *testing.T) {
	ctx := testCtx(t)
	s := localBackend(t).Store
	ts := &stamper{fail: true}
	l, err := New(s, Options{Origin: testOrigin, Verifiers: testKey.verifiers, Signer: testKey.signer, Timestamper: ts, HelpAfter: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Without a timestamp, nothing is published; the claimed batch waits.
	if _, err := l.Append(ctx, events(0, 0, 2)); err == nil || !strings.Contains(err.Error(), "authority unreachable") {
		t.Fatalf("Append with a failing authority: %v", err)
	}
	if c, _, _ := l.Latest(ctx); c.Size != 0 {
		t.Fatalf("published %d entries without a timestamp", c.Size)
	}
	ts.fail = false
	a := mustAppend(t, l, events(0, 1, 3))
	if a.First != 2 || a.Checkpoint.Size != 5 {
		t.Fatalf("appended %+v, want at 2 after the waiting batch", a)
	}
	for _, size := range []int64{2, 5} {
		tok, err := l.Timestamp(ctx, size)
		if err != nil {
			t.Fatalf("timestamp of checkpoint %d: %v", size, err)
		}
		if size == 5 {
			sum := sha256.Sum256(a.Signed)
			if !bytes.Equal(tok, append([]byte("token:"), sum[:]...)) {
				t.Fatal("the token is not over the published checkpoint")
			}
		}
	}
	if _, err := l.Timestamp(ctx, 4); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("timestamp of a size never published: %v", err)
	}
}
