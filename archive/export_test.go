package archive_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/internal/archivetest"
	"github.com/openexhibit/exhibit/verify"
)

// TestItemsEventsForeignPointer: a pointer planted under one item that
// names another item's events (entries the log does hold) is tampering:
// an export would otherwise disclose the other item's custody.
func TestItemsEventsForeignPointer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := archivetest.New(t, dir, nil)
	var ids []hashing.Digest
	for _, name := range []string{"a.txt", "b.txt"} {
		file := filepath.Join(dir, name)
		os.WriteFile(file, []byte("evidence "+name), 0o600)
		rep, err := a.Ingest(ctx, archive.IngestOptions{}, []string{file})
		if err != nil || rep.Results[0].Err != nil {
			t.Fatal(err, rep.Results[0].Err)
		}
		id, _ := hashing.ParseDigest(rep.Results[0].Item)
		ids = append(ids, id)
	}
	n := 0
	if _, err := a.ItemsEvents(ctx, ids, func(id hashing.Digest, evs []archive.LoggedEvent) error {
		n += len(evs)
		return nil
	}); err != nil || n == 0 {
		t.Fatalf("%d events, %v", n, err)
	}
	// b's pointer, copied under a.
	bp := filepath.Join(dir, "archive", strings.TrimSuffix(verify.PointerPrefix(ids[1]), "/"))
	entries, _ := os.ReadDir(bp)
	data, _ := os.ReadFile(filepath.Join(bp, entries[0].Name()))
	ap := filepath.Join(dir, "archive", strings.TrimSuffix(verify.PointerPrefix(ids[0]), "/"), entries[0].Name())
	if err := os.WriteFile(ap, data, 0o444); err != nil {
		t.Fatal(err)
	}
	_, err := a.ItemsEvents(ctx, ids[:1], func(hashing.Digest, []archive.LoggedEvent) error { return nil })
	if archive.KindOf(err) != archive.KindTampered || !strings.Contains(err.Error(), "not of "+ids[0].String()) {
		t.Fatalf("%v (kind %v), want tampering", err, archive.KindOf(err))
	}
}
