//go:build !unix

package local

import (
	"errors"
	"os"
)

const noFollow = 0

// tryLock fails: mutable objects need flock(2), which this system lacks.
func tryLock(f *os.File) (bool, error) {
	return false, errors.New("mutable objects need flock(2), which this system does not have")
}

func unlockFile(f *os.File) error { return nil }
