package ingest_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/verify"
)

// recording is a store that groups its syncs (a storage.Syncer) and logs
// the order of writes: "stage N", "commit N KEY", "put KEY".
type recording struct {
	*local.Store
	mu     sync.Mutex
	log    []string
	staged int
}

func (r *recording) add(format string, a ...any) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, fmt.Sprintf(format, a...))
	return len(r.log) - 1
}

func (r *recording) Put(ctx context.Context, key string, rd io.Reader, o storage.PutOptions) (storage.Object, error) {
	r.add("put %s", key)
	return r.Store.Put(ctx, key, rd, o)
}

func (r *recording) Stage(ctx context.Context, rd io.Reader, size int64) (storage.Staged, error) {
	st, err := r.Store.Stage(ctx, rd, size)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.staged++
	n := r.staged
	r.mu.Unlock()
	r.add("stage %d", n)
	return &recordingStaged{Staged: st, r: r, n: n}, nil
}

type recordingStaged struct {
	storage.Staged
	r *recording
	n int
}

func (s *recordingStaged) Commit(ctx context.Context, key string, o storage.PutOptions) (storage.Object, error) {
	s.r.add("commit %d %s", s.n, key)
	return s.Staged.Commit(ctx, key, o)
}

// index returns the position of the first log line with the prefix, or -1.
func (r *recording) index(prefix string) int {
	return slices.IndexFunc(r.log, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

func newGroupStore(t *testing.T) *local.Store {
	t.Helper()
	st, err := local.Create(t.TempDir(), local.GroupCommit())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Grouped() {
		t.Skip("this system has no syncfs: the store fsyncs each write")
	}
	return st
}

// On a store that groups its syncs, an item's objects are all staged
// before any is committed (one shared sync), the record bundle is written
// after every object is visible, and the record copy after the bundle.
func TestGroupedStoreOrder(t *testing.T) {
	e := newEnv(t)
	e.store = newGroupStore(t)
	rec := &recording{Store: e.store.(*local.Store)}
	path, id := writeFile(t, 100<<10)
	res := e.ingester(t, rec, deriving{"ok"}).File(context.Background(), path)
	if res.Status != ingest.Archived {
		t.Fatalf("%+v", res)
	}
	t.Logf("writes: %q", rec.log)
	firstCommit := rec.index("commit ")
	for n := 1; n <= 4; n++ { // original, derivative, metadata, original bundle
		if i := rec.index(fmt.Sprintf("stage %d", n)); i < 0 || i > firstCommit {
			t.Errorf("object %d staged at %d, after the first commit at %d", n, i, firstCommit)
		}
	}
	if rec.index("put ") >= 0 {
		t.Errorf("a Put on a grouped store: each costs a sync of its own")
	}
	lastObject := -1
	for i, l := range rec.log {
		if strings.HasPrefix(l, "commit ") && !strings.HasSuffix(l, "record.sigstore.json") && !strings.HasSuffix(l, "record.json") {
			lastObject = i
		}
	}
	bundleCommit := rec.index("commit 5 " + custody.RecordBundleKey(id))
	bundleStage := rec.index("stage 5")
	copyStage, copyCommit := rec.index("stage 6"), rec.index("commit 6 "+custody.RecordKey(id))
	if bundleStage < lastObject || bundleCommit < 0 {
		t.Errorf("record bundle staged at %d, before the last object was committed at %d", bundleStage, lastObject)
	}
	if copyStage < bundleCommit || copyCommit < 0 {
		t.Errorf("record copy staged at %d, before the record bundle was committed at %d", copyStage, bundleCommit)
	}
	if ir := e.verify(t, res.Item); ir.Status != verify.Warn {
		t.Fatalf("verify: %s %+v", ir.Status, ir.Checks)
	}
}

// Many items at once on a grouped store, some of them the same bytes:
// each is archived once and verifies, and nothing is left staged.
func TestGroupedStoreConcurrent(t *testing.T) {
	e := newEnv(t)
	e.store = newGroupStore(t)
	dir := t.TempDir()
	var paths []string
	for i := range 24 { // 8 distinct contents, 3 files each
		p := filepath.Join(dir, fmt.Sprintf("item-%02d.bin", i))
		if err := os.WriteFile(p, []byte(strings.Repeat(fmt.Sprintf("content %d\n", i%8), 100+i%8)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	in, err := ingest.New(context.Background(), ingest.Options{Store: e.store, Signer: e.signer, Verifier: e.trust,
		Readers: registry(t, deriving{"ok"})})
	if err != nil {
		t.Fatal(err)
	}
	var archived, existed atomic.Int32
	for _, r := range in.Paths(context.Background(), paths) {
		switch r.Status {
		case ingest.Archived:
			archived.Add(1)
			if ir := e.verify(t, r.Item); ir.Status != verify.Warn {
				t.Errorf("verify %s: %s %+v", r.Item, ir.Status, ir.Checks)
			}
		case ingest.Exists, ingest.Repaired:
			existed.Add(1)
		default:
			t.Errorf("%+v", r)
		}
	}
	if archived.Load() != 8 || existed.Load() != 16 {
		t.Errorf("archived %d, existed %d; want 8 and 16", archived.Load(), existed.Load())
	}
	if err := e.store.(storage.Syncer).Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(e.store.(*local.Store).Dir(), ".tmp")); n != 0 {
		t.Errorf("%d files left in the staging area", n)
	}
}
