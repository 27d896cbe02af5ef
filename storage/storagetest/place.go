package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/storage"
)

// placeTest runs fn on stores that place large content at its final key
// (storage.Placer, found through wrappers too), with content of
// LargeSize placed at "placed/one", and skips the other stores and stores
// that keep content of that size in memory (then StageAt returns no
// storage.Placed).
func placeTest(fn func(t *testing.T, s storage.Store, pl storage.Placer, p storage.Placed)) func(t *testing.T, s storage.Store) {
	return func(t *testing.T, s storage.Store) {
		pl, ok := storage.As[storage.Placer](s)
		if !ok {
			t.Skipf("%T does not implement storage.Placer", s)
		}
		st, err := pl.StageAt(ctxT(t), "placed/one", Content(21, LargeSize), -1)
		if err != nil {
			t.Fatalf("StageAt: %v", err)
		}
		p, ok := st.(storage.Placed)
		if !ok {
			st.Discard(ctxT(t))
			t.Skipf("%T keeps %d bytes in memory", s, LargeSize)
		}
		fn(t, s, pl, p)
	}
}

var placeLink = []byte(`{"key":"placed/one"}` + "\n")

func placeOpts(t *testing.T) storage.PutOptions {
	return storage.PutOptions{Size: LargeSize, SHA256: contentDigest(t, 21, LargeSize)}
}

// testPlaceKeep: the content lies at its key before Keep, and after Keep
// with the link beside it; nothing else is listed.
func testPlaceKeep(t *testing.T, s storage.Store, _ storage.Placer, p storage.Placed) {
	ctx := ctxT(t)
	if p.Key() != "placed/one" || p.Size() != LargeSize {
		t.Fatalf("Placed at %q with %d bytes, want placed/one with %d", p.Key(), p.Size(), LargeSize)
	}
	if _, err := p.Keep(ctx, "link/one", placeLink, placeOpts(t)); err != nil {
		t.Fatalf("Keep: %v", err)
	}
	if err := p.Discard(ctx); err != nil {
		t.Fatalf("Discard after Keep: %v", err)
	}
	checkDigest(t, s, "placed/one", contentDigest(t, 21, LargeSize), LargeSize)
	if got := string(getBytes(t, s, "link/one")); got != string(placeLink) {
		t.Fatalf("link holds %q, want %q", got, placeLink)
	}
	if got := keys(t, s, ""); len(got) != 2 || got[0] != "link/one" || got[1] != "placed/one" {
		t.Fatalf("List = %q, want the link and the content only", got)
	}
	if _, err := p.Keep(ctx, "link/two", placeLink, placeOpts(t)); err == nil {
		t.Fatal("a second Keep succeeded")
	}
	absent(t, s, "link/two")
}

// testPlaceDuplicate: Keep with a link that exists (the same bytes kept
// before) removes the content and reports ErrExists.
func testPlaceDuplicate(t *testing.T, s storage.Store, pl storage.Placer, p storage.Placed) {
	ctx := ctxT(t)
	if _, err := p.Keep(ctx, "link/one", placeLink, placeOpts(t)); err != nil {
		t.Fatalf("Keep: %v", err)
	}
	st, err := pl.StageAt(ctx, "placed/two", Content(21, LargeSize), LargeSize)
	if err != nil {
		t.Fatalf("StageAt again: %v", err)
	}
	if _, err := st.(storage.Placed).Keep(ctx, "link/one", []byte(`{"key":"placed/two"}`), placeOpts(t)); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("Keep of a duplicate: %v, want ErrExists", err)
	}
	absent(t, s, "placed/two")
	if got := string(getBytes(t, s, "link/one")); got != string(placeLink) {
		t.Fatalf("link holds %q, want the first one", got)
	}
}

// testPlaceRefused: Keep of content other than announced, Discard, and
// StageAt at a key that exists leave nothing new.
func testPlaceRefused(t *testing.T, s storage.Store, pl storage.Placer, p storage.Placed) {
	ctx := ctxT(t)
	wrong := placeOpts(t)
	wrong.SHA256 = contentDigest(t, 22, LargeSize)
	if _, err := p.Keep(ctx, "link/one", placeLink, wrong); !errors.Is(err, storage.ErrIntegrity) {
		t.Fatalf("Keep with another SHA-256: %v, want ErrIntegrity", err)
	}
	empty(t, s)
	st, err := pl.StageAt(ctx, "placed/one", Content(21, LargeSize), LargeSize)
	if err != nil {
		t.Fatalf("StageAt: %v", err)
	}
	if err := st.Discard(ctx); err != nil {
		t.Fatalf("Discard: %v", err)
	}
	empty(t, s)
	putBytes(t, s, "taken", []byte("evidence"))
	if _, err := pl.StageAt(ctx, "taken", Content(21, LargeSize), LargeSize); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("StageAt at an existing key: %v, want ErrExists", err)
	}
	if got := string(getBytes(t, s, "taken")); got != "evidence" {
		t.Fatalf("the existing object holds %q", got)
	}
}

// testPlaceCrash: a placement that stopped before its link was written is
// removed by CleanupStale; one that was kept stays.
func testPlaceCrash(t *testing.T, s storage.Store, pl storage.Placer, p storage.Placed) {
	ctx := ctxT(t)
	if _, err := p.Keep(ctx, "link/one", placeLink, placeOpts(t)); err != nil {
		t.Fatalf("Keep: %v", err)
	}
	if _, err := pl.StageAt(ctx, "placed/two", Content(23, LargeSize), -1); err != nil {
		t.Fatalf("StageAt: %v", err)
	}
	// Neither Keep nor Discard: the process stopped.
	time.Sleep(1100 * time.Millisecond) // server times have one-second resolution
	if err := storage.CleanupStale(ctx, s, 0); err != nil {
		t.Fatalf("CleanupStale: %v", err)
	}
	absent(t, s, "placed/two")
	checkDigest(t, s, "placed/one", contentDigest(t, 21, LargeSize), LargeSize)
	if got := keys(t, s, ""); len(got) != 2 {
		t.Fatalf("List = %q, want the kept content and its link", got)
	}
}
