package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/openexhibit/exhibit/storage"
)

// swapTest runs fn on stores that keep mutable objects (storage.Swapping,
// which also finds the Swapper of a wrapped store) and skips the others
// (the interface is optional).
func swapTest(fn func(t *testing.T, s storage.Store, sw storage.Swapper)) func(t *testing.T, s storage.Store) {
	return func(t *testing.T, s storage.Store) {
		sw, ok := storage.Swapping(s)
		if !ok {
			t.Skipf("%T does not implement storage.Swapper", s)
		}
		fn(t, s, sw)
	}
}

const swapLimit = 1 << 16

func load(t *testing.T, sw storage.Swapper, key string) ([]byte, storage.Version) {
	t.Helper()
	data, v, err := sw.Load(ctxT(t), key, swapLimit)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	if v == storage.NoVersion {
		t.Fatalf("Load(%q) returned NoVersion for an existing object", key)
	}
	return data, v
}

func swap(t *testing.T, sw storage.Swapper, key string, old storage.Version, data string) storage.Version {
	t.Helper()
	v, err := sw.Swap(ctxT(t), key, old, []byte(data), storage.SwapOptions{})
	if err != nil {
		t.Fatalf("Swap(%q, %q): %v", key, old, err)
	}
	if v == storage.NoVersion {
		t.Fatalf("Swap(%q) returned NoVersion", key)
	}
	return v
}

func wantConflict(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("%s: error = %v, want ErrConflict", what, err)
	}
}

func testSwapRoundTrip(t *testing.T, s storage.Store, sw storage.Swapper) {
	ctx := ctxT(t)
	const key = "log/checkpoint"
	if _, _, err := sw.Load(ctx, key, swapLimit); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Load of a missing object: %v, want ErrNotFound", err)
	}
	v1 := swap(t, sw, key, storage.NoVersion, "one")
	data, got := load(t, sw, key)
	if string(data) != "one" || got != v1 {
		t.Fatalf("Load = %q at %q, want %q at %q", data, got, "one", v1)
	}
	v2 := swap(t, sw, key, v1, "two, longer")
	if v2 == v1 {
		t.Fatalf("new content kept version %q", v1)
	}
	data, got = load(t, sw, key)
	if string(data) != "two, longer" || got != v2 {
		t.Fatalf("Load = %q at %q, want %q at %q", data, got, "two, longer", v2)
	}
	v3 := swap(t, sw, key, v2, "3")
	// Get, Stat and List see the mutable object like any other.
	if b := getBytes(t, s, key); string(b) != "3" {
		t.Fatalf("Get = %q, want %q", b, "3")
	}
	if obj, err := s.Stat(ctx, key); err != nil || obj.Size != 1 {
		t.Fatalf("Stat = %+v, %v; want size 1", obj, err)
	}
	if got := keys(t, s, ""); len(got) != 1 || got[0] != key {
		t.Fatalf("List = %q, want only %q (no temporary or lock objects)", got, key)
	}
	if _, v := load(t, sw, key); v != v3 {
		t.Fatalf("version %q, want %q", v, v3)
	}
	// Empty content is content too.
	v4 := swap(t, sw, key, v3, "")
	if data, v := load(t, sw, key); len(data) != 0 || v != v4 {
		t.Fatalf("Load = %q at %q, want empty at %q", data, v, v4)
	}
}

func testSwapConflicts(t *testing.T, s storage.Store, sw storage.Swapper) {
	ctx := ctxT(t)
	const key = "m/head"
	_, err := sw.Swap(ctx, key, storage.Version("made-up"), []byte("x"), storage.SwapOptions{})
	wantConflict(t, err, "Swap of a missing object from a version")
	absent(t, s, key)

	v1 := swap(t, sw, key, storage.NoVersion, "first")
	_, err = sw.Swap(ctx, key, storage.NoVersion, []byte("second"), storage.SwapOptions{})
	wantConflict(t, err, "create over an existing object")
	v2 := swap(t, sw, key, v1, "second")
	_, err = sw.Swap(ctx, key, v1, []byte("stale"), storage.SwapOptions{})
	wantConflict(t, err, "Swap from a stale version")
	_, err = sw.Swap(ctx, key, storage.Version("made-up"), []byte("made-up"), storage.SwapOptions{})
	wantConflict(t, err, "Swap from a made-up version")
	if data, v := load(t, sw, key); string(data) != "second" || v != v2 {
		t.Fatalf("after refused swaps: %q at %q, want %q at %q", data, v, "second", v2)
	}

	// A write-once object is not created over a mutable one, and cannot
	// be created at a mutable key that exists.
	if _, err := s.Put(ctx, key, bytes.NewReader([]byte("p")), storage.PutOptions{Size: 1}); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("Put over a mutable object: %v, want ErrExists", err)
	}
	putBytes(t, s, "m/once", []byte("once"))
	_, err = sw.Swap(ctx, "m/once", storage.NoVersion, []byte("x"), storage.SwapOptions{})
	wantConflict(t, err, "create over a write-once object")
}

func testSwapLimits(t *testing.T, s storage.Store, sw storage.Swapper) {
	ctx := ctxT(t)
	v := swap(t, sw, "big", storage.NoVersion, string(bytes.Repeat([]byte("x"), 100)))
	if _, _, err := sw.Load(ctx, "big", 99); err == nil {
		t.Fatal("Load read an object over its limit")
	}
	if data, got, err := sw.Load(ctx, "big", 100); err != nil || len(data) != 100 || got != v {
		t.Fatalf("Load at exactly the limit: %d bytes, %v", len(data), err)
	}
	for _, key := range []string{"", "/abs", "a/../b", ".tmp/x", "a//b"} {
		if _, err := sw.Swap(ctx, key, storage.NoVersion, []byte("x"), storage.SwapOptions{}); err == nil {
			t.Errorf("Swap accepted invalid key %q", key)
		}
		if _, _, err := sw.Load(ctx, key, 10); err == nil {
			t.Errorf("Load accepted invalid key %q", key)
		}
	}
}

// testSwapRace has writers race to swap the same version, round after
// round: exactly one wins each round, and the object holds its content.
func testSwapRace(t *testing.T, s storage.Store, sw storage.Swapper) {
	ctx := ctxT(t)
	const key = "race/head"
	old := storage.NoVersion
	for round := range 5 {
		versions := make([]storage.Version, writers)
		errs := race(func(i int) error {
			v, err := sw.Swap(ctx, key, old, []byte(fmt.Sprintf("round %d writer %d", round, i)), storage.SwapOptions{})
			versions[i] = v
			return err
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both won", round, winner, i)
			case err == nil:
				winner = i
			default:
				wantConflict(t, err, fmt.Sprintf("round %d writer %d", round, i))
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", round)
		}
		data, v := load(t, sw, key)
		if want := fmt.Sprintf("round %d writer %d", round, winner); string(data) != want || v != versions[winner] {
			t.Fatalf("round %d: object holds %q at %q, want %q at %q", round, data, v, want, versions[winner])
		}
		old = v
	}
}

// testSwapCounter has writers increment a shared counter with
// read-modify-swap loops: no increment may be lost or counted twice.
func testSwapCounter(t *testing.T, s storage.Store, sw storage.Swapper) {
	ctx := ctxT(t)
	const key = "counter"
	const each = 6
	swap(t, sw, key, storage.NoVersion, "0")
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				data, v, err := sw.Load(ctx, key, swapLimit)
				if err != nil {
					errs <- err
					return
				}
				n, err := strconv.Atoi(string(data))
				if err != nil {
					errs <- fmt.Errorf("counter holds %q", data)
					return
				}
				_, err = sw.Swap(ctx, key, v, []byte(strconv.Itoa(n+1)), storage.SwapOptions{})
				switch {
				case err == nil:
					done++
				case !errors.Is(err, storage.ErrConflict):
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if data, _ := load(t, sw, key); string(data) != strconv.Itoa(writers*each) {
		t.Fatalf("counter = %s, want %d", data, writers*each)
	}
}
