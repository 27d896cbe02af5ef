package ingest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"filippo.io/age"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/verify"
)

// faulty wraps a store and fails chosen operations, standing in for a full
// disk, a dropped connection or a crash at a precise step.
type faulty struct {
	storage.Store
	// failPut fails Put of keys with this suffix.
	failPut string
	err     error
	// hook runs on each read of staged content, with the bytes read so far.
	hook func(n int64)
}

func (f *faulty) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Object, error) {
	if f.failPut != "" && strings.HasSuffix(key, f.failPut) {
		return storage.Object{}, f.err
	}
	return f.Store.Put(ctx, key, r, o)
}

func (f *faulty) Stage(ctx context.Context, r io.Reader, size int64) (storage.Staged, error) {
	if f.hook != nil {
		r = &hookReader{r: r, hook: f.hook}
	}
	return f.Store.Stage(ctx, r, size)
}

type hookReader struct {
	r    io.Reader
	n    int64
	hook func(int64)
}

func (h *hookReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.n += int64(n)
	h.hook(h.n)
	return n, err
}

type env struct {
	dir    string
	store  storage.Store
	signer *sign.Signer
	trust  *sign.Verifier
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := local.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := sign.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	tf, _ := sign.NewTrustFile(s, "t", time.Now())
	v, _ := sign.NewVerifier(tf)
	return &env{dir: dir, store: st, signer: s, trust: v}
}

func (e *env) ingester(t *testing.T, st storage.Store, readers ...capture.Reader) *ingest.Ingester {
	t.Helper()
	in, err := ingest.New(context.Background(), ingest.Options{Store: st, Signer: e.signer, Verifier: e.trust, Readers: registry(t, readers...)})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func registry(t *testing.T, readers ...capture.Reader) *capture.Registry {
	t.Helper()
	g, err := capture.NewRegistry(readers...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (e *env) verify(t *testing.T, item string) verify.ItemReport {
	t.Helper()
	id, err := hashing.ParseDigest(item)
	if err != nil {
		t.Fatal(err)
	}
	return (&verify.Verifier{Store: e.store, Trust: e.trust}).Item(context.Background(), id)
}

func writeFile(t *testing.T, size int) (string, hashing.Digest) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "item.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, hashing.Bytes(data).SHA256
}

func exists(t *testing.T, st storage.Store, key string) bool {
	t.Helper()
	_, err := st.Stat(context.Background(), key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestInterruptedDuringRead(t *testing.T) {
	e := newEnv(t)
	path, id := writeFile(t, 8<<20)
	ctx, cancel := context.WithCancel(context.Background())
	st := &faulty{Store: e.store, hook: func(n int64) {
		if n > 1<<20 {
			cancel()
		}
	}}
	res := e.ingester(t, st).File(ctx, path)
	if res.Status != ingest.Failed || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("interrupted ingest: %+v", res)
	}
	for _, k := range []string{custody.ObjectKey(id), custody.RecordBundleKey(id), custody.RecordKey(id)} {
		if exists(t, e.store, k) {
			t.Errorf("%s written by an interrupted run", k)
		}
	}
	if n := countFiles(t, filepath.Join(e.dir, ".tmp")); n != 0 {
		t.Errorf("%d temporary files left behind", n)
	}
	// The rerun completes.
	res = e.ingester(t, e.store).File(context.Background(), path)
	if res.Status != ingest.Archived {
		t.Fatalf("rerun: %+v", res)
	}
	if ir := e.verify(t, res.Item); ir.Status != verify.Warn {
		t.Fatalf("verify after rerun: %s %+v", ir.Status, ir.Checks)
	}
}

func countFiles(t *testing.T, dir string) int {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// A store failing at each step of the commit sequence leaves no item
// (no record bundle), and the rerun completes it.
func TestStoreFailsAtEachStep(t *testing.T) {
	for _, step := range []string{"metadata", "original.sigstore.json", "record.sigstore.json"} {
		t.Run(step, func(t *testing.T) {
			e := newEnv(t)
			path, id := writeFile(t, 4096)
			st := &faulty{Store: e.store, failPut: step, err: storage.ErrFull}
			if step == "metadata" {
				// Metadata is content-addressed: fail every object put instead.
				st.failPut = ""
				st.Store = &failObjects{Store: e.store}
			}
			res := e.ingester(t, st).File(context.Background(), path)
			if res.Status != ingest.Failed || !errors.Is(res.Err, storage.ErrFull) {
				t.Fatalf("ingest on a full store: %+v", res)
			}
			if exists(t, e.store, custody.RecordBundleKey(id)) {
				t.Fatal("record bundle written although the item was not complete")
			}
			ir := e.verify(t, id.String())
			if ir.Status == verify.Pass || ir.Status == verify.Warn {
				t.Fatal("a half-written item verified")
			}
			res = e.ingester(t, e.store).File(context.Background(), path)
			if res.Status != ingest.Archived {
				t.Fatalf("rerun: %+v", res)
			}
			if ir := e.verify(t, res.Item); ir.Status != verify.Warn {
				t.Fatalf("verify after rerun: %s %+v", ir.Status, ir.Checks)
			}
		})
	}
}

// failObjects fails small Puts under objects/ (the metadata document).
type failObjects struct{ storage.Store }

func (f *failObjects) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Object, error) {
	if strings.HasPrefix(key, "objects/") {
		return storage.Object{}, storage.ErrFull
	}
	return f.Store.Put(ctx, key, r, o)
}

// A crash after the commit point but before record.json: the rerun repairs.
func TestRepairAfterCrash(t *testing.T) {
	e := newEnv(t)
	path, id := writeFile(t, 1000)
	st := &faulty{Store: e.store, failPut: "record.json", err: errors.New("power cut")}
	res := e.ingester(t, st).File(context.Background(), path)
	if res.Status != ingest.Failed {
		t.Fatalf("want failure, got %+v", res)
	}
	if ir := e.verify(t, id.String()); ir.Status != verify.Fail {
		t.Fatalf("item without record copy: verify %s", ir.Status)
	}
	res = e.ingester(t, e.store).File(context.Background(), path)
	if res.Status != ingest.Repaired {
		t.Fatalf("rerun: %+v", res)
	}
	if ir := e.verify(t, res.Item); ir.Status != verify.Warn {
		t.Fatalf("verify after repair: %s %+v", ir.Status, ir.Checks)
	}
	res = e.ingester(t, e.store).File(context.Background(), path)
	if res.Status != ingest.Exists {
		t.Fatalf("third run: %+v", res)
	}
}

func TestFileChangesWhileRead(t *testing.T) {
	e := newEnv(t)
	path, id := writeFile(t, 4<<20)
	var once sync.Once
	st := &faulty{Store: e.store, hook: func(n int64) {
		once.Do(func() {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.Write([]byte("appended while reading"))
			f.Close()
		})
	}}
	res := e.ingester(t, st).File(context.Background(), path)
	var ce *ingest.ChangedError
	if !errors.As(res.Err, &ce) {
		t.Fatalf("want ChangedError, got %+v", res)
	}
	if exists(t, e.store, custody.ObjectKey(id)) || exists(t, e.store, custody.RecordBundleKey(id)) {
		t.Fatal("something was archived from a file that changed while it was read")
	}
}

// TestTornRead: a file rewritten in place during the read, same size, its
// modification time set back, would be archived as bytes that never existed
// as a whole. The change time gives it away.
func TestTornRead(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the change time is read on Linux only")
	}
	e := newEnv(t)
	path, id := writeFile(t, 4<<20)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	st := &faulty{Store: e.store, hook: func(n int64) {
		once.Do(func() {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.WriteAt([]byte("rewritten at the end"), fi.Size()-64)
			f.Close()
			if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
				t.Error(err)
			}
		})
	}}
	res := e.ingester(t, st).File(context.Background(), path)
	var ce *ingest.ChangedError
	if !errors.As(res.Err, &ce) || !strings.Contains(ce.What, "modification time set back") {
		t.Fatalf("want ChangedError naming the set-back modification time, got %+v", res)
	}
	if after, _ := os.Stat(path); !after.ModTime().Equal(fi.ModTime()) || after.Size() != fi.Size() {
		t.Fatal("the test did not restore size and modification time")
	}
	if exists(t, e.store, custody.ObjectKey(id)) || exists(t, e.store, custody.RecordBundleKey(id)) {
		t.Fatal("something was archived from a file rewritten while it was read")
	}
}

// crashing is a reader that panics, as a parser might on hostile input.
type crashing struct{}

func (crashing) ID() string           { return "crash/1" }
func (crashing) MediaTypes() []string { return []string{"*/*"} }
func (crashing) Read(context.Context, capture.Source) (*capture.Result, error) {
	var m map[string]int
	m["boom"]++ // nil map write: panics
	return nil, nil
}

func TestReaderPanicIsRecorded(t *testing.T) {
	e := newEnv(t)
	path, _ := writeFile(t, 100)
	res := e.ingester(t, e.store, crashing{}).File(context.Background(), path)
	if res.Status != ingest.Archived {
		t.Fatalf("%+v", res)
	}
	id, _ := hashing.ParseDigest(res.Item)
	rc, err := e.store.Get(context.Background(), custody.RecordKey(id))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	st, err := custody.ParseStatement(data)
	if err != nil {
		t.Fatal(err)
	}
	errs := st.Predicate.Metadata.Errors
	if len(errs) != 1 || errs[0].Reader != "crash/1" {
		t.Fatalf("metadata errors: %+v", errs)
	}
	if ir := e.verify(t, res.Item); ir.Status != verify.Warn {
		t.Fatalf("verify: %s", ir.Status)
	}
}

// Concurrent ingests of the same bytes: one archives, the others find it.
func TestConcurrentSameBytes(t *testing.T) {
	e := newEnv(t)
	path, _ := writeFile(t, 256<<10)
	in := e.ingester(t, e.store)
	var archived, existed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch r := in.File(context.Background(), path); r.Status {
			case ingest.Archived:
				archived.Add(1)
			case ingest.Exists, ingest.Repaired:
				existed.Add(1)
			default:
				t.Errorf("%+v", r)
			}
		}()
	}
	wg.Wait()
	if archived.Load() != 1 || existed.Load() != 5 {
		t.Fatalf("archived %d, existed %d; want 1 and 5", archived.Load(), existed.Load())
	}
}

func TestPathsWalk(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "one"), []byte("1"), 0o644)
	os.WriteFile(filepath.Join(dir, "two"), []byte("2"), 0o644)
	os.Symlink(filepath.Join(dir, "two"), filepath.Join(dir, "link"))
	results := e.ingester(t, e.store).Paths(context.Background(), []string{dir, filepath.Join(dir, "missing")})
	got := map[string]ingest.Status{}
	for _, r := range results {
		got[filepath.Base(r.Path)] = r.Status
	}
	want := map[string]ingest.Status{"one": ingest.Archived, "two": ingest.Archived, "link": ingest.Skipped, "missing": ingest.Failed}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	var ie *ingest.InputError
	for _, r := range results {
		if r.Status == ingest.Failed && !errors.As(r.Err, &ie) {
			t.Errorf("missing path: error %v is not an InputError", r.Err)
		}
	}
}

// A record copy whose bundle was removed: ingest must not sign over it.
func TestRefusesToSignOverAlteredItem(t *testing.T) {
	e := newEnv(t)
	path, id := writeFile(t, 100)
	if r := e.ingester(t, e.store).File(context.Background(), path); r.Status != ingest.Archived {
		t.Fatalf("%+v", r)
	}
	p := filepath.Join(e.dir, filepath.FromSlash(custody.RecordBundleKey(id)))
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	r := e.ingester(t, e.store).File(context.Background(), path)
	var ce *ingest.ConflictError
	if !errors.As(r.Err, &ce) {
		t.Fatalf("want ConflictError, got %+v", r)
	}
	if exists(t, e.store, custody.RecordBundleKey(id)) {
		t.Fatal("a new record bundle was signed over the altered item")
	}
}

// deriving offers one derivative whose Write fails, panics or succeeds
// after writing some bytes.
type deriving struct{ mode string }

func (deriving) ID() string           { return "derive/1" }
func (deriving) MediaTypes() []string { return []string{"*/*"} }
func (d deriving) Read(context.Context, capture.Source) (*capture.Result, error) {
	return &capture.Result{Derivatives: []capture.Derivative{{
		Name: "copy.bin", Kind: "stripped", MediaType: "application/octet-stream",
		Write: func(_ context.Context, w io.Writer) error {
			if _, err := w.Write([]byte("partial bytes")); err != nil {
				return err
			}
			switch d.mode {
			case "fail":
				return errors.New("malformed at offset 12")
			case "panic":
				var m map[string]int
				m["boom"]++
			}
			return nil
		},
		Params: func() map[string]string { return map[string]string{"removed": "APP1 Exif"} },
	}}}, nil
}

// A derivative that cannot be made never costs the original: the item is
// archived without it, the error is recorded, and nothing partial is kept.
func TestDerivativeFailureIsRecorded(t *testing.T) {
	for _, mode := range []string{"ok", "fail", "panic"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			path, id := writeFile(t, 1000)
			res := e.ingester(t, e.store, deriving{mode}).File(context.Background(), path)
			if res.Status != ingest.Archived {
				t.Fatalf("%+v", res)
			}
			data, err := storage.ReadAll(context.Background(), e.store, custody.RecordKey(id), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			st, err := custody.ParseStatement(data)
			if err != nil {
				t.Fatal(err)
			}
			partial := custody.ObjectKey(hashing.Bytes([]byte("partial bytes")).SHA256)
			r := st.Predicate
			if mode == "ok" {
				if len(r.Derivatives) != 1 || r.Derivatives[0].Transform.Params["removed"] != "APP1 Exif" || len(r.Metadata.Errors) != 0 {
					t.Fatalf("derivatives %+v, errors %+v", r.Derivatives, r.Metadata.Errors)
				}
				if !exists(t, e.store, partial) {
					t.Fatal("derivative not stored")
				}
			} else {
				if len(r.Derivatives) != 0 || len(r.Metadata.Errors) != 1 || r.Metadata.Errors[0].Reader != "derive/1" ||
					!strings.Contains(r.Metadata.Errors[0].Error, "derivative copy.bin not made") {
					t.Fatalf("derivatives %+v, errors %+v", r.Derivatives, r.Metadata.Errors)
				}
				if exists(t, e.store, partial) {
					t.Fatal("a partial derivative was stored")
				}
			}
			if ir := e.verify(t, res.Item); ir.Status != verify.Warn {
				t.Fatalf("verify: %s %+v", ir.Status, ir.Checks)
			}
		})
	}
}

// Encrypted originals: the store holds only ciphertext, verify proves the
// ciphertext without the identity and the plaintext with it.
func TestEncryptedOriginal(t *testing.T) {
	e := newEnv(t)
	idn, _ := age.GenerateX25519Identity()
	path, id := writeFile(t, 3<<20)
	in, err := ingest.New(context.Background(), ingest.Options{Store: e.store, Signer: e.signer, Verifier: e.trust,
		Encrypt: &ingest.Encryption{Recipients: []age.Recipient{idn.Recipient()}, Names: []string{idn.Recipient().String()}}})
	if err != nil {
		t.Fatal(err)
	}
	res := in.File(context.Background(), path)
	if res.Status != ingest.Archived || res.Item != id.String() {
		t.Fatalf("%+v", res)
	}
	if exists(t, e.store, custody.ObjectKey(id)) {
		t.Fatal("the plaintext is stored")
	}
	data, _ := storage.ReadAll(context.Background(), e.store, custody.RecordKey(id), 1<<20)
	st, err := custody.ParseStatement(data)
	if err != nil {
		t.Fatal(err)
	}
	o := st.Predicate.Original
	if o.Encryption == nil || o.Size != 3<<20 || o.Encryption.Size <= o.Size || st.Predicate.Metadata.Encryption == nil {
		t.Fatalf("original %+v", o)
	}
	plain, _ := os.ReadFile(path)
	stored, _ := storage.ReadAll(context.Background(), e.store, o.Key, 8<<20)
	if hashing.Bytes(stored).SHA256.Hex() != o.Encryption.Digest["sha256"] || bytes.Contains(stored, plain[:64]) {
		t.Fatal("stored bytes are not the recorded ciphertext")
	}
	v := &verify.Verifier{Store: e.store, Trust: e.trust}
	if ir := v.Item(context.Background(), id); ir.Status != verify.Warn {
		t.Fatalf("without identity: %s %+v", ir.Status, ir.Checks)
	}
	v.Identities = []age.Identity{idn}
	ir := v.Item(context.Background(), id)
	for _, c := range ir.Checks {
		if c.Status != verify.Pass && c.Name != "timestamps" {
			t.Fatalf("with identity: %+v", c)
		}
	}
	var out bytes.Buffer
	if _, err := verify.Fetch(context.Background(), e.store, o, v.Identities, &out); err != nil || !bytes.Equal(out.Bytes(), plain) {
		t.Fatalf("fetch: %v", err)
	}
	// Without an identity there is nothing to write.
	if _, err := verify.Fetch(context.Background(), e.store, o, nil, io.Discard); !errors.Is(err, verify.ErrEncrypted) {
		t.Fatalf("fetch without identity: %v", err)
	}
}

// TestNonUTF8PathKept: a path that is not UTF-8 keeps its exact bytes in
// the signed record (JSON strings would turn them into U+FFFD).
func TestNonUTF8PathKept(t *testing.T) {
	e := newEnv(t)
	p := filepath.Join(t.TempDir(), "photo-\xff\xfe.jpg")
	if err := os.WriteFile(p, []byte("not utf-8 named"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.ingester(t, e.store).File(context.Background(), p)
	if r.Status != ingest.Archived {
		t.Fatalf("ingest: %+v", r)
	}
	src := fileProvenance(t, r.Record)
	if string(src.PathBytes) != p || !strings.Contains(src.Path, "\uFFFD") {
		t.Fatalf("path %q, pathBytes %q; want the exact bytes %q", src.Path, src.PathBytes, p)
	}
	// A UTF-8 path has none.
	q, _ := writeFile(t, 10)
	r = e.ingester(t, e.store).File(context.Background(), q)
	if src := fileProvenance(t, r.Record); src.PathBytes != nil || src.Path != q {
		t.Fatalf("UTF-8 path: %q %q", src.Path, src.PathBytes)
	}
}

// fileProvenance is the file provenance of a signed record statement.
func fileProvenance(t *testing.T, record []byte) *custody.FileProvenance {
	t.Helper()
	stmt, err := custody.ParseStatement(record)
	if err != nil {
		t.Fatal(err)
	}
	f, ok, err := stmt.Predicate.Acquisition.File()
	if !ok || err != nil {
		t.Fatalf("no file provenance: %v", err)
	}
	return f
}
