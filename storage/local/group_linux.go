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

// zfsSuperMagic is ZFS's file system type (OpenZFS on Linux).
const zfsSuperMagic = 0x2fc12fc1

// groupable reports whether dir is on a local file system whose syncfs
// writes out all of it: ext2/3/4, XFS, Btrfs, F2FS, ZFS, tmpfs, and
// overlayfs (containers), whose syncfs syncs the file system below. On others
// (NFS, SMB, FUSE mounts), syncfs may not reach the server, so the store
// keeps an fsync per write there.
func groupable(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.F2FS_SUPER_MAGIC,
		zfsSuperMagic, unix.TMPFS_MAGIC, unix.OVERLAYFS_SUPER_MAGIC:
		return true
	}
	return false
}
