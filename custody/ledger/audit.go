package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/storage"
)

// AuditReport is what a passing Audit checked.
type AuditReport struct {
	// Checkpoint is the log's checkpoint, whose signature was verified.
	Checkpoint custody.Checkpoint
	// Signed is that checkpoint's signed note as read (nil for an empty
	// log without one): the bytes its timestamp covers.
	Signed []byte
	// Entries is how many entries were read, hashed and parsed.
	Entries int64
	// Tiles is how many hash tiles were recomputed and compared.
	Tiles int
}

// Audit re-reads the whole log from entry 0 and checks everything: the
// checkpoint's signature (*custody.CheckpointError), that it extends
// trusted when given (*RollbackError, *ForkError), that every entry is a
// canonical event (*MalformedEntryError) and that the entries hash to the
// signed root, and that every hash tile is the one the entries determine
// (*ReplacedTileError). When the entries do not hash to the signed root,
// it finds the first entry that differs from what the signed tree proves
// (*EntryMismatchError: modified, reordered, deleted, truncated) or, if
// the tiles were rewritten to match, says so (*RootMismatchError).
//
// Memory stays bounded (a few tiles per tree level); time is linear in the
// log's size.
func (l *Log) Audit(ctx context.Context, trusted *custody.Checkpoint) (AuditReport, error) {
	h, err := l.readHead(ctx)
	if err != nil {
		return AuditReport{}, err
	}
	c := h.cp
	if trusted != nil {
		if err := l.headExtends(ctx, *trusted, h); err != nil {
			var re *RollbackError
			var fe *ForkError
			if errors.As(err, &re) || errors.As(err, &fe) {
				return AuditReport{}, err
			}
			// The tiles could not prove it; the entries will tell below.
		}
	}

	rep := AuditReport{Checkpoint: c, Signed: h.signed}
	var (
		rh        rangeHasher
		tileErr   error // first hash tile that differs from the recomputed one
		malformed error // first entry that is not a canonical event
		prefix    *tlog.Hash
	)
	bld := &tileBuilder{emit: func(t tlog.Tile, want []byte) error {
		rep.Tiles++
		if tileErr != nil {
			return nil
		}
		key := TileKey(t)
		got, err := storage.ReadAll(ctx, l.store, key, int64(t.W)*tlog.HashSize)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			tileErr = &ReplacedTileError{Key: key, Want: sha(want)}
		case err != nil:
			return fmt.Errorf("custody/ledger: audit: %w", err)
		case !bytes.Equal(got, want):
			tileErr = &ReplacedTileError{Key: key, Want: sha(want), Got: sha(got)}
		}
		return nil
	}}
	entriesOK := true
stream:
	for k := int64(0); k*tileWidth < c.Size; k++ {
		if err := ctx.Err(); err != nil {
			return AuditReport{}, fmt.Errorf("custody/ledger: audit: %w", err)
		}
		t := entryTile(k, c.Size)
		data, err := storage.ReadAll(ctx, l.store, TileKey(t), maxEntryTile)
		if errors.Is(err, storage.ErrNotFound) {
			entriesOK = false
			break stream
		}
		if err != nil {
			return AuditReport{}, fmt.Errorf("custody/ledger: audit: %w", err)
		}
		entries, clean := custody.SplitEntries(data, t.W)
		if !clean || len(entries) != t.W {
			entriesOK = false
			break stream
		}
		for j, e := range entries {
			i := k*tileWidth + int64(j)
			if trusted != nil && trusted.Size > 0 && i == trusted.Size {
				r := rh.root()
				prefix = &r
			}
			if _, err := custody.ParseEvent(e); err != nil && malformed == nil {
				malformed = &MalformedEntryError{Index: i, Err: err}
			}
			leaf := tlog.RecordHash(e)
			rh.push(leaf)
			if err := bld.add(0, leaf); err != nil {
				return AuditReport{}, err
			}
			rep.Entries++
		}
	}
	if entriesOK && rep.Entries == c.Size {
		if err := bld.finish(); err != nil {
			return AuditReport{}, err
		}
		if root := rh.root(); root == c.Root {
			// The entries are the signed ones.
			switch {
			case prefix != nil && *prefix != trusted.Root:
				return AuditReport{}, &ForkError{Trusted: *trusted, Found: c, Err: fmt.Errorf("the log's first %d entries hash to %s", trusted.Size, *prefix)}
			case tileErr != nil:
				return AuditReport{}, tileErr
			case malformed != nil:
				return AuditReport{}, malformed
			}
			return rep, nil
		}
	}
	return AuditReport{}, l.locate(ctx, c, rh.root())
}

// locate finds why the stored entries do not hash to c's root: the first
// entry that differs from the leaf the signed tree proves there.
func (l *Log) locate(ctx context.Context, c custody.Checkpoint, computed tlog.Hash) error {
	tree := l.Tree(ctx, c)
	for k := int64(0); k*tileWidth < c.Size; k++ {
		t := entryTile(k, c.Size)
		_, err := tree.verifiedEntries(k*tileWidth, k*tileWidth+int64(t.W))
		var me *EntryMismatchError
		switch {
		case errors.As(err, &me):
			return err
		case err != nil:
			// The hash tiles do not support the signed root either.
			return &RootMismatchError{Checkpoint: c, Computed: computed}
		}
	}
	return &RootMismatchError{Checkpoint: c, Computed: computed}
}

// rangeHasher computes the RFC 6962 root of a growing list of leaves in
// O(log n) memory: the roots of its maximal complete subtrees, largest
// first.
type rangeHasher struct {
	hashes []tlog.Hash
	sizes  []int64
}

func (r *rangeHasher) push(h tlog.Hash) {
	r.hashes = append(r.hashes, h)
	r.sizes = append(r.sizes, 1)
	for n := len(r.sizes); n >= 2 && r.sizes[n-1] == r.sizes[n-2]; n = len(r.sizes) {
		r.hashes[n-2] = tlog.NodeHash(r.hashes[n-2], r.hashes[n-1])
		r.sizes[n-2] *= 2
		r.hashes, r.sizes = r.hashes[:n-1], r.sizes[:n-1]
	}
}

func (r *rangeHasher) root() tlog.Hash {
	if len(r.hashes) == 0 {
		h, _ := tlog.TreeHash(0, nil)
		return h
	}
	acc := r.hashes[len(r.hashes)-1]
	for i := len(r.hashes) - 2; i >= 0; i-- {
		acc = tlog.NodeHash(r.hashes[i], acc)
	}
	return acc
}

// tileBuilder recomputes the hash tiles of a tree from its leaf hashes,
// streaming: it holds one unfinished tile per level and hands each tile,
// full ones as they fill and partial ones at finish, to emit. The tiles
// are those tlog.NewTiles(TileHeight, 0, n) lists.
type tileBuilder struct {
	levels [][]tlog.Hash
	full   []int64 // full tiles emitted per level
	emit   func(t tlog.Tile, data []byte) error
}

func (b *tileBuilder) add(level int, h tlog.Hash) error {
	for len(b.levels) <= level {
		b.levels = append(b.levels, make([]tlog.Hash, 0, tileWidth))
		b.full = append(b.full, 0)
	}
	b.levels[level] = append(b.levels[level], h)
	if len(b.levels[level]) < tileWidth {
		return nil
	}
	hs := b.levels[level]
	t := tlog.Tile{H: custody.TileHeight, L: level, N: b.full[level], W: tileWidth}
	if err := b.emit(t, tileBytes(hs)); err != nil {
		return err
	}
	b.full[level]++
	root := subtreeRoot(hs)
	b.levels[level] = hs[:0]
	return b.add(level+1, root)
}

func (b *tileBuilder) finish() error {
	for level, hs := range b.levels {
		if len(hs) == 0 {
			continue
		}
		t := tlog.Tile{H: custody.TileHeight, L: level, N: b.full[level], W: len(hs)}
		if err := b.emit(t, tileBytes(hs)); err != nil {
			return err
		}
	}
	return nil
}

func tileBytes(hs []tlog.Hash) []byte {
	out := make([]byte, 0, len(hs)*tlog.HashSize)
	for _, h := range hs {
		out = append(out, h[:]...)
	}
	return out
}

// subtreeRoot is the root of the complete subtree whose 2^k children are hs.
func subtreeRoot(hs []tlog.Hash) tlog.Hash {
	level := append([]tlog.Hash(nil), hs...)
	for len(level) > 1 {
		for i := 0; i < len(level)/2; i++ {
			level[i] = tlog.NodeHash(level[2*i], level[2*i+1])
		}
		level = level[:len(level)/2]
	}
	return level[0]
}
