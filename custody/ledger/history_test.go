package ledger

import (
	"crypto/rand"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/custody"
)

// readerLog opens a read-only Log that remembers no checkpoint: a verifier
// seeing the archive for the first time.
func readerLog(t *testing.T, s Store) *Log {
	t.Helper()
	l, err := New(s, Options{Origin: testOrigin, Verifiers: testKey.verifiers})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestCheckHistory: a verifier that remembers nothing still sees a
// rolled-back or deleted checkpoint from the signed batches the archive
// keeps past it, and refuses batches no log key holder wrote; an append in
// progress (a signed batch at the checkpoint's size) is not evidence.
func TestCheckHistory(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := testCtx(t)
			fx := newFixture(t, be.open(t))
			check := func() error {
				l := readerLog(t, fx.b.reopen(t))
				c, _, err := l.Latest(ctx)
				if err != nil {
					return err
				}
				return l.CheckHistory(ctx, fx.b.Store.(Lister), c)
			}
			if err := check(); err != nil {
				t.Fatalf("intact log: %v", err)
			}
			var te *TruncatedError
			// Rolled back two batches: the batch at 300 is past the
			// checkpoint of 100.
			fx.b.overwrite(t, CheckpointKey, fx.signed[0])
			if err := check(); !errors.As(err, &te) || te.Start != 300 || te.Found.Size != 100 || !IsTampering(err) {
				t.Fatalf("rolled back by two batches: %v, want *TruncatedError at 300 over 100", err)
			}
			// Rolled back one batch: its batch looks like an append in
			// progress, which a writer completes.
			fx.b.overwrite(t, CheckpointKey, fx.signed[1])
			if err := check(); err != nil {
				t.Fatalf("rolled back by one batch (an unpublished claim): %v", err)
			}
			// Its events are the pending batch's, signed by the log key.
			if p, err := readerLog(t, fx.b.Store).Pending(ctx, fx.cps[1]); err != nil || len(p) != 300 || string(p[0]) != string(fx.entries[300]) {
				t.Fatalf("pending after a one-batch rollback: %d entries, %v", len(p), err)
			}
			// Deleted: every batch but the first is past it.
			fx.b.remove(t, CheckpointKey)
			if err := check(); !errors.As(err, &te) || te.Found.Size != 0 {
				t.Fatalf("checkpoint deleted: %v, want *TruncatedError over size 0", err)
			}
			fx.b.overwrite(t, CheckpointKey, fx.signed[2])
			if err := check(); err != nil {
				t.Fatalf("restored: %v", err)
			}
			// A batch signed by another key, a replayed batch and a key
			// that is no batch position: *BatchError, tampering.
			otherSkey, _, _ := custody.NewLogKey(rand.Reader, testOrigin)
			other, _ := note.NewSigner(otherSkey)
			forged := &batch{Origin: testOrigin, Start: 900, Nonce: newNonce(), Entries: marshalAll(t, events(9, 0, 2))}
			if err := forged.sign(other); err != nil {
				t.Fatal(err)
			}
			data, _ := forged.marshal()
			replayed := read(t, fx.b.Store, BatchKey(300))
			for _, tc := range []struct {
				key  string
				data []byte
			}{
				{BatchKey(900), data},
				{BatchKey(700), replayed},
				{batchPrefix + "next", []byte("x")},
			} {
				fx.b.overwrite(t, tc.key, tc.data)
				var be *BatchError
				if err := check(); !errors.As(err, &be) || be.Key != tc.key || !IsTampering(err) {
					t.Fatalf("%s: %v, want *BatchError for it", tc.key, err)
				}
				fx.b.remove(t, tc.key)
			}
			if err := check(); err != nil {
				t.Fatalf("cleaned up: %v", err)
			}
		})
	}
}
