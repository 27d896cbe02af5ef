//go:build !unix

package local

import (
	"errors"
	"os"

	"github.com/openexhibit/exhibit/storage"
)

// openFlags: this system's open cannot refuse a symbolic link; checkNotLink
// does instead.
const openFlags = 0

// checkNotLink reports storage.ErrNotFound unless path itself, not a
// symbolic link there, is the regular file fi that was opened.
func checkNotLink(path string, fi os.FileInfo) error {
	li, err := os.Lstat(path)
	if err != nil {
		return mapLookupError(err)
	}
	if !li.Mode().IsRegular() || !os.SameFile(li, fi) {
		return storage.ErrNotFound
	}
	return nil
}

// tryLock fails: mutable objects need flock(2), which this system lacks.
func tryLock(f *os.File) (bool, error) {
	return false, errors.New("mutable objects need flock(2), which this system does not have")
}

func unlockFile(f *os.File) error { return nil }
