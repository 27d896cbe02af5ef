// Package archivetest makes archives for the tests of the packages built
// on the archive API.
package archivetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openexhibit/exhibit/archive"
)

// Passphrase encrypts the keys of the archives New makes.
const Passphrase = "test passphrase"

// New creates an archive in the folder dir/archive, with its home folder
// in dir/home and its keys encrypted with Passphrase, and opens it. mod,
// when not nil, changes the options first (a TSA, an operator).
func New(t testing.TB, dir string, mod func(*archive.Options)) *archive.Archive {
	t.Helper()
	ctx := context.Background()
	loc, err := archive.ParseLocation(filepath.Join(dir, "archive"))
	if err != nil {
		t.Fatal(err)
	}
	opts := archive.Options{Location: loc, Home: filepath.Join(dir, "home"), Credentials: archive.Passphrase(Passphrase)}
	if mod != nil {
		mod(&opts)
	}
	created, err := archive.Create(ctx, archive.CreateOptions{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	opts.Key = created.KeyRef
	a, err := archive.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
