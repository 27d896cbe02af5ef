package ledger

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/openexhibit/exhibit/storage"
)

// TestConcurrentWriters: 8 writers append batches at the same time. Every event ends up in the log exactly once, each batch
// contiguous and where Append said, and every checkpoint any writer got
// is a prefix of the final one: one history.
func TestConcurrentWriters(t *testing.T) {
	const writers, batches = 8, 6
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := testCtx(t)
			b := be.open(t)
			type result struct {
				a       Appended
				entries [][]byte
			}
			results := make([][]result, writers)
			errs := make(chan error, writers)
			// Half the writers have a Log of their own (as processes
			// would), the other half share one.
			shared := newLog(t, b.reopen(t))
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l := shared
					if w%2 == 1 {
						l = newLog(t, b.reopen(t))
					}
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					for i := range batches {
						evs := events(w, i, 1+rng.IntN(60))
						a, err := l.Append(ctx, evs)
						if err != nil {
							errs <- fmt.Errorf("writer %d batch %d: %w", w, i, err)
							return
						}
						results[w] = append(results[w], result{a, marshalAll(t, evs)})
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}

			l := newLog(t, b.reopen(t))
			final, _, err := l.Latest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all, err := l.Entries(ctx, final, 0, final.Size)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int64{}
			for i, e := range all {
				if j, dup := seen[string(e)]; dup {
					t.Fatalf("entry %d duplicates entry %d", i, j)
				}
				seen[string(e)] = int64(i)
			}
			total := 0
			for w := range writers {
				for _, r := range results[w] {
					total += len(r.entries)
					for k, e := range r.entries {
						i := r.a.First + int64(k)
						if i >= final.Size || !bytes.Equal(all[i], e) {
							t.Fatalf("writer %d: event %d of its batch is not at %d", w, k, i)
						}
					}
					c := r.a.Checkpoint
					if c.Size < r.a.First+int64(r.a.Count) {
						t.Fatalf("writer %d: checkpoint %d does not include its batch %d+%d", w, c.Size, r.a.First, r.a.Count)
					}
					p, err := l.ProveConsistency(ctx, c, final)
					if err != nil {
						t.Fatal(err)
					}
					if err := CheckConsistency(c, final, p); err != nil {
						t.Fatalf("writer %d got a checkpoint outside the final history: %v", w, err)
					}
				}
			}
			if int64(total) != final.Size {
				t.Fatalf("log has %d entries, writers appended %d", final.Size, total)
			}
			if _, err := l.Audit(ctx, nil); err != nil {
				t.Fatalf("audit: %v", err)
			}
			t.Logf("%d writers, %d batches, %d events", writers, writers*batches, total)
		})
	}
}

// slowLoad delays one Load's answer, after reading, until released.
type slowLoad struct {
	Store
	hold    chan struct{} // closed to release
	holding chan struct{} // closed once a Load is held
	once    sync.Once
}

func (s *slowLoad) Load(ctx context.Context, key string, limit int64) ([]byte, storage.Version, error) {
	data, v, err := s.Store.Load(ctx, key, limit)
	held := false
	s.once.Do(func() { held = true })
	if held {
		close(s.holding)
		<-s.hold
	}
	return data, v, err
}

// TestSharedLogStaleRead: a read that was answered before another call of
// the same Log published a newer checkpoint is not a rollback.
func TestSharedLogStaleRead(t *testing.T) {
	ctx := testCtx(t)
	b := localBackend(t)
	mustAppend(t, newLog(t, b.Store), events(0, 0, 3))
	s := &slowLoad{Store: b.Store, hold: make(chan struct{}), holding: make(chan struct{})}
	l := newLog(t, s)
	done := make(chan error)
	go func() {
		_, _, err := l.Latest(ctx) // reads size 3, then waits
		done <- err
	}()
	<-s.holding
	mustAppend(t, l, events(0, 1, 2)) // publishes size 5 through the same Log
	close(s.hold)
	if err := <-done; err != nil {
		t.Fatalf("Latest answered before a newer publish: %v", err)
	}
}
