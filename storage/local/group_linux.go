package local

import (
	"os"

	"golang.org/x/sys/unix"
)

const syncFSSupported = true

// newSyncFS returns a function that writes out everything written to the
// file system holding dir and reports write-back errors (Linux 5.8 and
// later do), and one that closes the folder it keeps open meanwhile. The
// kernel reports an error once to each open file, and to a file opened
// later only when nobody has seen it yet, so the folder stays open while
// syncs follow each other; it is closed when they stop, so that an idle
// store holds nothing open (the file system can be unmounted).
func newSyncFS(dir string) (sync func() error, release func()) {
	var f *os.File
	sync = func() error {
		if f == nil {
			var err error
			if f, err = os.Open(dir); err != nil {
				return err
			}
		}
		return unix.Syncfs(int(f.Fd()))
	}
	release = func() {
		if f != nil {
			f.Close()
			f = nil
		}
	}
	return sync, release
}
