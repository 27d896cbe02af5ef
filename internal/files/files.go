// Package files writes the small files of a home folder (keys, trust
// files, the configuration) durably: synced before they are reported
// written, and never half-written under their name.
//
// This package must not import anything else from this module.
package files

import (
	"io/fs"
	"os"
)

// WriteNew writes a new file and syncs it; it refuses to replace an
// existing one (the error wraps fs.ErrExist) and leaves nothing behind
// when it fails.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// Replace writes a file atomically: a synced temporary file renamed over
// path, so that path holds the old content or the new, complete.
func Replace(path string, data []byte, perm fs.FileMode) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := WriteNew(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
