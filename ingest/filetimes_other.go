//go:build !linux

package ingest

import (
	"os"
	"time"

	"github.com/openexhibit/exhibit/custody"
)

func fileTimes(f *os.File) custody.FileTimes {
	fi, err := f.Stat()
	if err != nil {
		return custody.FileTimes{}
	}
	m := fi.ModTime().UTC()
	return custody.FileTimes{Modified: &m}
}

// changeTime is the file's status change time where this build knows how
// to read it; elsewhere only size, identity and modification time are
// compared (docs/guarantees.md).
func changeTime(os.FileInfo) (time.Time, bool) { return time.Time{}, false }

// mountTable names no device where this build cannot read it.
type mountTable struct{}

func (*mountTable) device(os.FileInfo, string) *custody.Device { return nil }
