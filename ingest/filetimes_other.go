//go:build !linux

package ingest

import (
	"os"

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
