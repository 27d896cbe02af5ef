//go:build unix

package local

import (
	"errors"
	"os"
	"syscall"
)

// openFlags make openRegular refuse a symbolic link (ELOOP), which could
// lead out of the store, and not wait for a writer on a FIFO.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// checkNotLink has nothing to check here: with O_NOFOLLOW the opened file
// is path itself, not what a link there points to.
func checkNotLink(string, os.FileInfo) error { return nil }

// tryLock takes an exclusive flock(2) on f without waiting, and reports
// whether it got it.
func tryLock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, syscall.EINTR):
			continue
		default:
			return false, err
		}
	}
}

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
