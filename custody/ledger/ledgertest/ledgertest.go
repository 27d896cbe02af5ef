// Package ledgertest checks a custody log from the outside, as a verifier
// would, for tests that drive writers they cannot see into: several
// processes (exhibit commands, workers) appending to one archive. It is
// imported only by tests.
//
// This package must not import anything from this module but custody,
// custody/ledger and storage.
package ledgertest

import (
	"context"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
)

// Check audits the log in s (signature, every hash, every tile) and
// returns its checkpoint and events in log order. It fails t when the
// audit fails, an entry is not a canonical event, or two entries are
// byte-identical (an event logged twice).
func Check(t testing.TB, s ledger.Store, opts ledger.Options) (custody.Checkpoint, []*custody.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts.Signer = nil // read-only
	l, err := ledger.New(s, opts)
	if err != nil {
		t.Fatalf("ledgertest: %v", err)
	}
	rep, err := l.Audit(ctx, nil)
	if err != nil {
		t.Fatalf("ledgertest: audit: %v", err)
	}
	c := rep.Checkpoint
	var out []*custody.Event
	seen := make(map[string]int64, c.Size)
	for start := int64(0); start < c.Size; start += ledger.MaxBatch {
		entries, err := l.Entries(ctx, c, start, min(ledger.MaxBatch, c.Size-start))
		if err != nil {
			t.Fatalf("ledgertest: read entries: %v", err)
		}
		for k, e := range entries {
			i := start + int64(k)
			if j, dup := seen[string(e)]; dup {
				t.Fatalf("ledgertest: entry %d is entry %d again", i, j)
			}
			seen[string(e)] = i
			ev, err := custody.ParseEvent(e)
			if err != nil {
				t.Fatalf("ledgertest: entry %d: %v", i, err)
			}
			out = append(out, ev)
		}
	}
	return c, out
}
