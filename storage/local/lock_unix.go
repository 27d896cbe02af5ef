//go:build unix

package local

import (
	"errors"
	"os"
	"syscall"
)

// noFollow keeps Load from following a symbolic link out of the store.
const noFollow = syscall.O_NOFOLLOW

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
