package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/storage"
)

// TruncatedError: the store holds a batch, signed by a log key, that claims
// a position past the log's checkpoint. A writer claims position p only on
// a checkpoint of size p, so the log once held at least Start entries and
// its checkpoint was since rolled back or deleted. It is the evidence a
// verifier that remembers no earlier checkpoint has of a rollback.
type TruncatedError struct {
	Found custody.Checkpoint
	Batch string // key of the batch
	Start int64  // the position it claims
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("custody log rolled back: %s, signed by the log key, claims position %d, so the log once held at least %d entries; its checkpoint has %d (root %s); keep the checkpoint and the batch as evidence and restore the log from a copy",
		e.Batch, e.Start, e.Start, e.Found.Size, e.Found.Root)
}

func (*TruncatedError) evidence() {}

// Lister lists keys by prefix in lexical order, as storage.Store does.
type Lister interface {
	List(ctx context.Context, prefix string, fn func(storage.Object) error) error
}

// CheckHistory looks in the store (ls lists it) for evidence that the log
// was once larger than c, its verified latest checkpoint: a signed batch
// claiming a position past c.Size (*TruncatedError). A batch at c.Size is
// the claim of a writer that has not published yet (or died before it
// did), which the next Append completes. Every batch at or past c.Size must
// be a batch of this log signed by a trusted log key at the position it is
// stored at, holding canonical events (readBatchAt), else it is a
// *BatchError: an object written by someone without the log key, which
// would stop every later Append.
//
// A batch past c may also be the claim of a writer that published after c
// was read: the newest checkpoint is read again (and checked to extend c)
// before a batch past c counts as evidence.
func (l *Log) CheckHistory(ctx context.Context, ls Lister, c custody.Checkpoint) error {
	type claim struct {
		key   string
		start int64
	}
	var claims []claim
	err := ls.List(ctx, batchPrefix, func(o storage.Object) error {
		name := strings.TrimPrefix(o.Key, batchPrefix)
		n, err := strconv.ParseInt(name, 10, 64)
		if err != nil || n < 0 || pad(n) != name {
			return &BatchError{Key: o.Key, Err: errors.New("not a batch position: no writer makes such a key")}
		}
		if n >= c.Size {
			claims = append(claims, claim{o.Key, n})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("custody/ledger: list batches: %w", err)
	}
	if len(claims) > 0 && claims[len(claims)-1].start > c.Size {
		// Published since c was read? Latest checks that it extends c.
		if now, _, err := l.Latest(ctx); err != nil {
			return err
		} else if now.Size > c.Size {
			c = now
		}
	}
	for _, cl := range claims {
		if cl.start < c.Size {
			continue
		}
		b, err := l.readBatchAt(ctx, cl.start)
		if err != nil {
			return err
		}
		if b != nil && cl.start > c.Size {
			return &TruncatedError{Found: c, Batch: cl.key, Start: cl.start}
		}
	}
	return nil
}

// Pending returns the entries of the batch that claims the position after
// checkpoint c, verified (signed by a trusted log key, for this log and
// position, canonical events), or nil when there is none: an append in
// progress, or one whose writer died. Its events are not in the log yet, but
// a holder of the log key wrote them, and the next Append publishes them.
func (l *Log) Pending(ctx context.Context, c custody.Checkpoint) ([][]byte, error) {
	b, err := l.readBatch(ctx, c)
	if err != nil || b == nil {
		return nil, err
	}
	return b.Entries, nil
}
