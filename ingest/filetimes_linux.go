package ingest

import (
	"os"
	"syscall"
	"time"

	"github.com/openexhibit/exhibit/custody"
	"golang.org/x/sys/unix"
)

// fileTimes reads modification, access, change and (where the file system
// keeps it) birth time of an open file.
func fileTimes(f *os.File) custody.FileTimes {
	var stx unix.Statx_t
	err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &stx)
	if err != nil {
		fi, err := f.Stat()
		if err != nil {
			return custody.FileTimes{}
		}
		m := fi.ModTime().UTC()
		return custody.FileTimes{Modified: &m}
	}
	ts := func(t unix.StatxTimestamp) *time.Time {
		v := time.Unix(t.Sec, int64(t.Nsec)).UTC()
		return &v
	}
	ft := custody.FileTimes{Modified: ts(stx.Mtime), Accessed: ts(stx.Atime), Changed: ts(stx.Ctime)}
	if stx.Mask&unix.STATX_BTIME != 0 {
		ft.Birth = ts(stx.Btime)
	}
	return ft
}

// changeTime is the file's status change time (ctime), which every write
// advances and which, unlike the modification time, no system call can set
// back: a file rewritten during the read with its mtime restored still
// shows a new ctime. ok is false when it is unknown.
func changeTime(fi os.FileInfo) (t time.Time, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(st.Ctim.Sec, st.Ctim.Nsec), true
}
