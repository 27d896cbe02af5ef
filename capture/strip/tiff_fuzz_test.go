package strip

import (
	"bytes"
	"context"
	"encoding/binary"
	"path/filepath"
	"slices"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// FuzzStripTIFF: no panic on any input; a copy that succeeds re-parses
// without problems, is bounded in size, and stripping it again gives the
// same bytes.
func FuzzStripTIFF(f *testing.F) {
	for _, n := range []string{"geo4326.tif", "cog-utm33n.tif", "big-utm37s.tif", "plain.tif"} {
		f.Add(readFile(f, filepath.Join("..", "geo", "testdata", n)))
	}
	f.Add(readFile(f, "../photo/testdata/lens.tif"))
	f.Add(synthDNG(f, binary.BigEndian))
	f.Add(synthCamera(f, binary.LittleEndian, false))
	f.Add(synthCamera(f, binary.LittleEndian, true))
	f.Add(synthPages(f))
	f.Add(synthShared(f))
	all := Profile{Name: "all", Keep: slices.Clone(Groups)}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range []Profile{Default, all} {
			var out bytes.Buffer
			_, err := Strip(context.Background(), bytes.NewReader(b), int64(len(b)), TIFF, p, &out)
			if err != nil {
				continue
			}
			o := out.Bytes()
			if len(o) > 2*len(b)+(64<<20) {
				t.Fatalf("copy of %d bytes from %d", len(o), len(b))
			}
			tf, err := tiff.Open(bytes.NewReader(o), int64(len(o)), tiffLimits)
			if err != nil {
				t.Fatalf("copy does not parse: %v", err)
			}
			w, err := tf.Walk(tiff.ExifPointers)
			if err != nil || len(w.Problems) != 0 {
				t.Fatalf("copy: %v %v", err, w.Problems)
			}
			var again bytes.Buffer
			if _, err := Strip(context.Background(), bytes.NewReader(o), int64(len(o)), TIFF, p, &again); err != nil || !bytes.Equal(again.Bytes(), o) {
				t.Fatalf("not idempotent: %v", err)
			}
		}
	})
}
