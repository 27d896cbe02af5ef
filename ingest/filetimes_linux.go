package ingest

import (
	"os"
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
