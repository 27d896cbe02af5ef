package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/storage"
)

const tileWidth = 1 << custody.TileHeight

// maxCachedTiles bounds the tiles one reader keeps (8 KiB each).
const maxCachedTiles = 1024

// tileReader serves tlog.TileHashReader from the store, for one tree (a
// Log.Tree, or one call), which is why it holds a context. It is safe for
// concurrent use.
type tileReader struct {
	ctx   context.Context
	store Store
	cp    custody.Checkpoint // the tree whose tiles are read

	mu    sync.Mutex
	cache map[tlog.Tile][]byte // tiles read: tlog asks again and again
}

func (r *tileReader) Height() int { return custody.TileHeight }

// ReadTiles reads the tiles, several at once. A missing tile, or one of
// the wrong size, is a *TileError: the tiles of a published checkpoint are
// written before it.
func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	errs := make([]error, len(tiles))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[tlog.Tile][]byte{}
	}
	for i, t := range tiles {
		out[i] = r.cache[t]
	}
	r.mu.Unlock()
	for i, t := range tiles {
		if out[i] != nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			key, size := TileKey(t), t.W*tlog.HashSize
			// One byte more than a tile holds tells a longer one apart.
			out[i], errs[i] = storage.ReadAll(r.ctx, r.store, key, int64(size)+1)
			want := fmt.Sprintf("a tile of %d bytes", size)
			switch {
			case errors.Is(errs[i], storage.ErrNotFound):
				errs[i] = &TileError{Checkpoint: r.cp, Keys: []string{key}, Want: want, Found: "none"}
			case errs[i] == nil && len(out[i]) > size:
				errs[i] = &TileError{Checkpoint: r.cp, Keys: []string{key}, Want: want, Found: fmt.Sprintf("more than %d bytes", size)}
			case errs[i] == nil && len(out[i]) != size:
				errs[i] = &TileError{Checkpoint: r.cp, Keys: []string{key}, Want: want, Found: fmt.Sprintf("%d bytes", len(out[i]))}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("custody/ledger: read tiles: %w", err)
	}
	r.mu.Lock()
	if len(r.cache) > maxCachedTiles {
		clear(r.cache)
	}
	for i, t := range tiles {
		r.cache[t] = out[i]
	}
	r.mu.Unlock()
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// callTiles reads the tiles of one ReadHashes call through the shared
// reader, and keeps those of the call's last ReadTiles: the ones to name
// when tlog finds them inconsistent, whatever other calls read meanwhile.
type callTiles struct {
	*tileReader
	last []tlog.Tile
}

func (c *callTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	c.last = tiles
	return c.tileReader.ReadTiles(tiles)
}

func (c *callTiles) lastKeys() []string {
	keys := make([]string, len(c.last))
	for i, t := range c.last {
		keys[i] = TileKey(t)
	}
	return keys
}

// errInconsistent is how tlog.TileHashReader says that tiles it read do
// not hash to the tree's root, or that a tile does not match the hash its
// parent tile holds for it. Its other errors are the tile reader's own,
// passed on, or bugs (indexes outside the tree, which callers rule out).
const errInconsistent = "downloaded inconsistent tile"

// hashReader reads the stored hashes of one checkpoint's tree, each
// authenticated against its root before it is returned; tiles that fail
// that are a *TileError.
type hashReader struct {
	tr *tileReader
}

// hashReader returns a reader of the stored hashes of c's tree.
func (l *Log) hashReader(ctx context.Context, c custody.Checkpoint) tlog.HashReader {
	return &hashReader{tr: &tileReader{ctx: ctx, store: l.store, cp: c}}
}

func (r *hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	call := &callTiles{tileReader: r.tr}
	hs, err := tlog.TileHashReader(tlog.Tree{N: r.tr.cp.Size, Hash: r.tr.cp.Root}, call).ReadHashes(indexes)
	if err != nil && err.Error() == errInconsistent {
		// tlog does not say which tile is wrong: name those it read for
		// this call (read in one ReadTiles, and used sequentially).
		return nil, &TileError{Checkpoint: r.tr.cp, Keys: call.lastKeys(),
			Want: fmt.Sprintf("hashes that lead to the signed root %s", r.tr.cp.Root), Found: "hashes that do not (" + errInconsistent + ")"}
	}
	return hs, err
}

// entryTile is the entry tile with index k of a tree of size n.
func entryTile(k, n int64) tlog.Tile {
	return tlog.Tile{H: custody.TileHeight, L: -1, N: k, W: int(min(n-k*tileWidth, tileWidth))}
}

// Tree reads the tree of one checkpoint, entries and inclusion proofs,
// each authenticated against the checkpoint, through one cache of the
// tiles it read: many reads cost what their distinct tiles cost (an
// export proves thousands of events). It is safe for concurrent use.
type Tree struct {
	l   *Log
	ctx context.Context
	c   custody.Checkpoint
	r   tlog.HashReader
	// data are the entry tiles read, bounded by maxCachedData bytes.
	mu        sync.Mutex
	data      map[tlog.Tile][]byte
	dataBytes int
}

// maxCachedData bounds the entry tiles a Tree keeps.
const maxCachedData = 32 << 20

// Tree returns a reader of the tree of checkpoint c (from Latest, or one
// the caller trusts).
func (l *Log) Tree(ctx context.Context, c custody.Checkpoint) *Tree {
	return &Tree{l: l, ctx: ctx, c: c, r: l.hashReader(ctx, c), data: map[tlog.Tile][]byte{}}
}

// Checkpoint is the checkpoint whose tree t reads.
func (t *Tree) Checkpoint() custody.Checkpoint { return t.c }

// entryTile reads an entry tile, once.
func (t *Tree) entryTile(tile tlog.Tile) ([]byte, error) {
	t.mu.Lock()
	data, ok := t.data[tile]
	t.mu.Unlock()
	if ok {
		return data, nil
	}
	data, err := storage.ReadAll(t.ctx, t.l.store, TileKey(tile), maxEntryTile)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dataBytes+len(data) > maxCachedData {
		clear(t.data)
		t.dataBytes = 0
	}
	t.data[tile], t.dataBytes = data, t.dataBytes+len(data)
	return data, nil
}

// Entries is Log.Entries on this tree.
func (t *Tree) Entries(start, n int64) ([][]byte, error) {
	c := t.c
	if start < 0 || n < 0 || start > c.Size || n > c.Size-start {
		return nil, fmt.Errorf("custody/ledger: entries %d+%d: outside the checkpoint's %d entries", start, n, c.Size)
	}
	if n > MaxBatch {
		return nil, fmt.Errorf("custody/ledger: entries %d+%d: read at most %d at once", start, n, MaxBatch)
	}
	return t.verifiedEntries(start, start+n)
}

// ProveInclusion is Log.ProveInclusion on this tree.
func (t *Tree) ProveInclusion(index int64) (tlog.RecordProof, error) {
	c := t.c
	if index < 0 || index >= c.Size {
		return nil, fmt.Errorf("custody/ledger: prove entry %d: outside the checkpoint's %d entries", index, c.Size)
	}
	p, err := tlog.ProveRecord(c.Size, index, t.r)
	if err != nil {
		return nil, fmt.Errorf("custody/ledger: prove entry %d in checkpoint %d: %w", index, c.Size, err)
	}
	return p, nil
}

// verifiedEntries reads entries [start, end) of the tree from the entry
// tiles and checks each against the leaf hashes the hash tiles
// (authenticated against the checkpoint) prove. A difference is an
// *EntryMismatchError.
func (t *Tree) verifiedEntries(start, end int64) ([][]byte, error) {
	c, r := t.c, t.r
	var out [][]byte
	for k := start / tileWidth; k*tileWidth < end; k++ {
		tile := entryTile(k, c.Size)
		lo, hi := max(start, k*tileWidth), min(end, k*tileWidth+int64(tile.W))
		idx := make([]int64, 0, hi-lo)
		for i := lo; i < hi; i++ {
			idx = append(idx, tlog.StoredHashIndex(0, i))
		}
		want, err := r.ReadHashes(idx)
		if err != nil {
			return nil, fmt.Errorf("custody/ledger: read leaf hashes %d to %d: %w", lo, hi-1, err)
		}
		data, err := t.entryTile(tile)
		if err != nil {
			return nil, fmt.Errorf("custody/ledger: read entries: %w", err)
		}
		// Leniently: each entry is checked against the signed tree.
		entries, _ := custody.SplitEntries(data, tile.W)
		for i := lo; i < hi; i++ {
			j := i - k*tileWidth
			if j >= int64(len(entries)) {
				return nil, &EntryMismatchError{Index: i, Want: want[i-lo], Missing: true}
			}
			if got := tlog.RecordHash(entries[j]); got != want[i-lo] {
				return nil, &EntryMismatchError{Index: i, Want: want[i-lo], Got: got}
			}
			out = append(out, entries[j])
		}
	}
	return out, nil
}

// Entries returns entries [start, start+n) of the tree of checkpoint c
// (from Latest, or one the caller trusts), each checked against c: an
// entry that differs from what c commits to is an *EntryMismatchError.
// Entries are custody events in canonical form (custody.ParseEvent).
func (l *Log) Entries(ctx context.Context, c custody.Checkpoint, start, n int64) ([][]byte, error) {
	return l.Tree(ctx, c).Entries(start, n)
}

// ProveInclusion returns the proof that the entry at index is in the tree
// of checkpoint c, for CheckInclusion. It reads O(log n) tiles.
func (l *Log) ProveInclusion(ctx context.Context, c custody.Checkpoint, index int64) (tlog.RecordProof, error) {
	return l.Tree(ctx, c).ProveInclusion(index)
}

// ProveConsistency returns the proof that the tree of checkpoint newer
// extends that of older, for CheckConsistency.
func (l *Log) ProveConsistency(ctx context.Context, older, newer custody.Checkpoint) (tlog.TreeProof, error) {
	if older.Size > newer.Size {
		return nil, &RollbackError{Trusted: older, Found: newer}
	}
	if older.Size == 0 || older.Size == newer.Size {
		return tlog.TreeProof{}, nil
	}
	p, err := tlog.ProveTree(newer.Size, older.Size, l.hashReader(ctx, newer))
	if err != nil {
		return nil, fmt.Errorf("custody/ledger: prove checkpoint %d consistent with %d: %w", newer.Size, older.Size, err)
	}
	return p, nil
}

// putTile writes a tile once. If the key holds other bytes already, the
// tile was replaced: tiles are a function of the published entries and
// the claimed batch, so no honest writer writes other bytes.
func (l *Log) putTile(ctx context.Context, t tlog.Tile, data []byte) error {
	key := TileKey(t)
	_, err := l.store.Put(ctx, key, bytes.NewReader(data), l.putOptions(int64(len(data))))
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("custody/ledger: write tile: %w", err)
	}
	old, err := storage.ReadAll(ctx, l.store, key, maxEntryTile)
	if err != nil {
		return fmt.Errorf("custody/ledger: read back tile: %w", err)
	}
	if !bytes.Equal(old, data) {
		return &ReplacedTileError{Key: key, Want: sha(data), Got: sha(old)}
	}
	return nil
}
