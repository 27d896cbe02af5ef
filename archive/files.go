package archive

import (
	"io/fs"
	"os"
)

// writeFileExcl writes a new file durably; it refuses to replace an
// existing one.
func writeFileExcl(path string, data []byte, perm fs.FileMode) error {
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

// replaceFile writes a file atomically (temp + fsync + rename).
func replaceFile(path string, data []byte, perm fs.FileMode) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := writeFileExcl(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
