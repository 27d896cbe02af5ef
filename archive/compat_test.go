package archive_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/verify"
)

// TestVersion1Archive: an archive written by the first release (records of
// predicate custody-record/v1, its custody log, its trust file; made by
// `exhibit init --insecure-no-password` and `exhibit ingest` of a PNG and
// a text file, signing key removed) still verifies, item by item and
// against its log, and its records still show. A byte changed in one of
// its objects fails it, so the test can tell.
func TestVersion1Archive(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T) (*archive.Archive, string) {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "v1"))); err != nil {
			t.Fatal(err)
		}
		loc, err := archive.ParseLocation(filepath.Join(dir, "archive"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := archive.Open(ctx, archive.Options{Location: loc, Home: dir})
		if err != nil {
			t.Fatal(err)
		}
		return a, dir
	}
	verdicts := func(t *testing.T, a *archive.Archive) map[string]verify.Verdict {
		res, err := a.Verify(ctx, archive.Selection{All: true}, archive.VerifyOptions{}, func(*verify.ItemReport) {})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]verify.Verdict{}
		for _, ir := range res.Report.Items {
			out[ir.Name] = ir.Verdict
		}
		return out
	}
	t.Run("verifies", func(t *testing.T) {
		a, _ := open(t)
		got := verdicts(t, a)
		if len(got) != 2 || got["lens.png"] != verify.Intact || got["statement.txt"] != verify.Intact {
			t.Fatalf("verdicts %v, want lens.png and statement.txt intact", got)
		}
		items, err := archive.List(ctx, a.Store(), "fixture-v1")
		if err != nil || len(items) != 2 {
			t.Fatalf("list: %v, %v", items, err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		a, dir := open(t)
		obj := filepath.Join(dir, "archive", "objects", "sha256", "c7", "c719b861cbddb09342cfb5ec9f4e3f5b63234c8cd5ee61f2990e1401cc201ebe")
		if err := os.Chmod(obj, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(obj, []byte("witness statement, page 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := verdicts(t, a); got["statement.txt"] == verify.Intact || got["lens.png"] != verify.Intact {
			t.Fatalf("verdicts %v after the statement's bytes changed", got)
		}
	})
}
