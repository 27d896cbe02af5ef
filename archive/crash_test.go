package archive_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/internal/archivetest"
	"github.com/openexhibit/exhibit/verify"
)

// TestLoggedWithoutPointers: a run killed after its custody events were
// appended but before their pointers were written leaves an item whose
// pointers name no ingested event. The next ingest of the same bytes finds
// the events in the log and writes their pointers; it does not log a
// second ingested event.
func TestLoggedWithoutPointers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := archivetest.New(t, dir, nil)
	file := filepath.Join(dir, "statement.txt")
	os.WriteFile(file, []byte("a witness statement\n"), 0o644)
	rep, err := a.Ingest(ctx, archive.IngestOptions{}, []string{file})
	if err != nil || rep.Logged == 0 {
		t.Fatalf("ingest: %v, %d logged", err, rep.Logged)
	}
	id, _ := hashing.ParseDigest(rep.Results[0].Item)
	ingested := func() int {
		ev, err := a.Events(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range ev.Events {
			if e.Event.Type == "ingested" && e.Event.Item == id.String() {
				n++
			}
		}
		return n
	}
	// The pointers, as if the run had died before writing them.
	pointers := filepath.Join(dir, "archive", "items", id.Hex(), "log")
	os.Chmod(pointers, 0o755)
	if err := os.RemoveAll(pointers); err != nil {
		t.Fatal(err)
	}
	rep, err = a.Ingest(ctx, archive.IngestOptions{}, []string{file})
	if err != nil || rep.Results[0].Status != ingest.Exists {
		t.Fatalf("again: %v %+v", err, rep.Results)
	}
	if n := ingested(); n != 1 || rep.Logged != 0 {
		t.Fatalf("%d ingested events in the log (%d logged again), want 1", n, rep.Logged)
	}
	res, err := a.Verify(ctx, archive.Selection{Items: []archive.Target{{ID: id}}}, archive.VerifyOptions{}, func(*verify.ItemReport) {})
	if err != nil || res.Report.Status == verify.Fail {
		t.Fatalf("verify after the pointers were rewritten: %v %+v", err, res.Report.Items)
	}
}
