package strip

import (
	"bytes"
	"slices"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// FuzzKeptEXIF: no panic; a kept block re-parses, is small whatever the
// input declares, and keeping it again gives the same bytes.
func FuzzKeptEXIF(f *testing.F) {
	f.Add(testfiles.Read(f, testfiles.GoExif, "assets/NDM_8901.jpg.exif"))
	f.Add(app1EXIF(f, testfiles.Read(f, testfiles.GoExif, "assets/gps.jpg")))
	f.Add(app1EXIF(f, testfiles.Read(f, testfiles.GoExifRW, "exif/samples/has-lens-info.jpg")))
	f.Add(app1EXIF(f, testfiles.Read(f, testfiles.GoExifRW, "exif/samples/geodegrees_as_string.jpg")))
	all := Profile{Name: "all", Keep: slices.Clone(Groups)}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range []Profile{all, Default, {Name: "g", Keep: []Group{GPS}}} {
			out, err := keptEXIF(b, p)
			if err != nil || out == nil {
				continue
			}
			if len(out) > 64<<10 {
				t.Fatalf("kept block of %d bytes", len(out))
			}
			tf, err := tiff.Open(bytes.NewReader(out), int64(len(out)), tiff.DefaultLimits)
			if err != nil {
				t.Fatalf("kept block does not parse: %v", err)
			}
			w, err := tf.Walk(tiff.ExifPointers)
			if err != nil || len(w.Problems) > 0 || len(w.Dirs) > 3 {
				t.Fatalf("kept block: %v %v, %d directories", err, w.Problems, len(w.Dirs))
			}
			again, err := keptEXIF(out, p)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("not idempotent: %v", err)
			}
		}
	})
}
