package ledger

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/storage"
)

// faulty wraps a Store to make a writer die at a chosen step: failPut
// fails writes of matching keys, swap replaces Swap.
type faulty struct {
	Store
	failPut func(key string) bool
	swap    func(ctx context.Context, key string, old storage.Version, data []byte) (storage.Version, error)
}

var errCrash = errors.New("the process died here")

func (f *faulty) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	if f.failPut != nil && f.failPut(key) {
		return storage.Object{}, errCrash
	}
	return f.Store.Put(ctx, key, r, opts)
}

func (f *faulty) Swap(ctx context.Context, key string, old storage.Version, data []byte, opts storage.SwapOptions) (storage.Version, error) {
	if f.swap != nil {
		return f.swap(ctx, key, old, data)
	}
	return f.Store.Swap(ctx, key, old, data, opts)
}

func marshalAll(t testing.TB, evs []*custody.Event) [][]byte {
	t.Helper()
	out := make([][]byte, len(evs))
	for i, e := range evs {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// checkLog checks, with a fresh Log, that the log holds exactly want, in
// order, and passes an audit.
func checkLog(t testing.TB, s Store, want [][]byte) custody.Checkpoint {
	t.Helper()
	ctx := testCtx(t)
	l := newLog(t, s)
	c, _, err := l.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != int64(len(want)) {
		t.Fatalf("log has %d entries, want %d", c.Size, len(want))
	}
	got, err := l.Entries(ctx, c, 0, c.Size)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("entry %d is %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := l.Audit(ctx, nil); err != nil {
		t.Fatalf("audit: %v", err)
	}
	return c
}

func TestCrashBeforePublishing(t *testing.T) {
	cases := []struct {
		name string
		die  func(f *faulty)
	}{
		{"after claiming, before any tile", func(f *faulty) {
			f.failPut = func(key string) bool { return strings.HasPrefix(key, Prefix+"tile/") }
		}},
		{"after the entry tiles, before the hash tiles", func(f *faulty) {
			f.failPut = func(key string) bool {
				return strings.HasPrefix(key, Prefix+"tile/") && !strings.HasPrefix(key, Prefix+"tile/8/data/")
			}
		}},
		{"after all tiles, before the swap", func(f *faulty) {
			f.swap = func(context.Context, string, storage.Version, []byte) (storage.Version, error) {
				return "", errCrash
			}
		}},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx := testCtx(t)
					b := be.open(t)
					first := events(0, 0, 300) // the tile that grows, and a full one
					mustAppend(t, newLog(t, b.Store), first)

					f := &faulty{Store: b.reopen(t)}
					tc.die(f)
					crashed := events(1, 0, 250)
					if _, err := newLog(t, f).Append(ctx, crashed); !errors.Is(err, errCrash) {
						t.Fatalf("Append through the failing store: %v, want the crash", err)
					}
					if c, _, _ := newLog(t, b.Store).Latest(ctx); c.Size != 300 {
						t.Fatalf("checkpoint moved to %d after the crash", c.Size)
					}
					if _, err := b.Get(ctx, BatchKey(300)); err != nil {
						t.Fatalf("the crashed writer's batch is not there: %v", err)
					}

					// The next run completes the crashed batch, then appends its own.
					next := events(2, 0, 5)
					a := mustAppend(t, newLog(t, b.reopen(t)), next)
					if a.First != 550 || a.Count != 5 {
						t.Fatalf("next run appended at %d+%d, want 550+5", a.First, a.Count)
					}
					want := append(append(marshalAll(t, first), marshalAll(t, crashed)...), marshalAll(t, next)...)
					checkLog(t, b.Store, want)
				})
			}
		})
	}
}

// TestSwapReplyLost: the swap happened but its reply was lost; Append
// finds its batch published and reports success, once.
func TestSwapReplyLost(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.open(t)
			f := &faulty{Store: b.Store}
			f.swap = func(ctx context.Context, key string, old storage.Version, data []byte) (storage.Version, error) {
				if _, err := b.Store.Swap(ctx, key, old, data, storage.SwapOptions{}); err != nil {
					return "", err
				}
				return "", errors.New("connection reset by peer")
			}
			evs := events(0, 0, 10)
			a := mustAppend(t, newLog(t, f), evs)
			if a.First != 0 || a.Checkpoint.Size != 10 {
				t.Fatalf("appended %+v, want at 0 under a checkpoint of 10", a)
			}
			checkLog(t, b.Store, marshalAll(t, evs))
		})
	}
}

// TestBatchCompletedByAnother: while a writer is between writing its tiles
// and swapping, another writer completes its batch and appends its own;
// the first writer's swap loses, and it recognizes its batch as published.
func TestBatchCompletedByAnother(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.open(t)
			other := events(1, 0, 7)
			var once sync.Once
			f := &faulty{Store: b.Store}
			f.swap = func(ctx context.Context, key string, old storage.Version, data []byte) (storage.Version, error) {
				once.Do(func() { mustAppend(t, newLog(t, b.reopen(t)), other) })
				return b.Store.Swap(ctx, key, old, data, storage.SwapOptions{})
			}
			mine := events(0, 0, 20)
			a := mustAppend(t, newLog(t, f), mine)
			if a.First != 0 || a.Count != 20 || a.Checkpoint.Size != 27 {
				t.Fatalf("appended %+v, want 0+20 under the other writer's checkpoint of 27", a)
			}
			checkLog(t, b.Store, append(marshalAll(t, mine), marshalAll(t, other)...))
		})
	}
}
