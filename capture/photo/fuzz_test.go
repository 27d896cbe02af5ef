package photo

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
)

// Each parser has a fuzz target that feeds it directly, seeded with real
// files (cut to the part that holds metadata) and synthetic ones.

func fuzzRun(t *testing.T, data []byte, container string, parse func(st *state) error) {
	st := &state{ctx: context.Background(), r: bytes.NewReader(data), size: int64(len(data)), m: &Metadata{Container: container}}
	if err := parse(st); err != nil {
		return
	}
	st.finish()
	if _, err := json.Marshal(st.m); err != nil {
		t.Fatalf("output does not encode: %v", err)
	}
	if len(st.m.Problems) > maxProblems || len(st.m.Structure) > maxParts+1 || (st.m.EXIF != nil && len(st.m.EXIF.Tags) > maxTags) {
		t.Fatalf("limits exceeded: %d problems, %d parts", len(st.m.Problems), len(st.m.Structure))
	}
}

func seedFile(f *testing.F, path string, limit int) {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:min(len(b), limit)])
}

var seedTIFF = exifTIFF(
	[]tiffEntry{{tag: 0x010F, typ: 2, count: 5, data: ascii("Acme")}, {tag: 0x8769, typ: 4, count: 1}, {tag: 0x8825, typ: 4, count: 1}},
	[]tiffEntry{{tag: 0x9003, typ: 2, count: 20, data: ascii("2020:01:02 03:04:05")}, {tag: 0x9011, typ: 2, count: 7, data: ascii("+01:00")}, {tag: 0x9000, typ: 7, count: 4, data: []byte("0230")}},
	[]tiffEntry{{tag: 1, typ: 2, count: 2, data: []byte("N\x00")}, {tag: 2, typ: 5, count: 3, data: rationals(1, 1, 2, 1, 3, 1)}, {tag: 7, typ: 5, count: 3, data: rationals(1, 1, 2, 1, 3, 1)}, {tag: 0x1D, typ: 2, count: 11, data: ascii("2020:01:02")}},
	[]tiffEntry{{tag: 0x0201, typ: 4, count: 1, raw: 8}, {tag: 0x0202, typ: 4, count: 1, raw: 16}},
)

func FuzzJPEG(f *testing.F) {
	f.Add(jpegWith(app1Exif(seedTIFF), segment(0xE1, append([]byte(sigXMP), "<x/>"...)), segment(0xFE, []byte("comment"))))
	f.Add(jpegWith(segment(0xED, append([]byte(sigPhotoshop), irb(0x0404, iptcDataset(2, 25, []byte("k")))...))))
	seedFile(f, testfiles.Path(f, testfiles.GoExif, "assets/gps.jpg"), 16<<10)
	seedFile(f, testfiles.Path(f, testfiles.GoExifRW, "exif/samples/geodegrees_as_string.jpg"), 16<<10)
	seedFile(f, testfiles.Path(f, testfiles.IPTC, "assets/composite-photo-demo.jpg"), 48<<10)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRun(t, data, "jpeg", (*state).jpeg)
	})
}

func FuzzPNG(f *testing.F) {
	f.Add(pngWith(chunk("eXIf", seedTIFF), chunk("zTXt", append([]byte("Comment\x00\x00"), deflate([]byte("abc"))...)),
		chunk("iTXt", append([]byte("XML:com.adobe.xmp\x00\x01\x00\x00\x00"), deflate([]byte("<x/>"))...)), chunk("tIME", []byte{7, 232, 1, 2, 3, 4, 5})))
	seedFile(f, "testdata/lens.png", 64<<10)
	seedFile(f, testfiles.Path(f, testfiles.PNGStructure, "assets/exif.png"), 64<<10)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRun(t, data, "png", (*state).png)
	})
}

func FuzzWebP(f *testing.F) {
	f.Add(webpWith(riffChunk("EXIF", seedTIFF), riffChunk("XMP ", []byte("<x/>"))))
	seedFile(f, "testdata/lens.webp", 64<<10)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRun(t, data, "webp", (*state).webp)
	})
}

func FuzzHEIF(f *testing.F) {
	for _, l := range []heifLayout{{}, {ilocVersion: 1, idat: true, split: true, baseOffset: true}, {ilocVersion: 2}} {
		f.Add(heifWith(l, exifItem(seedTIFF)))
	}
	seedFile(f, "testdata/lens.heic", 64<<10)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRun(t, data, "heif", (*state).heif)
	})
}

func FuzzIPTC(f *testing.F) {
	iim := append(append(iptcDataset(1, 90, []byte("\x1b%G")), iptcDataset(2, 25, []byte("kw"))...), 0x1C, 2, 120, 0x80, 0x02, 0, 2, 'h', 'i')
	f.Add(iim)
	f.Add(append(irb(0x0404, iim), irb(0x040C, []byte("thumb"))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRun(t, data, "iptc", func(st *state) error {
			st.iptc("iptc", 0, data)
			st.iptcRaw = 0
			st.photoshop("irb", 0, data)
			return nil
		})
	})
}

// FuzzEXIF feeds TIFF-structured EXIF (classic and BigTIFF) through the
// tag rendering, GPS, time and camera derivations.
func FuzzEXIF(f *testing.F) {
	f.Add(seedTIFF)
	seedFile(f, "testdata/lens.tif", 64<<10)
	seedFile(f, "../geo/testdata/big-utm37s.tif", 64<<10)
	b, err := os.ReadFile(testfiles.Path(f, testfiles.GoExif, "assets/NDM_8901.jpg"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[12 : 12+32934]) // the EXIF block of the Canon's APP1
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRun(t, data, "tiff", func(st *state) error {
			st.exifBlock("exif", 0, int64(len(data)))
			return nil
		})
	})
}
