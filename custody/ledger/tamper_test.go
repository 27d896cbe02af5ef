package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/openexhibit/exhibit/custody"
)

// fixture is a log of 600 events in three batches: entry tiles 000 and 001
// are full, 002 is partial (width 88).
type fixture struct {
	b       *backend
	entries [][]byte
	cps     []custody.Checkpoint
	signed  [][]byte
	// other is the checkpoint of the log copyLog copied in.
	other custody.Checkpoint
}

func newFixture(t *testing.T, b *backend) *fixture {
	t.Helper()
	fx := &fixture{b: b}
	l := newLog(t, b.Store)
	for i, n := range []int{100, 200, 300} {
		evs := events(0, i, n)
		a := mustAppend(t, l, evs)
		for _, e := range evs {
			data, _ := e.Marshal()
			fx.entries = append(fx.entries, data)
		}
		fx.cps = append(fx.cps, a.Checkpoint)
		fx.signed = append(fx.signed, a.Signed)
	}
	return fx
}

func (fx *fixture) latest() custody.Checkpoint { return fx.cps[len(fx.cps)-1] }

// editEntryTile rewrites full entry tile k through edit.
func (fx *fixture) editEntryTile(t *testing.T, k int64, edit func(es [][]byte) [][]byte) {
	t.Helper()
	key := TileKey(entryTile(k, fx.latest().Size))
	es, clean := custody.SplitEntries(read(t, fx.b.Store, key), tileWidth)
	if !clean {
		t.Fatal("stored entry tile does not split")
	}
	data, err := custody.AppendEntries(nil, edit(es))
	if err != nil {
		t.Fatal(err)
	}
	fx.b.overwrite(t, key, data)
}

// copyLog builds another log with the same key on a folder of its own,
// appending batches of the given sizes (events unlike the fixture's), and
// copies every object of it under dir (a part of log/) over the fixture's
// archive, as someone with write access could. fx.other is the other
// log's checkpoint.
func (fx *fixture) copyLog(t *testing.T, dir string, sizes ...int) {
	t.Helper()
	other := localBackend(t)
	l := newLog(t, other.Store)
	var a Appended
	for i, n := range sizes {
		a = mustAppend(t, l, events(5, i, n))
	}
	root := other.dir
	err := filepath.WalkDir(filepath.Join(root, filepath.FromSlash(dir)), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fx.b.overwrite(t, filepath.ToSlash(rel), data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.other = a.Checkpoint
}

func wantEntryMismatch(index int64, missing bool) func(t *testing.T, fx *fixture, err error) {
	return func(t *testing.T, fx *fixture, err error) {
		t.Helper()
		var me *EntryMismatchError
		if !errors.As(err, &me) {
			t.Fatalf("error = %v, want *EntryMismatchError", err)
		}
		if me.Index != index || me.Missing != missing || me.Want != tlog.RecordHash(fx.entries[index]) {
			t.Fatalf("EntryMismatchError = %+v, want index %d, missing %v, want hash of the original entry", me, index, missing)
		}
		if !missing && me.Got == me.Want {
			t.Fatal("EntryMismatchError reports equal hashes")
		}
	}
}

func wantFork(t *testing.T, fx *fixture, err error) {
	t.Helper()
	var fe *ForkError
	if !errors.As(err, &fe) || fe.Trusted != fx.latest() || fe.Found != fx.other || fe.Found.Size <= fe.Trusted.Size {
		t.Fatalf("error = %v, want *ForkError from the trusted checkpoint to the longer rewritten one", err)
	}
}

func wantTileError(key string, found string) func(t *testing.T, fx *fixture, err error) {
	return func(t *testing.T, fx *fixture, err error) {
		t.Helper()
		var te *TileError
		if !errors.As(err, &te) || !slices.Contains(te.Keys, key) || te.Checkpoint != fx.latest() || !strings.Contains(te.Found, found) {
			t.Fatalf("error = %v, want *TileError naming %s in the latest checkpoint, found %q", err, key, found)
		}
	}
}

// readAll reads the whole log as a reader does, through l trusting
// trusted: the checkpoint, every entry, and a proof of the last one.
func readAll(ctx context.Context, l *Log, trusted custody.Checkpoint) error {
	l.Trust(trusted)
	c, _, err := l.Latest(ctx)
	if err != nil {
		return err
	}
	for start := int64(0); start < c.Size; start += MaxBatch {
		if _, err := l.Entries(ctx, c, start, min(MaxBatch, c.Size-start)); err != nil {
			return err
		}
	}
	_, err = l.ProveInclusion(ctx, c, c.Size-1)
	return err
}

func TestTamperMatrix(t *testing.T) {
	otherSkey, _, err := custody.NewLogKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, _ := note.NewSigner(otherSkey)

	cases := []struct {
		name   string
		tamper func(t *testing.T, fx *fixture)
		check  func(t *testing.T, fx *fixture, err error)
		alone  bool // detected without a trusted checkpoint too
		// read checks what a reader of the whole log gets (readAll);
		// nil: any evidence of tampering (IsTampering).
		read func(t *testing.T, fx *fixture, err error)
		// readerPasses: readers check entries against the signed tree,
		// not what the entries say, so they read this log; only Audit
		// finds it.
		readerPasses bool
	}{
		{"modified event", func(t *testing.T, fx *fixture) {
			fx.editEntryTile(t, 1, func(es [][]byte) [][]byte {
				es[44] = bytes.Replace(es[44], []byte("writer 0"), []byte("writer 9"), 1)
				return es
			})
		}, wantEntryMismatch(256+44, false), true, nil, false},
		{"deleted event", func(t *testing.T, fx *fixture) {
			fx.editEntryTile(t, 1, func(es [][]byte) [][]byte { return append(es[:10:10], es[11:]...) })
		}, wantEntryMismatch(256+10, false), true, nil, false},
		{"deleted last event of a tile", func(t *testing.T, fx *fixture) {
			fx.editEntryTile(t, 0, func(es [][]byte) [][]byte { return es[:255] })
		}, wantEntryMismatch(255, true), true, nil, false},
		{"reordered events", func(t *testing.T, fx *fixture) {
			fx.editEntryTile(t, 0, func(es [][]byte) [][]byte {
				es[7], es[8] = es[8], es[7]
				return es
			})
		}, wantEntryMismatch(7, false), true, nil, false},
		{"truncated log", func(t *testing.T, fx *fixture) {
			fx.b.remove(t, TileKey(entryTile(2, fx.latest().Size)))
		}, wantEntryMismatch(512, true), true, nil, false},
		{"replaced tile", func(t *testing.T, fx *fixture) {
			key := TileKey(tlog.Tile{H: custody.TileHeight, L: 0, N: 1, W: 256})
			data := read(t, fx.b.Store, key)
			data[100] ^= 1
			fx.b.overwrite(t, key, data)
		}, func(t *testing.T, fx *fixture, err error) {
			var re *ReplacedTileError
			if !errors.As(err, &re) || re.Key != "log/tile/8/0/001" || re.Want == re.Got {
				t.Fatalf("error = %v, want *ReplacedTileError for log/tile/8/0/001", err)
			}
		}, true, wantTileError("log/tile/8/0/001", "do not"), false},
		{"hash tile modified", func(t *testing.T, fx *fixture) {
			key := TileKey(tlog.Tile{H: custody.TileHeight, L: 0, N: 2, W: 88})
			data := read(t, fx.b.Store, key)
			data[40] ^= 1
			fx.b.overwrite(t, key, data)
		}, func(t *testing.T, fx *fixture, err error) {
			var re *ReplacedTileError
			if !errors.As(err, &re) || re.Key != "log/tile/8/0/002.p/88" || re.Want == re.Got {
				t.Fatalf("error = %v, want *ReplacedTileError for log/tile/8/0/002.p/88", err)
			}
		}, true, wantTileError("log/tile/8/0/002.p/88", "do not"), false},
		{"upper hash tile modified", func(t *testing.T, fx *fixture) {
			key := TileKey(tlog.Tile{H: custody.TileHeight, L: 1, N: 0, W: 2})
			data := read(t, fx.b.Store, key)
			data[0] ^= 1
			fx.b.overwrite(t, key, data)
		}, func(t *testing.T, fx *fixture, err error) {
			var re *ReplacedTileError
			if !errors.As(err, &re) || re.Key != "log/tile/8/1/000.p/2" || re.Want == re.Got {
				t.Fatalf("error = %v, want *ReplacedTileError for log/tile/8/1/000.p/2", err)
			}
		}, true, wantTileError("log/tile/8/1/000.p/2", "do not"), false},
		{"hash tile deleted", func(t *testing.T, fx *fixture) {
			fx.b.remove(t, TileKey(tlog.Tile{H: custody.TileHeight, L: 0, N: 2, W: 88}))
		}, func(t *testing.T, fx *fixture, err error) {
			var re *ReplacedTileError
			if !errors.As(err, &re) || re.Key != "log/tile/8/0/002.p/88" || re.Got != ([32]byte{}) {
				t.Fatalf("error = %v, want *ReplacedTileError for the missing log/tile/8/0/002.p/88", err)
			}
		}, true, wantTileError("log/tile/8/0/002.p/88", "none"), false},
		{"hash tile truncated", func(t *testing.T, fx *fixture) {
			key := TileKey(tlog.Tile{H: custody.TileHeight, L: 0, N: 0, W: 256})
			fx.b.overwrite(t, key, read(t, fx.b.Store, key)[:100])
		}, func(t *testing.T, fx *fixture, err error) {
			var re *ReplacedTileError
			if !errors.As(err, &re) || re.Key != "log/tile/8/0/000" {
				t.Fatalf("error = %v, want *ReplacedTileError for log/tile/8/0/000", err)
			}
		}, true, wantTileError("log/tile/8/0/000", "100 bytes"), false},
		{"checkpoint rolled back", func(t *testing.T, fx *fixture) {
			fx.b.overwrite(t, CheckpointKey, fx.signed[1])
		}, func(t *testing.T, fx *fixture, err error) {
			var re *RollbackError
			if !errors.As(err, &re) || re.Trusted != fx.latest() || re.Found != fx.cps[1] {
				t.Fatalf("error = %v, want *RollbackError from %d to %d", err, fx.latest().Size, fx.cps[1].Size)
			}
		}, false, nil, false},
		{"checkpoint deleted", func(t *testing.T, fx *fixture) {
			fx.b.remove(t, CheckpointKey)
		}, func(t *testing.T, fx *fixture, err error) {
			var re *RollbackError
			if !errors.As(err, &re) || re.Trusted != fx.latest() || re.Found.Size != 0 {
				t.Fatalf("error = %v, want *RollbackError to nothing", err)
			}
		}, false, nil, false},
		{"forked checkpoint", func(t *testing.T, fx *fixture) {
			forged := fx.latest()
			forged.Root = tlog.RecordHash([]byte("another history"))
			msg, err := custody.SignCheckpoint(forged, testKey.signer)
			if err != nil {
				t.Fatal(err)
			}
			fx.b.overwrite(t, CheckpointKey, msg)
		}, func(t *testing.T, fx *fixture, err error) {
			var fe *ForkError
			if !errors.As(err, &fe) || fe.Trusted != fx.latest() || fe.Found.Size != fx.latest().Size || fe.Found.Root == fx.latest().Root {
				t.Fatalf("error = %v, want *ForkError with both checkpoints", err)
			}
		}, false, nil, false},
		{"checkpoint signed by an unknown key", func(t *testing.T, fx *fixture) {
			msg, err := custody.SignCheckpoint(fx.latest(), otherSigner)
			if err != nil {
				t.Fatal(err)
			}
			fx.b.overwrite(t, CheckpointKey, msg)
		}, func(t *testing.T, fx *fixture, err error) {
			var ce *custody.CheckpointError
			var unverified *note.UnverifiedNoteError
			if !errors.As(err, &ce) || !errors.As(err, &unverified) {
				t.Fatalf("error = %v, want *custody.CheckpointError for an unknown key", err)
			}
		}, true, nil, false},
		{"rewritten and longer", func(t *testing.T, fx *fixture) {
			// Another history, signed by the log key, longer than the
			// trusted checkpoint: it extends nothing the verifier saw.
			fx.copyLog(t, Prefix, 100, 200, 300, 100)
		}, wantFork, false, wantFork, false},
		{"tiles of another log", func(t *testing.T, fx *fixture) {
			// Tiles (entries and hashes) of a log of the same size under
			// this log's checkpoint: the entries hash to another root,
			// and no stored hash tile proves this checkpoint's root.
			fx.copyLog(t, Prefix+"tile/", 100, 200, 300)
		}, func(t *testing.T, fx *fixture, err error) {
			var re *RootMismatchError
			if !errors.As(err, &re) || re.Checkpoint != fx.latest() || re.Computed != fx.other.Root || fx.other.Size != fx.latest().Size {
				t.Fatalf("error = %v, want *RootMismatchError with the latest checkpoint and the other log's root", err)
			}
		}, true, nil, false},
		{"non-canonical entry signed", func(t *testing.T, fx *fixture) {
			// A log key holder signs a checkpoint over an entry that is
			// not a canonical event, bypassing Append's checks.
			c := fx.latest()
			ctx := testCtx(t)
			nb, err := custody.Append(tlog.Tree{N: c.Size, Hash: c.Root}, [][]byte{[]byte(`{"not":"an event"}`)},
				newLog(t, fx.b.Store).hashReader(ctx, c),
				func(et tlog.Tile) ([]byte, error) { return read(t, fx.b.Store, TileKey(et)), nil })
			if err != nil {
				t.Fatal(err)
			}
			for tile, data := range nb.Tiles {
				fx.b.overwrite(t, TileKey(tile), data)
			}
			msg, err := custody.SignCheckpoint(custody.Checkpoint{Origin: testOrigin, Size: nb.Tree.N, Root: nb.Tree.Hash}, testKey.signer)
			if err != nil {
				t.Fatal(err)
			}
			fx.b.overwrite(t, CheckpointKey, msg)
		}, func(t *testing.T, fx *fixture, err error) {
			var me *MalformedEntryError
			if !errors.As(err, &me) || me.Index != fx.latest().Size || me.Err == nil {
				t.Fatalf("error = %v, want *MalformedEntryError for entry %d", err, fx.latest().Size)
			}
		}, true, nil, true},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx := testCtx(t)
					fx := newFixture(t, be.open(t))
					// The untouched log passes, also against its first checkpoint.
					auditor := newLog(t, fx.b.reopen(t))
					rep, err := auditor.Audit(ctx, &fx.cps[0])
					if err != nil {
						t.Fatalf("audit before tampering: %v", err)
					}
					// The signed note is the one audited, for its timestamp.
					if rep.Checkpoint != fx.latest() || !bytes.Equal(rep.Signed, fx.signed[len(fx.signed)-1]) {
						t.Fatalf("audit report: checkpoint %+v, signed %q; want the latest checkpoint and its note", rep.Checkpoint, rep.Signed)
					}
					tc.tamper(t, fx)
					trusted := fx.latest()
					_, err = newLog(t, fx.b.reopen(t)).Audit(ctx, &trusted)
					if err == nil {
						t.Fatal("audit passed a tampered log")
					}
					tc.check(t, fx, err)
					if !IsTampering(err) {
						t.Fatalf("IsTampering(%v) = false", err)
					}
					// Entries and tiles need no trusted checkpoint: the
					// signed one in the store is enough.
					if tc.alone {
						_, err := newLog(t, fx.b.reopen(t)).Audit(ctx, nil)
						tc.check(t, fx, err)
					}
					// Readers find it too, as evidence, not as a store
					// error.
					err = readAll(ctx, newLog(t, fx.b.reopen(t)), trusted)
					if tc.readerPasses {
						if err != nil {
							t.Fatalf("reader: %v", err)
						}
						return
					}
					if err == nil {
						t.Fatal("a reader read the whole tampered log")
					}
					if tc.read != nil {
						tc.read(t, fx, err)
					}
					if !IsTampering(err) {
						t.Fatalf("reader: IsTampering(%v) = false", err)
					}
				})
			}
		})
	}
}

// TestTamperedLogRefusedByReaders: a Log that has seen a checkpoint
// refuses a rolled-back or forked one when it reads, and reading a
// modified entry fails the same way as the audit.
func TestTamperedLogRefusedByReaders(t *testing.T) {
	ctx := testCtx(t)
	fx := newFixture(t, localBackend(t))
	l := newLog(t, fx.b.Store)
	if _, _, err := l.Latest(ctx); err != nil {
		t.Fatal(err)
	}
	fx.editEntryTile(t, 1, func(es [][]byte) [][]byte {
		es[3] = bytes.Replace(es[3], []byte("writer 0"), []byte("writer 7"), 1)
		return es
	})
	if _, err := l.Entries(ctx, fx.latest(), 250, 20); err == nil {
		t.Fatal("Entries returned a modified entry")
	} else {
		wantEntryMismatch(259, false)(t, fx, err)
	}
	if _, err := l.Append(ctx, events(1, 0, 1)); err == nil {
		// Appending grows tile 002, not 001: it must still work.
	} else {
		t.Fatalf("append after tampering elsewhere: %v", err)
	}
	fx.b.overwrite(t, CheckpointKey, fx.signed[0])
	var re *RollbackError
	if _, _, err := l.Latest(ctx); !errors.As(err, &re) {
		t.Fatalf("Latest after a rollback: %v, want *RollbackError", err)
	}
	if _, err := l.Append(ctx, events(1, 1, 1)); !errors.As(err, &re) {
		t.Fatalf("Append after a rollback: %v, want *RollbackError", err)
	}
}

// TestPlantedBatch: write access to the archive is not enough to get events
// into the signed log: a batch not signed by a log key is refused, and
// appending stops until someone looks at it.
func TestPlantedBatch(t *testing.T) {
	ctx := testCtx(t)
	fx := newFixture(t, localBackend(t))
	otherSkey, _, _ := custody.NewLogKey(rand.Reader, testOrigin)
	other, _ := note.NewSigner(otherSkey)
	planted := &batch{Origin: testOrigin, Start: fx.latest().Size, Nonce: newNonce(), Entries: marshalAll(t, events(9, 0, 2))}
	if err := planted.sign(other); err != nil {
		t.Fatal(err)
	}
	data, _ := planted.marshal()
	fx.b.overwrite(t, BatchKey(planted.Start), data)
	var be *BatchError
	if _, err := newLog(t, fx.b.Store).Append(ctx, events(1, 0, 1)); !errors.As(err, &be) || be.Key != BatchKey(600) {
		t.Fatalf("Append over a planted batch: %v, want *BatchError for %s", err, BatchKey(600))
	}
	if rep, err := newLog(t, fx.b.Store).Audit(ctx, nil); err != nil || rep.Checkpoint != fx.latest() {
		t.Fatalf("audit after the planted batch: %+v %v", rep, err)
	}
}

// TestAppendOverTamperedTiles: a writer that finds the current hash tile
// replaced or gone refuses to append, with the evidence.
func TestAppendOverTamperedTiles(t *testing.T) {
	key := TileKey(tlog.Tile{H: custody.TileHeight, L: 0, N: 2, W: 88})
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, fx *fixture)
		found  string
	}{
		{"modified", func(t *testing.T, fx *fixture) {
			data := read(t, fx.b.Store, key)
			data[0] ^= 1
			fx.b.overwrite(t, key, data)
		}, "do not"},
		{"deleted", func(t *testing.T, fx *fixture) { fx.b.remove(t, key) }, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, localBackend(t))
			tc.tamper(t, fx)
			_, err := newLog(t, fx.b.reopen(t)).Append(testCtx(t), events(1, 0, 1))
			wantTileError(key, tc.found)(t, fx, err)
			if !IsTampering(err) {
				t.Fatalf("IsTampering(%v) = false", err)
			}
		})
	}
}
