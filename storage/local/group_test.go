package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/storagetest"
)

func newGroupStore(t *testing.T) *Store {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Create(dir, GroupCommit())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !s.Grouped() {
		// A property of the machine, not a missing tool: say so and go on.
		t.Skipf("%s is not on a file system whose syncfs GroupCommit trusts (or there is no syncfs): every write is fsynced", dir)
	}
	return s
}

func TestConformanceGroupCommit(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return newGroupStore(t) })
}

// exists reports whether key is linked in the store.
func exists(s *Store, key string) bool {
	_, err := os.Lstat(filepath.Join(s.dir, filepath.FromSlash(key)))
	return err == nil
}

// TestGroupCommitOrder: a key is linked only after a sync that covers its
// content and every key linked before it was written, and Sync covers the
// last links.
func TestGroupCommitOrder(t *testing.T) {
	s := newGroupStore(t)
	ctx := context.Background()
	var seen [][]bool // at each sync: which of a, b, c were linked
	real := s.group.sync
	s.group.sync = func() error {
		seen = append(seen, []bool{exists(s, "a"), exists(s, "x/b"), exists(s, "x/c")})
		return real()
	}
	put(t, s, "a", "first")
	if len(seen) != 1 || seen[0][0] {
		t.Fatalf("syncs before a was linked: %v, want one sync with a not yet linked", seen)
	}
	// b and c are staged together: one sync covers both, and a's link.
	b, err := s.Stage(ctx, strings.NewReader("second"), -1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Stage(ctx, strings.NewReader("third"), -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		key string
		s   storage.Staged
	}{{"x/b", b}, {"x/c", c}} {
		if _, err := st.s.Commit(ctx, st.key, storage.PutOptions{Size: -1}); err != nil {
			t.Fatalf("Commit %s: %v", st.key, err)
		}
	}
	if len(seen) != 2 || !seen[1][0] || seen[1][1] || seen[1][2] {
		t.Fatalf("syncs = %v, want a second one with a linked and b, c not yet", seen)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || !seen[2][1] || !seen[2][2] {
		t.Fatalf("syncs = %v, want Sync to sync the links of b and c", seen)
	}
	// Nothing changed since: no sync needed.
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Errorf("Sync with nothing written synced again (%d syncs)", len(seen))
	}
}

// TestGroupCommitShares: writers waiting while a sync runs share the next
// one.
func TestGroupCommitShares(t *testing.T) {
	s := newGroupStore(t)
	ctx := context.Background()
	started, release := make(chan struct{}, 1), make(chan struct{})
	real := s.group.sync
	var calls sync.Once
	s.group.sync = func() error {
		calls.Do(func() { started <- struct{}{}; <-release })
		return real()
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		if i == 1 {
			<-started // the first writer holds the first sync
		}
		wg.Go(func() {
			_, errs[i] = s.Put(ctx, "k/"+strconv.Itoa(i), strings.NewReader("evidence "+strconv.Itoa(i)), storage.PutOptions{Size: -1})
		})
	}
	// The others have written their content and wait for a sync.
	for deadline := time.Now().Add(10 * time.Second); s.group.dirty.Load() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("writers did not finish their content: dirty = %d", s.group.dirty.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	s.group.mu.Lock()
	rounds := s.group.rounds
	s.group.mu.Unlock()
	if rounds != 2 {
		t.Errorf("%d writers took %d syncs, want 2 (the first, and one shared by the rest)", n, rounds)
	}
}

// TestGroupCommitSyncFails: after a failed sync nothing more is linked, and
// the error says what happened and keeps the cause.
func TestGroupCommitSyncFails(t *testing.T) {
	s := newGroupStore(t)
	ctx := context.Background()
	s.group.sync = func() error { return syscall.EIO }
	_, err := s.Put(ctx, "k", strings.NewReader("evidence"), storage.PutOptions{Size: -1})
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "did not confirm") {
		t.Fatalf("Put with a failing sync: %v, want an error that keeps EIO and explains", err)
	}
	if exists(s, "k") {
		t.Error("the key was linked although its content was not confirmed on disk")
	}
	s.group.sync = func() error { return nil } // a later sync working does not undo the failure
	if _, err := s.Put(ctx, "k2", strings.NewReader("more"), storage.PutOptions{Size: -1}); !errors.Is(err, syscall.EIO) {
		t.Errorf("Put after a failed sync: %v, want the failure again", err)
	}
	if err := s.Sync(ctx); !errors.Is(err, syscall.EIO) {
		t.Errorf("Sync after a failed sync: %v, want the failure again", err)
	}
	if _, err := s.Swap(ctx, "m", storage.NoVersion, []byte("c"), storage.SwapOptions{}); !errors.Is(err, syscall.EIO) || exists(s, "m") {
		t.Errorf("Swap after a failed sync: %v, want the failure and nothing at the key", err)
	}
	for _, name := range tmpEntries(t, s) {
		if !isLockFile(name) {
			t.Errorf("temporary area holds %s after the failures, want nothing", name)
		}
	}
	s.group.sync = func() error { return syscall.ENOSPC }
	s.group.err = nil
	if _, err := s.Put(ctx, "k3", strings.NewReader("more"), storage.PutOptions{Size: -1}); !errors.Is(err, storage.ErrFull) {
		t.Errorf("Put with a sync failing for space: %v, want ErrFull", err)
	}
}

// TestGroupCommitCanceled: a writer waiting for a sync gives up with its
// context and links nothing.
func TestGroupCommitCanceled(t *testing.T) {
	s := newGroupStore(t)
	release := make(chan struct{})
	real := s.group.sync
	s.group.sync = func() error { <-release; return real() }
	first := make(chan error)
	go func() {
		_, err := s.Put(context.Background(), "a", strings.NewReader("first"), storage.PutOptions{Size: -1})
		first <- err
	}()
	for s.group.dirty.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Put(ctx, "b", strings.NewReader("second"), storage.PutOptions{Size: -1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Put while a sync hangs: %v, want the deadline", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first Put: %v", err)
	}
	if exists(s, "b") {
		t.Error("a canceled Put linked its key")
	}
}

// TestGroupCommitSwapDurable: Swap, the custody log's checkpoint, syncs its
// new content (and what it points to) before the rename, and the rename
// before it returns: storage.Swapper promises a durable swap.
func TestGroupCommitSwapDurable(t *testing.T) {
	s := newGroupStore(t)
	ctx := context.Background()
	put(t, s, "tile", "written before")
	var seen [][2]bool // at each sync: tile linked, checkpoint swapped in
	real := s.group.sync
	s.group.sync = func() error {
		seen = append(seen, [2]bool{exists(s, "tile"), exists(s, "checkpoint")})
		return real()
	}
	if _, err := s.Swap(ctx, "checkpoint", storage.NoVersion, []byte("c1"), storage.SwapOptions{}); err != nil {
		t.Fatal(err)
	}
	before, after := false, false
	for _, x := range seen {
		before = before || (x[0] && !x[1])
		after = after || x[1]
	}
	if !before || !after {
		t.Errorf("syncs during Swap (tile linked, checkpoint in place) = %v, want one before the rename covering the tile and one after it", seen)
	}
}

// TestWrapped: behind a decorator that knows nothing of them, the store's
// grouped sync, compare-and-swap and conformance are all still there.
func TestWrapped(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return storagetest.Wrap(newGroupStore(t)) })
	s := newGroupStore(t)
	w := storagetest.Wrap(s)
	if !storage.Grouped(w) {
		t.Error("storage.Grouped(wrapped) = false: the decorator switched grouped sync off")
	}
	ctx := context.Background()
	if _, err := w.Put(ctx, "a", strings.NewReader("x"), storage.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	if err := storage.Sync(ctx, w); err != nil {
		t.Fatal(err)
	}
	s.group.mu.Lock()
	synced, changed := s.group.synced, s.group.dirty.Load()
	s.group.mu.Unlock()
	if synced < changed {
		t.Errorf("storage.Sync(wrapped) left changes up to %d of %d unsynced: it did not sync the wrapped store", synced, changed)
	}
	ss, ok := storage.Swapping(w)
	if !ok {
		t.Fatal("storage.Swapping(wrapped): no Swapper found")
	}
	if _, err := ss.Swap(ctx, "m", storage.NoVersion, []byte("1"), storage.SwapOptions{}); err != nil {
		t.Fatal(err)
	}
	if ss.Location() != s.Location() {
		t.Errorf("Location through Swapping = %s", ss.Location())
	}
	if !storage.Grouped(ss) {
		t.Error("storage.Grouped(storage.Swapping(wrapped)) = false: the swapping view hides the chain")
	}
}
