package local

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing the range [off, off+n) of
// the file behind c to disk, without waiting for it. A large write then
// reaches the disk while it is still being read and hashed, and the fsync
// at its end finds little left to do. It is only a hint: the fsync is what
// makes the content durable, so errors are ignored.
func startWriteback(c syscall.Conn, off, n int64) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
