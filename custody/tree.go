package custody

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the log's tile height: tiles hold 2^8 = 256 hashes, and
// entry tiles 256 entries, as in C2SP tlog-tiles.
const TileHeight = 8

// Batch is what appending entries to a log of a given size produces: the
// new tree and every tile to write. Tiles are written once at paths that
// name their width, so a batch never rewrites what an earlier one wrote.
type Batch struct {
	Tree tlog.Tree
	// Tiles maps each hash tile (levels >= 0) and entry tile (level -1) to
	// its bytes.
	Tiles map[tlog.Tile][]byte
}

// Append computes the batch that appends entries to the log whose hashes r
// reads (r must serve every stored hash of the first old.N records). It
// does no I/O of its own.
func Append(old tlog.Tree, entries [][]byte, r tlog.HashReader, readEntries func(t tlog.Tile) ([]byte, error)) (*Batch, error) {
	if len(entries) == 0 {
		return nil, errors.New("custody: append: no entries")
	}
	ov := &overlay{base: r, extra: map[int64]tlog.Hash{}}
	for i, e := range entries {
		n := old.N + int64(i)
		hs, err := tlog.StoredHashes(n, e, ov)
		if err != nil {
			return nil, fmt.Errorf("custody: append entry %d: %w", n, err)
		}
		base := tlog.StoredHashIndex(0, n)
		for j, h := range hs {
			ov.extra[base+int64(j)] = h
		}
	}
	newN := old.N + int64(len(entries))
	root, err := tlog.TreeHash(newN, ov)
	if err != nil {
		return nil, fmt.Errorf("custody: append: tree hash: %w", err)
	}
	b := &Batch{Tree: tlog.Tree{N: newN, Hash: root}, Tiles: map[tlog.Tile][]byte{}}
	for _, t := range tlog.NewTiles(TileHeight, old.N, newN) {
		data, err := tlog.ReadTileData(t, ov)
		if err != nil {
			return nil, fmt.Errorf("custody: append: tile %s: %w", t.Path(), err)
		}
		b.Tiles[t] = data
		if t.L != 0 {
			continue
		}
		// The entry tile beside each level-0 tile: the entries it covers,
		// including, for a tile that grows, those of earlier batches.
		et := t
		et.L = -1
		start := t.N << TileHeight
		var prefix []byte
		if start < old.N {
			prev := et
			prev.W = int(old.N - start)
			if prefix, err = readEntries(prev); err != nil {
				return nil, fmt.Errorf("custody: append: read entry tile %s: %w", prev.Path(), err)
			}
		}
		data, err = AppendEntries(append([]byte(nil), prefix...), entries[max(start-old.N, 0):start+int64(t.W)-old.N])
		if err != nil {
			return nil, err
		}
		b.Tiles[et] = data
	}
	return b, nil
}

// MaxEntrySize is the largest entry an entry tile can hold: its length is
// written in 16 bits.
const MaxEntrySize = 1<<16 - 1

// AppendEntries appends entries to dst in the entry tile encoding (each
// a 16-bit big-endian length and the bytes), the one encoding of entries
// in the log's tiles and batches.
func AppendEntries(dst []byte, entries [][]byte) ([]byte, error) {
	for _, e := range entries {
		if len(e) > MaxEntrySize {
			return nil, fmt.Errorf("custody: entry of %d bytes is over the %d byte limit of an entry tile", len(e), MaxEntrySize)
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(e)))
		dst = append(dst, e...)
	}
	return dst, nil
}

// SplitEntries decodes at most limit entries from data in the entry tile
// encoding, and reports whether the data ended cleanly right after them:
// clean is false when it ends inside an entry or holds more than limit.
// Callers that must be strict check clean and the count; readers that
// check each entry against the signed tree may use the whole entries
// found. The entries share data's memory; limit bounds what is allocated
// whatever the data declares.
func SplitEntries(data []byte, limit int) (entries [][]byte, clean bool) {
	for len(data) > 0 {
		if len(entries) >= limit || len(data) < 2 {
			return entries, false
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return entries, false
		}
		entries = append(entries, data[2:2+n:2+n])
		data = data[2+n:]
	}
	return entries, true
}

// overlay serves new hashes from memory and older ones from base.
type overlay struct {
	base  tlog.HashReader
	extra map[int64]tlog.Hash
}

func (o *overlay) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	var where []int
	for i, x := range indexes {
		if h, ok := o.extra[x]; ok {
			out[i] = h
		} else {
			missing = append(missing, x)
			where = append(where, i)
		}
	}
	if len(missing) > 0 {
		hs, err := o.base.ReadHashes(missing)
		if err != nil {
			return nil, err
		}
		if len(hs) != len(missing) {
			return nil, errors.New("custody: hash reader returned the wrong number of hashes")
		}
		for k, i := range where {
			out[i] = hs[k]
		}
	}
	return out, nil
}
