package custody

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// memTiles is an in-memory tile store, as the archive's log/ prefix holds them.
type memTiles struct{ tiles map[string][]byte }

func (m *memTiles) Height() int { return TileHeight }
func (m *memTiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		d, ok := m.tiles[t.Path()]
		if !ok {
			return nil, fmt.Errorf("no tile %s", t.Path())
		}
		out[i] = d
	}
	return out, nil
}
func (m *memTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func (m *memTiles) readEntries(t tlog.Tile) ([]byte, error) {
	d, ok := m.tiles[t.Path()]
	if !ok {
		return nil, errors.New("no entry tile " + t.Path())
	}
	return d, nil
}

// reference computes stored hashes directly, without tiles.
type reference struct{ hashes []tlog.Hash }

func (r *reference) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = r.hashes[x]
	}
	return out, nil
}

func (r *reference) add(n int64, e []byte) {
	hs, _ := tlog.StoredHashes(n, e, r)
	r.hashes = append(r.hashes, hs...)
}

func TestAppendMatchesReference(t *testing.T) {
	store := &memTiles{tiles: map[string][]byte{}}
	ref := &reference{}
	tree := tlog.Tree{}
	var all [][]byte
	var trees []tlog.Tree
	for _, batch := range []int{1, 2, 253, 1, 300, 5, 700, 256} {
		var entries [][]byte
		for i := 0; i < batch; i++ {
			e := []byte(fmt.Sprintf(`{"n":%d}`, len(all)+i))
			entries = append(entries, e)
		}
		b, err := Append(tree, entries, tlog.TileHashReader(tree, store), store.readEntries)
		if err != nil {
			t.Fatalf("batch of %d at %d: %v", batch, tree.N, err)
		}
		for tile, data := range b.Tiles {
			if old, ok := store.tiles[tile.Path()]; ok && string(old) != string(data) {
				t.Fatalf("tile %s rewritten with other bytes", tile.Path())
			}
			store.tiles[tile.Path()] = data
		}
		for i, e := range entries {
			ref.add(tree.N+int64(i), e)
		}
		all = append(all, entries...)
		want, _ := tlog.TreeHash(int64(len(all)), ref)
		if b.Tree.N != int64(len(all)) || b.Tree.Hash != want {
			t.Fatalf("after %d entries: tree %d %v, want %v", len(all), b.Tree.N, b.Tree.Hash, want)
		}
		tree = b.Tree
		trees = append(trees, tree)
	}

	// Every entry can be read back from the entry tiles.
	for start := int64(0); start < tree.N; start += 1 << TileHeight {
		w := int(min(tree.N-start, 1<<TileHeight))
		et := tlog.Tile{H: TileHeight, L: -1, N: start >> TileHeight, W: w}
		es, clean := SplitEntries(store.tiles[et.Path()], w)
		if !clean || len(es) != w {
			t.Fatalf("entry tile %s: %d entries (clean %v), want %d", et.Path(), len(es), clean, w)
		}
		for i, e := range es {
			if string(e) != string(all[start+int64(i)]) {
				t.Fatalf("entry %d reads back as %s", start+int64(i), e)
			}
		}
	}

	// Inclusion and consistency proofs served from the tiles verify.
	r := tlog.TileHashReader(tree, store)
	rng := mrand.New(mrand.NewPCG(1, 1))
	for k := 0; k < 50; k++ {
		n := rng.Int64N(tree.N)
		p, err := tlog.ProveRecord(tree.N, n, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, n, tlog.RecordHash(all[n])); err != nil {
			t.Fatalf("inclusion of %d: %v", n, err)
		}
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, n, tlog.RecordHash([]byte("forged"))); err == nil {
			t.Fatal("inclusion proof accepted a forged entry")
		}
	}
	for _, old := range trees {
		p, err := tlog.ProveTree(tree.N, old.N, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(p, tree.N, tree.Hash, old.N, old.Hash); err != nil {
			t.Fatalf("consistency %d -> %d: %v", old.N, tree.N, err)
		}
	}
}

func TestCheckpoint(t *testing.T) {
	skey, vkey, err := NewLogKey(rand.Reader, "exhibit.test/archive-1")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	keys := note.VerifierList(verifier)
	c := Checkpoint{Origin: "exhibit.test/archive-1", Size: 1234, Root: tlog.RecordHash([]byte("x"))}
	msg, err := SignCheckpoint(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCheckpoint(msg, keys, c.Origin)
	if err != nil || got != c {
		t.Fatalf("open: %+v %v", got, err)
	}
	var ce *CheckpointError
	otherS, _, _ := NewLogKey(rand.Reader, "exhibit.test/archive-1")
	os2, _ := note.NewSigner(otherS)
	forged, _ := SignCheckpoint(c, os2)
	if _, err := OpenCheckpoint(forged, keys, c.Origin); !errors.As(err, &ce) || !strings.Contains(ce.Reason, "unknown key") {
		t.Fatalf("checkpoint of another key: %v", err)
	}
	tampered := []byte(strings.Replace(string(msg), "1234", "1235", 1))
	if _, err := OpenCheckpoint(tampered, keys, c.Origin); !errors.As(err, &ce) {
		t.Fatalf("tampered size accepted: %v", err)
	}
	if _, err := OpenCheckpoint(msg, keys, "exhibit.test/archive-2"); !errors.As(err, &ce) {
		t.Fatalf("checkpoint of another log accepted: %v", err)
	}
	for _, bad := range []string{"o\n1\n", "o\n01\n" + strings.Repeat("A", 43) + "=\n", "o\n-1\n" + strings.Repeat("A", 43) + "=\n", "o\n1\nAAAA\n", "o o\n1\n" + strings.Repeat("A", 43) + "=\n", "o\ttab\n1\n" + strings.Repeat("A", 43) + "=\n", "o\rcr\n1\n" + strings.Repeat("A", 43) + "=\n", "o\x7f\n1\n" + strings.Repeat("A", 43) + "=\n", "\n1\n" + strings.Repeat("A", 43) + "=\n", "o\n+1\n" + strings.Repeat("A", 43) + "=\n", "o\n1\n" + strings.Repeat("A", 43) + "=\nextra\n"} {
		if _, err := ParseCheckpointText(bad); err == nil {
			t.Errorf("accepted checkpoint body %q", bad)
		}
	}
}

func FuzzParseCheckpointText(f *testing.F) {
	f.Add(Checkpoint{Origin: "o", Size: 5}.Text())
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCheckpointText(s)
		if err == nil && c.Text() != s {
			t.Fatalf("%q parses but re-encodes as %q", s, c.Text())
		}
	})
}

// FuzzSplitEntries: the splitter never panics, returns at most limit
// entries and, when the data ends cleanly, re-encodes to it.
func FuzzSplitEntries(f *testing.F) {
	d, _ := AppendEntries(nil, [][]byte{[]byte("a"), []byte("bc")})
	f.Add(d, 2)
	f.Add(d, 1)
	f.Add([]byte{0, 5, 'a'}, 256)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		es, clean := SplitEntries(data, limit)
		if len(es) > max(limit, 0) {
			t.Fatalf("%d entries, limit %d", len(es), limit)
		}
		if !clean {
			return
		}
		again, err := AppendEntries(nil, es)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("%q splits cleanly but re-encodes as %q (%v)", data, again, err)
		}
	})
}

// TestValidOriginAndDecimal: the rules checkpoints and batches share.
func TestValidOriginAndDecimal(t *testing.T) {
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"exhibit.test/archive-1", true},
		{"é/ü", true},
		{"", false},
		{"a b", false},
		{"a\tb", false},
		{"a\rb", false},
		{"a\x00b", false},
		{"a\x7fb", false},
	} {
		t.Run(fmt.Sprintf("origin %q", tc.origin), func(t *testing.T) {
			if got := ValidOrigin(tc.origin); got != tc.ok {
				t.Fatalf("ValidOrigin(%q) = %v, want %v", tc.origin, got, tc.ok)
			}
		})
	}
	for _, tc := range []struct {
		text string
		n    int64
		ok   bool
	}{
		{"0", 0, true},
		{"600", 600, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"", 0, false},
		{"00", 0, false},
		{"012", 0, false},
		{"+1", 0, false},
		{"-1", 0, false},
		{"-0", 0, false},
		{" 1", 0, false},
		{"1e3", 0, false},
		{"9223372036854775808", 0, false},
	} {
		t.Run(fmt.Sprintf("decimal %q", tc.text), func(t *testing.T) {
			n, err := ParseDecimal(tc.text)
			if (err == nil) != tc.ok || n != tc.n {
				t.Fatalf("ParseDecimal(%q) = %d, %v; want %d, ok %v", tc.text, n, err, tc.n, tc.ok)
			}
		})
	}
}
