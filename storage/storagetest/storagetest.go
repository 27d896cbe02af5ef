// Package storagetest is the conformance suite for storage.Store: every
// implementation runs Run in its tests, so they all keep the same contract
// (write-once, atomic, checked, lexically listed).
//
// This package must not import anything from this module but storage.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/storage"
)

// LargeSize is the size of the large objects the suite writes: larger than
// the usual multipart part size (16 MiB), so streaming paths are exercised.
const LargeSize = 20 << 20

// Run runs the conformance suite. newStore must return a fresh, empty store
// for each call; it is called once per subtest.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"PutExisting", testPutExisting},
		{"Missing", testMissing},
		{"InvalidKeys", testInvalidKeys},
		{"List", testList},
		{"ListStopsOnError", testListStopsOnError},
		{"StageCommit", testStageCommit},
		{"StageDiscard", testStageDiscard},
		{"CommitExisting", testCommitExisting},
		{"CommitTwice", testCommitTwice},
		{"WrongSHA256", testWrongSHA256},
		{"WrongSize", testWrongSize},
		{"SHA256Reader", testSHA256Reader},
		{"FailingReader", testFailingReader},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"ConcurrentCommitSameKey", testConcurrentCommitSameKey},
		{"ConcurrentDifferentKeys", testConcurrentDifferentKeys},
		{"Location", testLocation},
		{"SwapRoundTrip", swapTest(testSwapRoundTrip)},
		{"SwapConflicts", swapTest(testSwapConflicts)},
		{"SwapRace", swapTest(testSwapRace)},
		{"SwapCounter", swapTest(testSwapCounter)},
		{"SwapLimits", swapTest(testSwapLimits)},
		{"PlaceKeep", placeTest(testPlaceKeep)},
		{"PlaceDuplicate", placeTest(testPlaceDuplicate)},
		{"PlaceRefused", placeTest(testPlaceRefused)},
		{"PlaceCrash", placeTest(testPlaceCrash)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// Content returns n deterministic pseudo-random bytes from seed, generated
// as they are read, so large objects need no memory.
func Content(seed uint64, n int64) io.Reader {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	return io.LimitReader(rand.NewChaCha8(key), n)
}

// digest returns the SHA-256 and length of what r yields.
func digest(t *testing.T, r io.Reader) ([]byte, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return h.Sum(nil), n
}

func contentDigest(t *testing.T, seed uint64, n int64) []byte {
	t.Helper()
	sum, _ := digest(t, Content(seed, n))
	return sum
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// putBytes writes b at key and fails the test on error.
func putBytes(t *testing.T, s storage.Store, key string, b []byte) storage.Object {
	t.Helper()
	obj, err := s.Put(ctxT(t), key, bytes.NewReader(b), storage.PutOptions{Size: int64(len(b))})
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return obj
}

// getBytes reads the object at key and fails the test on error.
func getBytes(t *testing.T, s storage.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return b
}

// checkDigest reads the object at key and compares it with want.
func checkDigest(t *testing.T, s storage.Store, key string, want []byte, wantSize int64) {
	t.Helper()
	rc, err := s.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	got, n := digest(t, rc)
	if n != wantSize || !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes sha256 %x, want %d bytes sha256 %x", key, n, got, wantSize, want)
	}
}

// absent fails the test unless Stat and Get report key missing.
func absent(t *testing.T, s storage.Store, key string) {
	t.Helper()
	if obj, err := s.Stat(ctxT(t), key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat(%q) = %+v, %v; want ErrNotFound", key, obj, err)
	}
	rc, err := s.Get(ctxT(t), key)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q) error = %v; want ErrNotFound", key, err)
	}
}

// keys lists every key under prefix.
func keys(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	var got []string
	err := s.List(ctxT(t), prefix, func(o storage.Object) error {
		got = append(got, o.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return got
}

// empty fails the test unless the store lists no object at all.
func empty(t *testing.T, s storage.Store) {
	t.Helper()
	if got := keys(t, s, ""); len(got) != 0 {
		t.Fatalf("List(\"\") = %q, want nothing", got)
	}
}

func testRoundTrip(t *testing.T, s storage.Store) {
	cases := []struct {
		name    string
		size    int64
		unknown bool // pass Size -1
	}{
		{"empty", 0, false},
		{"empty-unknown-size", 0, true},
		{"small", 1000, false},
		{"small-unknown-size", 1000, true},
		{"large", LargeSize, false},
		{"large-unknown-size", LargeSize, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := "round/" + c.name + "/obj"
			seed := uint64(100 + i)
			size := c.size
			if c.unknown {
				size = -1
			}
			want := contentDigest(t, seed, c.size)
			obj, err := s.Put(ctxT(t), key, Content(seed, c.size), storage.PutOptions{Size: size, SHA256: want, ContentType: "application/octet-stream"})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if obj.Key != key || obj.Size != c.size {
				t.Errorf("Put returned %+v, want key %q size %d", obj, key, c.size)
			}
			if obj.ModTime.IsZero() {
				t.Errorf("Put returned a zero ModTime")
			}
			st, err := s.Stat(ctxT(t), key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if st.Key != key || st.Size != c.size {
				t.Errorf("Stat = %+v, want key %q size %d", st, key, c.size)
			}
			if d := st.ModTime.Sub(obj.ModTime); d < -2*time.Second || d > 2*time.Second {
				t.Errorf("Stat ModTime %v, Put ModTime %v", st.ModTime, obj.ModTime)
			}
			checkDigest(t, s, key, want, c.size)
		})
	}
}

func testPutExisting(t *testing.T, s storage.Store) {
	putBytes(t, s, "k", []byte("original"))
	_, err := s.Put(ctxT(t), "k", strings.NewReader("replacement"), storage.PutOptions{Size: -1})
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second Put error = %v, want ErrExists", err)
	}
	if got := getBytes(t, s, "k"); string(got) != "original" {
		t.Fatalf("after refused Put, content = %q, want %q", got, "original")
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("List = %q, want [k]", got)
	}
}

func testMissing(t *testing.T, s storage.Store) {
	absent(t, s, "missing")
	absent(t, s, "no/such/object")
	putBytes(t, s, "dir/obj", []byte("x"))
	absent(t, s, "dir")           // a key prefix is not an object
	absent(t, s, "dir/obj/child") // nor is a path through an object
	absent(t, s, "dir/ob")
}

func testInvalidKeys(t *testing.T, s storage.Store) {
	bad := []string{"", "/abs", "trailing/", "a//b", ".", "..", "./a", "a/./b", "a/..", "../escape", "a/../../b", `back\slash`, "nul\x00byte", ".tmp/x"}
	for _, key := range bad {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			ctx := ctxT(t)
			if _, err := s.Put(ctx, key, strings.NewReader("x"), storage.PutOptions{Size: 1}); err == nil {
				t.Errorf("Put(%q) succeeded, want an error", key)
			}
			if rc, err := s.Get(ctx, key); err == nil {
				rc.Close()
				t.Errorf("Get(%q) succeeded, want an error", key)
			}
			if _, err := s.Stat(ctx, key); err == nil {
				t.Errorf("Stat(%q) succeeded, want an error", key)
			}
			st, err := s.Stage(ctx, strings.NewReader("x"), 1)
			if err != nil {
				t.Fatalf("Stage: %v", err)
			}
			defer st.Discard(ctx)
			if _, err := st.Commit(ctx, key, storage.PutOptions{Size: -1}); err == nil {
				t.Errorf("Commit(%q) succeeded, want an error", key)
			}
		})
	}
	empty(t, s)
}

func testList(t *testing.T, s storage.Store) {
	all := []string{"b", "a/c", "a-c", "a/b/d", "ab", "c/x/y/z", "a/b/e", "a.b"}
	for i, k := range all {
		putBytes(t, s, k, bytes.Repeat([]byte{'x'}, i))
	}
	// An uncommitted staged object must not show.
	st, err := s.Stage(ctxT(t), strings.NewReader("staged"), -1)
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	defer st.Discard(ctxT(t))

	sorted := slices.Clone(all)
	slices.Sort(sorted)
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"a", []string{"a-c", "a.b", "a/b/d", "a/b/e", "a/c", "ab"}},
		{"a/", []string{"a/b/d", "a/b/e", "a/c"}},
		{"a/b", []string{"a/b/d", "a/b/e"}},
		{"a/b/", []string{"a/b/d", "a/b/e"}},
		{"a/b/d", []string{"a/b/d"}},
		{"c/x/", []string{"c/x/y/z"}},
		{"b", []string{"b"}},
		{"zzz", nil},
		{"b/", nil},
		{"nothing/here/", nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.prefix), func(t *testing.T) {
			var got []string
			err := s.List(ctxT(t), c.prefix, func(o storage.Object) error {
				got = append(got, o.Key)
				i := slices.Index(all, o.Key)
				if i < 0 {
					return fmt.Errorf("listed unknown key %q", o.Key)
				}
				if o.Size != int64(i) {
					return fmt.Errorf("listed %q with size %d, want %d", o.Key, o.Size, i)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("List(%q): %v", c.prefix, err)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("List(%q) = %q, want %q", c.prefix, got, c.want)
			}
		})
	}
}

func testListStopsOnError(t *testing.T, s storage.Store) {
	for _, k := range []string{"a", "b", "c", "d"} {
		putBytes(t, s, k, []byte(k))
	}
	stop := errors.New("stop here")
	var seen []string
	err := s.List(ctxT(t), "", func(o storage.Object) error {
		seen = append(seen, o.Key)
		if o.Key == "b" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("List error = %v, want the callback's error", err)
	}
	if !slices.Equal(seen, []string{"a", "b"}) {
		t.Fatalf("List visited %q after the callback failed, want [a b]", seen)
	}
}

func testStageCommit(t *testing.T, s storage.Store) {
	cases := []struct {
		name    string
		size    int64
		unknown bool
	}{
		{"empty", 0, false},
		{"small", 4096, false},
		{"small-unknown-size", 4096, true},
		{"large", LargeSize, false},
		{"large-unknown-size", LargeSize, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := ctxT(t)
			seed := uint64(200 + i)
			size := c.size
			if c.unknown {
				size = -1
			}
			want := contentDigest(t, seed, c.size)
			st, err := s.Stage(ctx, Content(seed, c.size), size)
			if err != nil {
				t.Fatalf("Stage: %v", err)
			}
			if st.Size() != c.size {
				t.Errorf("Size() = %d, want %d", st.Size(), c.size)
			}
			dir := "staged/" + c.name + "/"
			key := dir + "obj"
			absent(t, s, key)
			if got := keys(t, s, dir); len(got) != 0 {
				t.Fatalf("before Commit, List = %q, want nothing", got)
			}
			obj, err := st.Commit(ctx, key, storage.PutOptions{Size: c.size, SHA256: want})
			if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if obj.Key != key || obj.Size != c.size {
				t.Errorf("Commit returned %+v, want key %q size %d", obj, key, c.size)
			}
			if err := st.Discard(ctx); err != nil {
				t.Errorf("Discard after Commit: %v", err)
			}
			checkDigest(t, s, key, want, c.size)
			if got := keys(t, s, dir); !slices.Equal(got, []string{key}) {
				t.Fatalf("List = %q, want only %q", got, key)
			}
		})
	}
}

func testStageDiscard(t *testing.T, s storage.Store) {
	for _, size := range []int64{10, LargeSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ctx := ctxT(t)
			st, err := s.Stage(ctx, Content(7, size), size)
			if err != nil {
				t.Fatalf("Stage: %v", err)
			}
			if err := st.Discard(ctx); err != nil {
				t.Fatalf("Discard: %v", err)
			}
			if err := st.Discard(ctx); err != nil {
				t.Fatalf("second Discard: %v", err)
			}
			if _, err := st.Commit(ctx, "after-discard", storage.PutOptions{Size: -1}); err == nil {
				t.Fatalf("Commit after Discard succeeded, want an error")
			}
			absent(t, s, "after-discard")
			empty(t, s)
		})
	}
}

func testCommitExisting(t *testing.T, s storage.Store) {
	for _, size := range []int64{10, LargeSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ctx := ctxT(t)
			key := fmt.Sprintf("taken-%d", size)
			putBytes(t, s, key, []byte("original"))
			st, err := s.Stage(ctx, Content(8, size), size)
			if err != nil {
				t.Fatalf("Stage: %v", err)
			}
			defer st.Discard(ctx)
			if _, err := st.Commit(ctx, key, storage.PutOptions{Size: -1}); !errors.Is(err, storage.ErrExists) {
				t.Fatalf("Commit onto an existing key: error = %v, want ErrExists", err)
			}
			if got := getBytes(t, s, key); string(got) != "original" {
				t.Fatalf("after refused Commit, content = %q, want %q", got, "original")
			}
			if err := st.Discard(ctx); err != nil {
				t.Fatalf("Discard: %v", err)
			}
			if got := keys(t, s, key); !slices.Equal(got, []string{key}) {
				t.Fatalf("List = %q, want only %q", got, key)
			}
		})
	}
}

func testCommitTwice(t *testing.T, s storage.Store) {
	ctx := ctxT(t)
	st, err := s.Stage(ctx, strings.NewReader("once"), 4)
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	if _, err := st.Commit(ctx, "first", storage.PutOptions{Size: -1}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := st.Commit(ctx, "second", storage.PutOptions{Size: -1}); err == nil {
		t.Fatalf("second Commit of the same staged content succeeded, want an error")
	}
	absent(t, s, "second")
	if got := getBytes(t, s, "first"); string(got) != "once" {
		t.Fatalf("content = %q, want %q", got, "once")
	}
}

func testWrongSHA256(t *testing.T, s storage.Store) {
	for _, size := range []int64{0, 100, LargeSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ctx := ctxT(t)
			wrong := sha256.Sum256([]byte("something else"))
			key := fmt.Sprintf("put-%d", size)
			_, err := s.Put(ctx, key, Content(9, size), storage.PutOptions{Size: size, SHA256: wrong[:]})
			if !errors.Is(err, storage.ErrIntegrity) {
				t.Fatalf("Put with a wrong SHA-256: error = %v, want ErrIntegrity", err)
			}
			absent(t, s, key)

			key = fmt.Sprintf("commit-%d", size)
			st, err := s.Stage(ctx, Content(9, size), size)
			if err != nil {
				t.Fatalf("Stage: %v", err)
			}
			defer st.Discard(ctx)
			if _, err := st.Commit(ctx, key, storage.PutOptions{Size: -1, SHA256: wrong[:]}); !errors.Is(err, storage.ErrIntegrity) {
				t.Fatalf("Commit with a wrong SHA-256: error = %v, want ErrIntegrity", err)
			}
			absent(t, s, key)
			if err := st.Discard(ctx); err != nil {
				t.Fatalf("Discard: %v", err)
			}
			empty(t, s)
		})
	}
}

func testWrongSize(t *testing.T, s storage.Store) {
	cases := []struct {
		name         string
		actual, told int64
	}{
		{"short", 100, 101},
		{"long", 100, 99},
		{"empty-told-one", 0, 1},
		{"large-short", LargeSize, LargeSize + 1},
		{"large-long", LargeSize, LargeSize - 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := ctxT(t)
			key := "put-" + c.name
			_, err := s.Put(ctx, key, Content(10, c.actual), storage.PutOptions{Size: c.told})
			if !errors.Is(err, storage.ErrIntegrity) {
				t.Fatalf("Put of %d bytes told %d: error = %v, want ErrIntegrity", c.actual, c.told, err)
			}
			absent(t, s, key)

			if st, err := s.Stage(ctx, Content(10, c.actual), c.told); !errors.Is(err, storage.ErrIntegrity) {
				if err == nil {
					st.Discard(ctx)
				}
				t.Fatalf("Stage of %d bytes told %d: error = %v, want ErrIntegrity", c.actual, c.told, err)
			}

			key = "commit-" + c.name
			st, err := s.Stage(ctx, Content(10, c.actual), -1)
			if err != nil {
				t.Fatalf("Stage: %v", err)
			}
			defer st.Discard(ctx)
			if _, err := st.Commit(ctx, key, storage.PutOptions{Size: c.told}); !errors.Is(err, storage.ErrIntegrity) {
				t.Fatalf("Commit of %d bytes told %d: error = %v, want ErrIntegrity", c.actual, c.told, err)
			}
			absent(t, s, key)
			if err := st.Discard(ctx); err != nil {
				t.Fatalf("Discard: %v", err)
			}
			empty(t, s)
		})
	}
}

// vouching is content that reports its own SHA-256: a storage.SHA256Reader.
// It reports lie instead of the real digest when lie is set, and fails the
// test when asked for the digest before it has returned io.EOF.
type vouching struct {
	t   *testing.T
	r   io.Reader
	h   hash.Hash
	eof bool
	lie []byte
}

func newVouching(t *testing.T, r io.Reader, lie []byte) *vouching {
	return &vouching{t: t, r: r, h: sha256.New(), lie: lie}
}

func (v *vouching) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		v.eof = true
	}
	return n, err
}

func (v *vouching) SHA256() []byte {
	if !v.eof {
		v.t.Errorf("the store asked for the SHA-256 of content it had not read to the end")
	}
	if v.lie != nil {
		return v.lie
	}
	return v.h.Sum(nil)
}

var _ storage.SHA256Reader = (*vouching)(nil)

// testSHA256Reader checks content that vouches for its own SHA-256: it is
// stored like any other, PutOptions.SHA256 is checked against what it
// reports, and the store takes that report rather than hashing the bytes
// again (so a digest the content vouches for, even a wrong one, is what
// counts).
func testSHA256Reader(t *testing.T, s storage.Store) {
	wrong := sha256.Sum256([]byte("something else"))
	for _, size := range []int64{0, 100, LargeSize} {
		for _, unknown := range []bool{false, true} {
			told := size
			if unknown {
				told = -1
			}
			t.Run(fmt.Sprintf("%d/%d", size, told), func(t *testing.T) {
				ctx := ctxT(t)
				want := contentDigest(t, 13, size)
				key := fmt.Sprintf("put-%d-%d", size, told)
				if _, err := s.Put(ctx, key, newVouching(t, Content(13, size), nil), storage.PutOptions{Size: told, SHA256: want}); err != nil {
					t.Fatalf("Put: %v", err)
				}
				checkDigest(t, s, key, want, size)
				bad := key + "-wrong"
				_, err := s.Put(ctx, bad, newVouching(t, Content(13, size), nil), storage.PutOptions{Size: told, SHA256: wrong[:]})
				if !errors.Is(err, storage.ErrIntegrity) {
					t.Fatalf("Put with a wrong SHA-256: error = %v, want ErrIntegrity", err)
				}
				absent(t, s, bad)

				key = fmt.Sprintf("commit-%d-%d", size, told)
				st, err := s.Stage(ctx, newVouching(t, Content(13, size), nil), told)
				if err != nil {
					t.Fatalf("Stage: %v", err)
				}
				if _, err := st.Commit(ctx, key, storage.PutOptions{Size: size, SHA256: want}); err != nil {
					t.Fatalf("Commit: %v", err)
				}
				checkDigest(t, s, key, want, size)
				bad = key + "-wrong"
				st, err = s.Stage(ctx, newVouching(t, Content(13, size), nil), told)
				if err != nil {
					t.Fatalf("Stage: %v", err)
				}
				defer st.Discard(ctx)
				if _, err := st.Commit(ctx, bad, storage.PutOptions{Size: size, SHA256: wrong[:]}); !errors.Is(err, storage.ErrIntegrity) {
					t.Fatalf("Commit with a wrong SHA-256: error = %v, want ErrIntegrity", err)
				}
				absent(t, s, bad)

				// The store takes the content's word for it.
				key = fmt.Sprintf("vouched-%d-%d", size, told)
				if _, err := s.Put(ctx, key, newVouching(t, Content(13, size), wrong[:]), storage.PutOptions{Size: told, SHA256: wrong[:]}); err != nil {
					t.Fatalf("Put of content vouching for its SHA-256: %v; the store must not hash it again", err)
				}
				checkDigest(t, s, key, want, size)
				key += "-staged"
				st, err = s.Stage(ctx, newVouching(t, Content(13, size), wrong[:]), told)
				if err != nil {
					t.Fatalf("Stage: %v", err)
				}
				if _, err := st.Commit(ctx, key, storage.PutOptions{Size: size, SHA256: wrong[:]}); err != nil {
					t.Fatalf("Commit of content vouching for its SHA-256: %v; the store must not hash it again", err)
				}
				checkDigest(t, s, key, want, size)
			})
		}
	}
}

// failingReader yields n bytes of content, then fails with err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func testFailingReader(t *testing.T, s storage.Store) {
	for _, at := range []int64{0, 1000, LargeSize - 1000} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			ctx := ctxT(t)
			boom := errors.New("disk unplugged")
			for _, size := range []int64{-1, at + 2000} {
				key := fmt.Sprintf("put-%d", size)
				_, err := s.Put(ctx, key, &failingReader{Content(11, at), boom}, storage.PutOptions{Size: size})
				if !errors.Is(err, boom) {
					t.Fatalf("Put(size %d) from a reader failing after %d bytes: error = %v, want it to wrap the reader's error", size, at, err)
				}
				absent(t, s, key)
				st, err := s.Stage(ctx, &failingReader{Content(11, at), boom}, size)
				if !errors.Is(err, boom) {
					if err == nil {
						st.Discard(ctx)
					}
					t.Fatalf("Stage(size %d) from a reader failing after %d bytes: error = %v, want it to wrap the reader's error", size, at, err)
				}
			}
			empty(t, s)
		})
	}
}

// cancelingReader yields content and cancels its context once after bytes.
type cancelingReader struct {
	r      io.Reader
	after  int64
	cancel context.CancelFunc
	n      int64
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

func testCanceledContext(t *testing.T, s storage.Store) {
	for _, after := range []int64{1, 1000, LargeSize / 2, LargeSize - 1} {
		t.Run(fmt.Sprint(after), func(t *testing.T) {
			for _, size := range []int64{-1, LargeSize} {
				key := fmt.Sprintf("put-%d", size)
				ctx, cancel := context.WithCancel(ctxT(t))
				_, err := s.Put(ctx, key, &cancelingReader{r: Content(12, LargeSize), after: after, cancel: cancel}, storage.PutOptions{Size: size})
				cancel()
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Put(size %d) canceled after %d bytes: error = %v, want context.Canceled", size, after, err)
				}
				absent(t, s, key)

				ctx, cancel = context.WithCancel(ctxT(t))
				st, err := s.Stage(ctx, &cancelingReader{r: Content(12, LargeSize), after: after, cancel: cancel}, size)
				cancel()
				if !errors.Is(err, context.Canceled) {
					if err == nil {
						st.Discard(ctxT(t))
					}
					t.Fatalf("Stage(size %d) canceled after %d bytes: error = %v, want context.Canceled", size, after, err)
				}
			}
			// A Commit whose context is already canceled leaves nothing.
			st, err := s.Stage(ctxT(t), strings.NewReader("content"), -1)
			if err != nil {
				t.Fatalf("Stage: %v", err)
			}
			defer st.Discard(ctxT(t))
			ctx, cancel := context.WithCancel(ctxT(t))
			cancel()
			if _, err := st.Commit(ctx, "commit", storage.PutOptions{Size: -1}); !errors.Is(err, context.Canceled) {
				t.Fatalf("Commit with a canceled context: error = %v, want context.Canceled", err)
			}
			absent(t, s, "commit")
			if err := st.Discard(ctxT(t)); err != nil {
				t.Fatalf("Discard: %v", err)
			}
			empty(t, s)
		})
	}
}

const writers = 8

// race runs fn(i) for i in [0, writers) at the same moment and returns the errors.
func race(fn func(i int) error) []error {
	errs := make([]error, writers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range writers {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

// oneWinner checks that exactly one error is nil and the rest are ErrExists,
// and returns the winner's index.
func oneWinner(t *testing.T, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both succeeded on the same key", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrExists):
			t.Fatalf("writer %d: error = %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer succeeded: %v", errs)
	}
	return winner
}

func testConcurrentSameKey(t *testing.T, s storage.Store) {
	for _, size := range []int64{100, LargeSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ctx := ctxT(t)
			key := fmt.Sprintf("contended-%d", size)
			errs := race(func(i int) error {
				_, err := s.Put(ctx, key, Content(uint64(1000+i), size), storage.PutOptions{Size: size})
				return err
			})
			w := oneWinner(t, errs)
			checkDigest(t, s, key, contentDigest(t, uint64(1000+w), size), size)
			if got := keys(t, s, key); !slices.Equal(got, []string{key}) {
				t.Fatalf("List = %q, want only the contended key", got)
			}
		})
	}
}

func testConcurrentCommitSameKey(t *testing.T, s storage.Store) {
	for _, size := range []int64{100, LargeSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ctx := ctxT(t)
			staged := make([]storage.Staged, writers)
			for i := range staged {
				st, err := s.Stage(ctx, Content(uint64(2000+i), size), size)
				if err != nil {
					t.Fatalf("Stage: %v", err)
				}
				defer st.Discard(ctx)
				staged[i] = st
			}
			key := fmt.Sprintf("contended-%d", size)
			errs := race(func(i int) error {
				_, err := staged[i].Commit(ctx, key, storage.PutOptions{Size: size})
				return err
			})
			w := oneWinner(t, errs)
			checkDigest(t, s, key, contentDigest(t, uint64(2000+w), size), size)
			for _, st := range staged {
				if err := st.Discard(ctx); err != nil {
					t.Fatalf("Discard: %v", err)
				}
			}
			if got := keys(t, s, key); !slices.Equal(got, []string{key}) {
				t.Fatalf("List = %q, want only the contended key", got)
			}
		})
	}
}

func testConcurrentDifferentKeys(t *testing.T, s storage.Store) {
	ctx := ctxT(t)
	const size = 64 << 10
	errs := race(func(i int) error {
		_, err := s.Put(ctx, fmt.Sprintf("k/%d", i), Content(uint64(3000+i), size), storage.PutOptions{Size: -1})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	for i := range writers {
		checkDigest(t, s, fmt.Sprintf("k/%d", i), contentDigest(t, uint64(3000+i), size), size)
	}
	if got := keys(t, s, "k/"); len(got) != writers {
		t.Fatalf("List = %q, want %d keys", got, writers)
	}
}

func testLocation(t *testing.T, s storage.Store) {
	loc := s.Location()
	if !strings.Contains(loc, "://") {
		t.Fatalf("Location() = %q, want a URL", loc)
	}
	if _, err := s.Capabilities(ctxT(t)); err != nil {
		t.Fatalf("Capabilities: %v", err)
	}
}

// Wrap returns s behind a decorator that implements nothing but
// storage.Store and storage.Wrapper, as a retry or rate-limit layer would
// at first: tests run it through the suite and through what relies on
// optional capabilities (grouped sync, the custody log's compare-and-swap)
// to prove that those are still found.
func Wrap(s storage.Store) storage.Store { return wrapped{s} }

type wrapped struct{ s storage.Store }

func (w wrapped) Unwrap() storage.Store { return w.s }
func (w wrapped) Location() string      { return w.s.Location() }
func (w wrapped) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	return w.s.Put(ctx, key, r, opts)
}
func (w wrapped) Stage(ctx context.Context, r io.Reader, size int64) (storage.Staged, error) {
	return w.s.Stage(ctx, r, size)
}
func (w wrapped) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return w.s.Get(ctx, key)
}
func (w wrapped) Stat(ctx context.Context, key string) (storage.Object, error) {
	return w.s.Stat(ctx, key)
}
func (w wrapped) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	return w.s.List(ctx, prefix, fn)
}
func (w wrapped) Capabilities(ctx context.Context) (storage.Capabilities, error) {
	return w.s.Capabilities(ctx)
}
