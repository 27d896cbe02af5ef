package archive_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/storage/storagetest"
	"github.com/openexhibit/exhibit/verify"
)

// TestWrappedStore: an archive on a store behind a decorator that knows
// nothing of grouped sync or compare-and-swap still keeps its custody log
// and verifies: the capabilities are found through the decorator.
func TestWrappedStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := local.Create(filepath.Join(dir, "archive"), local.GroupCommit())
	if err != nil {
		t.Fatal(err)
	}
	opts := archive.Options{Store: storagetest.Wrap(st), Home: filepath.Join(dir, "home")}
	created, err := archive.Create(ctx, archive.CreateOptions{Options: opts, InsecureNoPassword: true})
	if err != nil {
		t.Fatal(err)
	}
	if created.Log == "" {
		t.Fatal("no custody log created on the wrapped store")
	}
	opts.Key = created.KeyRef
	a, err := archive.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(file, []byte("evidence"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := a.Ingest(ctx, archive.IngestOptions{}, []string{file})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(ingest.Archived) != 1 || rep.NoLog || rep.LogErr != nil || rep.SyncErr != nil || rep.Logged != 3 {
		t.Fatalf("ingest: %d archived, no log %v, %d events logged, log error %v, sync error %v",
			rep.Count(ingest.Archived), rep.NoLog, rep.Logged, rep.LogErr, rep.SyncErr)
	}
	// The archive's own folder is never ingested, though the store was
	// given as a (wrapped) store rather than a location.
	self, err := a.Ingest(ctx, archive.IngestOptions{}, []string{filepath.Join(dir, "archive")})
	if err != nil || len(self.Results) != 1 || self.Results[0].Status != ingest.Skipped {
		t.Fatalf("ingest of the archive folder: %+v, %v", self, err)
	}
	res, err := a.Verify(ctx, archive.Selection{All: true}, archive.VerifyOptions{}, func(*verify.ItemReport) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Items) != 1 || res.Report.Items[0].Verdict != verify.Intact || res.LogErr != nil {
		t.Fatalf("verify: %+v, log error %v", res.Report.Items, res.LogErr)
	}
	evs, err := a.Events(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Events) != 4 { // three of the ingest, one of the verification run
		t.Fatalf("%d events in the log, want 4", len(evs.Events))
	}
}
