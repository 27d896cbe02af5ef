package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/storage"
)

// maxRounds bounds the rounds of one Append (each round publishes a batch,
// its own or another writer's). Far above what contention needs; it turns
// a livelock bug into an error instead of a hang.
const maxRounds = 10000

// Appended says where an Append put its events.
type Appended struct {
	// First is the index of the first event; the events have indexes
	// First to First+Count-1, in the order given.
	First int64
	Count int
	// Checkpoint is a published checkpoint that includes the events
	// (the first one, unless other writers published more meanwhile),
	// and Signed its signed note as stored.
	Checkpoint custody.Checkpoint
	Signed     []byte
}

// Append adds events to the log as one batch under one new checkpoint
// and returns where they went. It returns only once a checkpoint that
// includes them is published; on error, the events may or may not be in
// the log (a later Append or Latest tells), but never twice.
//
// Each round it reads the checkpoint; completes a batch that another
// writer claimed and left unpublished (after waiting Options.HelpAfter
// for that writer); claims the next position with its own batch, written
// once at log/batch/<size>; writes the batch's entry and hash tiles
// (write-once: a tile holding other bytes is a *ReplacedTileError); proves
// the new tree consistent with the old from the tiles just written; signs
// and timestamps the checkpoint; and swaps it in. When the swap loses to
// another writer that completed this very batch, Append recognizes it by
// the batch's position and nonce and returns.
func (l *Log) Append(ctx context.Context, events []*custody.Event) (Appended, error) {
	if l.opts.Signer == nil {
		return Appended{}, errors.New("custody/ledger: append: the log was opened without a signing key")
	}
	if len(events) == 0 {
		return Appended{}, errors.New("custody/ledger: append: no events")
	}
	if len(events) > MaxBatch {
		return Appended{}, fmt.Errorf("custody/ledger: append: %d events, at most %d at once", len(events), MaxBatch)
	}
	mine := &batch{Origin: l.opts.Origin, Nonce: newNonce(), Entries: make([][]byte, len(events))}
	for i, e := range events {
		data, err := e.Marshal()
		if err != nil {
			return Appended{}, fmt.Errorf("custody/ledger: append: event %d: %w", i, err)
		}
		mine.Entries[i] = data
	}
	// The position is part of what is signed: sign again for each claim.
	signAt := func(start int64) error {
		mine.Start = start
		if err := mine.sign(l.opts.Signer); err != nil {
			return fmt.Errorf("custody/ledger: append: %w", err)
		}
		return nil
	}
	claimed := false // mine is written at BatchKey(mine.Start)
	var backoff time.Duration
	for round := 0; round < maxRounds; round++ {
		if err := ctx.Err(); err != nil {
			return Appended{}, fmt.Errorf("custody/ledger: append: %w", err)
		}
		h, err := l.load(ctx)
		if err != nil {
			return Appended{}, err
		}
		if claimed && h.cp.Size > mine.Start {
			// The log moved past the position this batch claimed, which
			// only completing the batch does: it is published.
			return Appended{First: mine.Start, Count: len(mine.Entries), Checkpoint: h.cp, Signed: h.signed}, nil
		}
		pending, err := l.readBatch(ctx, h.cp)
		if err != nil {
			return Appended{}, err
		}
		switch {
		case pending == nil && claimed:
			return Appended{}, &BatchError{Key: BatchKey(mine.Start), Err: errors.New("the batch this writer claimed has disappeared")}
		case pending == nil:
			if err := signAt(h.cp.Size); err != nil {
				return Appended{}, err
			}
			won, err := l.claim(ctx, mine)
			if err != nil {
				return Appended{}, err
			}
			if !won {
				continue // another writer claimed this position first
			}
			claimed, pending = true, mine
		case bytes.Equal(pending.Nonce[:], mine.Nonce[:]):
			// Ours (also when our claim's reply was lost and the retry
			// found it written).
			claimed, mine = true, pending
		case claimed:
			return Appended{}, &BatchError{Key: BatchKey(mine.Start), Err: errors.New("the batch this writer claimed was replaced by another")}
		default:
			moved, err := l.waitFor(ctx, h)
			if err != nil {
				return Appended{}, err
			}
			if moved {
				continue
			}
		}
		next, err := l.complete(ctx, h, pending)
		if err != nil {
			return Appended{}, err
		}
		if next != nil && pending == mine {
			return Appended{First: mine.Start, Count: len(mine.Entries), Checkpoint: next.cp, Signed: next.signed}, nil
		}
		if next == nil {
			// Lost a swap: let the winner's readers through before retrying.
			backoff = min(max(2*backoff, time.Millisecond), 50*time.Millisecond)
			if err := sleep(ctx, rand.N(backoff)+1); err != nil {
				return Appended{}, fmt.Errorf("custody/ledger: append: %w", err)
			}
		}
	}
	return Appended{}, fmt.Errorf("custody/ledger: append: gave up after %d rounds of contention; try again", maxRounds)
}

// readBatch returns the batch claiming the position after checkpoint c, or
// nil when there is none, after checking that it fits the log.
func (l *Log) readBatch(ctx context.Context, c custody.Checkpoint) (*batch, error) {
	return l.readBatchAt(ctx, c.Size)
}

// readBatchAt returns the batch stored at position start, or nil when there
// is none, after checking that it is a batch of this log for that position,
// signed by a trusted log key, holding canonical events (*BatchError).
func (l *Log) readBatchAt(ctx context.Context, start int64) (*batch, error) {
	key := BatchKey(start)
	data, err := storage.ReadAll(ctx, l.store, key, maxBatchBytes)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("custody/ledger: read batch: %w", err)
	}
	b, err := parseBatch(data)
	if err != nil {
		return nil, &BatchError{Key: key, Err: err}
	}
	switch {
	case b.Origin != l.opts.Origin:
		return nil, &BatchError{Key: key, Err: fmt.Errorf("belongs to log %q, not %q", b.Origin, l.opts.Origin)}
	case b.Start != start:
		return nil, &BatchError{Key: key, Err: fmt.Errorf("claims position %d, stored at %d", b.Start, start)}
	}
	if err := b.verify(l.opts.Verifiers); err != nil {
		return nil, &BatchError{Key: key, Err: err}
	}
	for i, e := range b.Entries {
		// Only canonical events enter the log, whoever wrote the batch.
		if _, err := custody.ParseEvent(e); err != nil {
			return nil, &BatchError{Key: key, Err: fmt.Errorf("entry %d: %w", i, err)}
		}
	}
	return b, nil
}

// claim writes b at its position once, and reports whether this writer
// made the claim: false when another batch is there, true also when the
// batch found there is b itself (a retried write whose first reply was
// lost).
func (l *Log) claim(ctx context.Context, b *batch) (bool, error) {
	data, err := b.marshal()
	if err != nil {
		return false, fmt.Errorf("custody/ledger: append: %w", err)
	}
	key := BatchKey(b.Start)
	_, err = l.store.Put(ctx, key, bytes.NewReader(data), l.putOptions(int64(len(data))))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrExists):
		old, rerr := storage.ReadAll(ctx, l.store, key, maxBatchBytes)
		if rerr != nil {
			return false, fmt.Errorf("custody/ledger: read batch: %w", rerr)
		}
		return bytes.Equal(old, data), nil
	default:
		return false, fmt.Errorf("custody/ledger: claim position %d: %w", b.Start, err)
	}
}

// waitFor waits up to Options.HelpAfter for the checkpoint to change from
// h (the writer of the pending batch publishing it), and reports whether
// it did.
func (l *Log) waitFor(ctx context.Context, h head) (bool, error) {
	deadline := time.Now().Add(l.opts.HelpAfter)
	wait := time.Millisecond
	for time.Now().Before(deadline) {
		if err := sleep(ctx, min(wait, time.Until(deadline))); err != nil {
			return false, fmt.Errorf("custody/ledger: append: %w", err)
		}
		wait = min(2*wait, 20*time.Millisecond)
		_, v, err := l.store.Load(ctx, CheckpointKey, maxCheckpoint)
		switch {
		case err == nil && v != h.version:
			return true, nil
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return false, fmt.Errorf("custody/ledger: read checkpoint: %w", err)
		}
	}
	return false, nil
}

// complete publishes batch b on top of checkpoint h: writes its tiles,
// checks them, signs, timestamps and swaps the new checkpoint in, and
// returns it. It returns nil when the swap lost (someone else published
// first).
func (l *Log) complete(ctx context.Context, h head, b *batch) (*head, error) {
	old := tlog.Tree{N: h.cp.Size, Hash: h.cp.Root}
	tree := l.Tree(ctx, h.cp)
	r := tree.r
	readPrefix := func(t tlog.Tile) ([]byte, error) {
		// The entries of the tile that grows, as published: checked
		// against the old tree before they are copied into the new tile.
		entries, err := tree.verifiedEntries(t.N*tileWidth, t.N*tileWidth+int64(t.W))
		if err != nil {
			return nil, err
		}
		return custody.AppendEntries(nil, entries)
	}
	nb, err := custody.Append(old, b.Entries, r, readPrefix)
	if err != nil {
		return nil, fmt.Errorf("custody/ledger: append batch at %d: %w", b.Start, err)
	}
	if err := l.putTiles(ctx, nb.Tiles); err != nil {
		return nil, err
	}
	next := custody.Checkpoint{Origin: l.opts.Origin, Size: nb.Tree.N, Root: nb.Tree.Hash}
	// Check what was just written: the new tree, read back from the
	// stored tiles, extends the old one.
	if err := l.extends(ctx, h.cp, next); err != nil {
		return nil, fmt.Errorf("custody/ledger: check the new tiles (checkpoint %d not published): %w", next.Size, err)
	}
	signed, err := custody.SignCheckpoint(next, l.opts.Signer)
	if err != nil {
		return nil, err
	}
	if l.opts.Timestamper != nil {
		tok, err := l.opts.Timestamper.Timestamp(ctx, signed)
		if err != nil {
			return nil, fmt.Errorf("custody/ledger: timestamp checkpoint %d: %w", next.Size, err)
		}
		_, err = l.store.Put(ctx, TimestampKey(next.Size), bytes.NewReader(tok), l.putOptions(int64(len(tok))))
		if err != nil && !errors.Is(err, storage.ErrExists) {
			return nil, fmt.Errorf("custody/ledger: store timestamp of checkpoint %d: %w", next.Size, err)
		}
	}
	var so storage.SwapOptions
	if l.opts.Retention != nil {
		so.Retention = l.opts.Retention()
	}
	v, err := l.store.Swap(ctx, CheckpointKey, h.version, signed, so)
	if err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, nil
		}
		// The swap may have happened with its reply lost: if the
		// checkpoint changed, the caller's next round finds out whose
		// it is.
		if now, rerr := l.readHead(ctx); rerr == nil && now.version != h.version {
			return nil, nil
		}
		return nil, fmt.Errorf("custody/ledger: publish checkpoint %d: %w", next.Size, err)
	}
	l.Trust(next)
	return &head{cp: next, signed: signed, version: v}, nil
}

// putTiles writes tiles, a few at once. Their order does not matter:
// nothing refers to them until the checkpoint is swapped in, and a writer
// that dies midway leaves a batch the next one completes.
func (l *Log) putTiles(ctx context.Context, tiles map[tlog.Tile][]byte) error {
	const parallel = 4
	errs := make(chan error, len(tiles))
	sem := make(chan struct{}, parallel)
	for t, data := range tiles {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- l.putTile(ctx, t, data)
		}()
	}
	var first error
	for range tiles {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func sha(b []byte) [sha256.Size]byte { return sha256.Sum256(b) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
