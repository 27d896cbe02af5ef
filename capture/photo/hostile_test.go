package photo

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	exifcommon "github.com/dsoprea/go-exif/v3/common"
	golog "github.com/dsoprea/go-logging"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// sensitive are values in the test files that must never appear in an
// error or a problem message.
var sensitive = []string{
	"063024020097", "2400001068", "SN-4S-0042", "L-77", "Example Owner", "Field Team 3",
	"Stockholm", "XFR1506160115", "Athens", "EOS 5D", "iPhone", "SM-N920T", "59.33", "18.06", "26.58", "80.05",
	"SECRET-SERIAL",
}

// run extracts data, failing the test on a panic, an output that does not
// encode, a message carrying a sensitive value, or an allocation beyond
// maxAlloc.
func run(t *testing.T, what string, data []byte, maxAlloc uint64) (*Metadata, error) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := func() (m *Metadata, err error) {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("%s: panic: %v", what, p)
			}
		}()
		return Extract(context.Background(), bytes.NewReader(data), int64(len(data)))
	}()
	runtime.ReadMemStats(&after) // Extract's allocations only, not the checks below
	if d := after.TotalAlloc - before.TotalAlloc; d > maxAlloc {
		t.Errorf("%s: allocated %d bytes, more than %d", what, d, maxAlloc)
	}
	var msgs []string
	if err != nil {
		msgs = append(msgs, err.Error())
	}
	if m != nil {
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("%s: output does not encode: %v", what, err)
		}
		for _, p := range m.Problems {
			msgs = append(msgs, p.Where+": "+p.Problem)
		}
		if m.EXIF != nil {
			for _, tg := range m.EXIF.Tags {
				msgs = append(msgs, tg.Error)
			}
		}
	}
	for _, s := range msgs {
		for _, v := range sensitive {
			if strings.Contains(s, v) {
				t.Fatalf("%s: message %q contains a metadata value", what, s)
			}
		}
	}
	return m, err
}

// fixtures returns small real files, the first 128 KiB of the larger ones.
func fixtures(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	add := func(name, path string, limit int) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > limit {
			b = b[:limit]
		}
		out[name] = b
	}
	for _, p := range localFiles() {
		add(filepath.Base(p), p, 1<<20)
	}
	add("NDM_8901.jpg", testfiles.Path(t, testfiles.GoExif, "assets/NDM_8901.jpg"), 128<<10)
	add("gps.jpg", testfiles.Path(t, testfiles.GoExif, "assets/gps.jpg"), 1<<20)
	add("exif.png", testfiles.Path(t, testfiles.PNGStructure, "assets/exif.png"), 1<<20)
	add("iptc.jpg", testfiles.Path(t, testfiles.IPTC, "assets/photo-4iptc-heads.jpg"), 64<<10)
	add("geodegrees.jpg", testfiles.Path(t, testfiles.GoExifRW, "exif/samples/geodegrees_as_string.jpg"), 1<<20)
	add("big.tif", "../geo/testdata/big-utm37s.tif", 1<<20)
	return out
}

// TestTruncated cuts every fixture at many offsets.
func TestTruncated(t *testing.T) {
	for name, data := range fixtures(t) {
		cuts := map[int]bool{}
		for i := 0; i < 64 && i < len(data); i++ {
			cuts[i] = true
		}
		step := max(1, len(data)/200)
		for i := 0; i < len(data); i += step {
			cuts[i] = true
		}
		for cut := range cuts {
			run(t, fmt.Sprintf("%s cut at %d", name, cut), data[:cut], 8<<20)
		}
	}
}

// TestMutated flips bytes where the metadata lives.
func TestMutated(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for name, data := range fixtures(t) {
		span := min(len(data), 32<<10)
		for i := 0; i < 300; i++ {
			m := append([]byte(nil), data...)
			for k := 0; k < 1+rng.Intn(8); k++ {
				p := rng.Intn(span)
				switch rng.Intn(3) {
				case 0:
					m[p] ^= byte(1 << rng.Intn(8))
				case 1:
					m[p] = 0xFF
				default:
					m[p] = 0
				}
			}
			run(t, fmt.Sprintf("%s mutant %d", name, i), m, 24<<20)
		}
	}
}

// TestGoExifCorruptSamples runs the hostile EXIF files go-exif's authors
// collected, and the 57 truncated camera files.
func TestGoExifCorruptSamples(t *testing.T) {
	files := testfiles.Glob(t, testfiles.GoExifRW, "exif/corrupt/*.jpg")
	files = append(files, testfiles.Glob(t, testfiles.GoExifRW, "exif/samples/*.jpg")...)
	files = append(files, testfiles.Path(t, testfiles.GoExifRW, "exif/sample1.jpg"))
	if len(files) < 60 {
		t.Fatalf("only %d files found", len(files))
	}
	withGPS := 0
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		m, _ := run(t, filepath.Base(p), b, 8<<20)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %v", filepath.Base(p), d)
		}
		if m != nil && m.Summary.Latitude != nil {
			withGPS++
		}
	}
	if withGPS < 5 {
		t.Errorf("only %d files with a position", withGPS)
	}
}

// TestPoisoned builds EXIF that lies in every way at once.
func TestPoisoned(t *testing.T) {
	serial := ascii("SECRET-SERIAL-123")
	tests := []struct {
		name string
		tiff []byte
	}{
		{"poisoned counts", exifTIFF(
			[]tiffEntry{
				{tag: 0x010F, typ: 2, count: 0xFFFFFFFF, raw: 8},       // ASCII of 4 GiB
				{tag: 0x927C, typ: 7, count: 0x0FFFFFFF, raw: 8},       // maker note of 256 MiB
				{tag: 0x0111, typ: 4, count: 0x3FFFFFFF, raw: 8},       // strip offsets
				{tag: 0x8298, typ: 12, count: 0x20000000, raw: 8},      // doubles: 4 GiB, overflowing uint32
				{tag: 0x8769, typ: 4, count: 1},                        // Exif
				{tag: 0x8825, typ: 4, count: 1},                        // GPS
				{tag: 0x9C9D, typ: 1, count: 0xFFFFFFF0, raw: 0xFFFF0}, // XPAuthor
			},
			[]tiffEntry{{tag: 0xA431, typ: 2, count: uint32(len(serial)), data: serial}, {tag: 0x9286, typ: 7, count: 0x7FFFFFFF, raw: 20}},
			[]tiffEntry{{tag: 2, typ: 5, count: 0x10000000, raw: 8}, {tag: 1, typ: 2, count: 2, data: []byte("N\x00")}},
			[]tiffEntry{{tag: 0x0201, typ: 4, count: 1, raw: 8}, {tag: 0x0202, typ: 4, count: 1, raw: 0xFFFFFFF0}},
		)},
		{"loops", exifTIFF(
			[]tiffEntry{{tag: 0x8769, typ: 4, count: 1, raw: 8}, {tag: 0x8825, typ: 4, count: 1, raw: 8}, {tag: 0x014A, typ: 4, count: 3, data: rationals(8, 8, 8)}},
			nil, nil,
			[]tiffEntry{{tag: 0x8769, typ: 4, count: 1, raw: 8}},
		)},
	}
	for _, tc := range tests {
		m, err := run(t, tc.name, jpegWith(app1Exif(tc.tiff)), 2<<20)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(m.Problems) == 0 {
			errs := 0
			for _, tg := range m.EXIF.Tags {
				if tg.Error != "" {
					errs++
				}
			}
			if errs == 0 {
				t.Errorf("%s: nothing reported", tc.name)
			}
		}
		if tc.name == "poisoned counts" {
			eq(t, "serial beside poison", m.Camera.BodySerialNumber, "SECRET-SERIAL-123")
		}
	}
	// The loops: the walk must have stopped, with each loop reported.
	m, _ := run(t, "loops", jpegWith(app1Exif(tests[1].tiff)), 2<<20)
	loops := 0
	for _, p := range m.Problems {
		if strings.Contains(p.Problem, "loop") {
			loops++
		}
	}
	if loops < 3 {
		t.Errorf("loops reported: %d (%+v)", loops, m.Problems)
	}
}

func TestZipBomb(t *testing.T) {
	bomb := deflate(make([]byte, 64<<20)) // 64 MiB of zeros in ~64 KiB
	data := pngWith(
		chunk("zTXt", append([]byte("Comment\x00\x00"), bomb...)),
		chunk("iTXt", append([]byte("XML:com.adobe.xmp\x00\x01\x00\x00\x00"), bomb...)),
	)
	m, err := run(t, "zip bomb", data, 16<<20) // two 64 MiB bombs, each cut at 1 MiB
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Text) != 1 || !m.Text[0].Truncated || len(m.Text[0].Text) != maxText {
		t.Errorf("text = %d entries, truncated %v", len(m.Text), len(m.Text) > 0 && m.Text[0].Truncated)
	}
	if len(m.XMP) != 0 || len(m.Problems) == 0 {
		t.Errorf("xmp %d, problems %+v", len(m.XMP), m.Problems)
	}
}

// TestSynthetic covers what the real files do not: compressed PNG text,
// ImageMagick raw profiles, HEIF item layouts, IPTC extended lengths.
func TestSynthetic(t *testing.T) {
	gpsTIFF := exifTIFF(
		[]tiffEntry{{tag: 0x010F, typ: 2, count: 5, data: ascii("Acme")}, {tag: 0x8825, typ: 4, count: 1}},
		nil,
		[]tiffEntry{
			{tag: 1, typ: 2, count: 2, data: []byte("S\x00")},
			{tag: 2, typ: 5, count: 3, data: rationals(33, 1, 52, 1, 1234, 100)},
			{tag: 3, typ: 2, count: 6, data: []byte("west \x00")},            // odd, lowercase ref
			{tag: 4, typ: 5, count: 3, data: rationals(151, 1, 12, 1, 0, 0)}, // 0/0 seconds
			{tag: 5, typ: 1, count: 1, data: []byte{1}},
			{tag: 6, typ: 5, count: 1, data: rationals(125, 10)},
		},
		nil)
	wantLat, wantLon := -(33 + 52.0/60 + 12.34/3600), -(151 + 12.0/60)
	hexProfile := func(b []byte) []byte {
		var sb strings.Builder
		fmt.Fprintf(&sb, "\nexif\n%8d\n", len(b))
		for i, c := range b {
			fmt.Fprintf(&sb, "%02x", c)
			if i%36 == 35 {
				sb.WriteString("\n")
			}
		}
		return []byte(sb.String() + "\n")
	}
	iim := append(append(iptcDataset(1, 90, []byte("\x1b%G")), iptcDataset(2, 25, []byte("Brücke"))...),
		// an extended-length dataset: 0x8004 then a 4-byte length
		0x1C, 2, 120, 0x80, 0x04, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o')
	tests := []struct {
		name  string
		data  []byte
		check func(t *testing.T, m *Metadata)
	}{
		{"jpeg gps with odd refs", jpegWith(app1Exif(gpsTIFF)), func(t *testing.T, m *Metadata) {
			near(t, "latitude", m.Summary.Latitude, wantLat, 1e-9)
			near(t, "longitude", m.Summary.Longitude, wantLon, 1e-9)
			near(t, "altitude", m.Summary.Altitude, -12.5, 1e-9)
		}},
		{"png compressed text and XMP", pngWith(
			chunk("zTXt", append([]byte("Comment\x00\x00"), deflate([]byte("compressed comment"))...)),
			chunk("iTXt", append([]byte("XML:com.adobe.xmp\x00\x01\x00\x00\x00"), deflate([]byte("<x:xmpmeta/>"))...)),
			chunk("iTXt", append([]byte("Title\x00\x00\x00de\x00Titel\x00"), []byte("Brücke")...)),
			chunk("tIME", []byte{0x07, 0xE8, 3, 1, 10, 20, 30}),
		), func(t *testing.T, m *Metadata) {
			if len(m.Text) != 2 || m.Text[0].Text != "compressed comment" || m.Text[1].Text != "Brücke" || m.Text[1].Language != "de" {
				t.Errorf("text = %+v", m.Text)
			}
			if len(m.XMP) != 1 || m.XMP[0].XML != "<x:xmpmeta/>" {
				t.Errorf("xmp = %+v", m.XMP)
			}
			if len(m.Times) != 1 || m.Times[0].Time != "2024-03-01T10:20:30Z" {
				t.Errorf("times = %+v", m.Times)
			}
		}},
		{"png ImageMagick raw exif profile", pngWith(
			chunk("zTXt", append([]byte("Raw profile type exif\x00\x00"), deflate(hexProfile(append([]byte("Exif\x00\x00"), gpsTIFF...)))...)),
		), func(t *testing.T, m *Metadata) {
			near(t, "latitude", m.Summary.Latitude, wantLat, 1e-9)
			eq(t, "make", m.Summary.Make, "Acme")
		}},
		{"webp with Exif prefix", webpWith(riffChunk("EXIF", append([]byte("Exif\x00\x00"), gpsTIFF...)), riffChunk("XMP ", []byte("<x/>"))), func(t *testing.T, m *Metadata) {
			near(t, "longitude", m.Summary.Longitude, wantLon, 1e-9)
			if len(m.XMP) != 1 || m.XMP[0].XML != "<x/>" {
				t.Errorf("xmp = %+v", m.XMP)
			}
		}},
		{"jpeg IPTC across two APP13 segments", func() []byte {
			res := irb(0x0404, iim)
			all := append([]byte(sigPhotoshop), res...)
			half := len(all) / 2
			return jpegWith(segment(0xED, all[:half]), segment(0xED, append([]byte(sigPhotoshop), all[half:]...)))
		}(), func(t *testing.T, m *Metadata) {
			if v := iptcValues(m, 2, 25); len(v) != 1 || v[0] != "Brücke" {
				t.Errorf("keywords = %v (%+v)", v, m.Problems)
			}
			if v := iptcValues(m, 2, 120); len(v) != 1 || v[0] != "hello" {
				t.Errorf("caption = %v", v)
			}
		}},
	}
	for _, l := range []heifLayout{
		{ilocVersion: 0}, {ilocVersion: 1, baseOffset: true}, {ilocVersion: 1, idat: true},
		{ilocVersion: 2, split: true}, {ilocVersion: 1, idat: true, split: true, baseOffset: true},
	} {
		tests = append(tests, struct {
			name  string
			data  []byte
			check func(t *testing.T, m *Metadata)
		}{fmt.Sprintf("heif %+v", l), heifWith(l, exifItem(gpsTIFF)), func(t *testing.T, m *Metadata) {
			near(t, "latitude", m.Summary.Latitude, wantLat, 1e-9)
			if len(m.Problems) != 0 {
				t.Errorf("problems: %+v", m.Problems)
			}
		}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := run(t, tc.name, tc.data, 4<<20)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m)
		})
	}
}

// TestHostileHEIF lies in the boxes that locate items.
func TestHostileHEIF(t *testing.T) {
	good := heifWith(heifLayout{ilocVersion: 1, baseOffset: true}, exifItem(exifTIFF([]tiffEntry{{tag: 0x010F, typ: 2, count: 5, data: ascii("Acme")}}, nil, nil, nil)))
	find := func(b []byte, s string) int { return bytes.Index(b, []byte(s)) }
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	iloc := find(good, "iloc")
	cases := map[string][]byte{
		"iloc extent length huge": mutate(func(b []byte) { copy(b[iloc+36:], []byte{0xFF, 0xFF, 0xFF, 0xF0}) }),
		"iloc item count huge":    mutate(func(b []byte) { copy(b[iloc+10:], []byte{0xFF, 0xFF}) }),
		"iinf entry count huge":   mutate(func(b []byte) { copy(b[find(b, "iinf")+8:], []byte{0xFF, 0xFF}) }),
		"meta size lies":          mutate(func(b []byte) { copy(b[find(b, "meta")-4:], []byte{0x7F, 0xFF, 0xFF, 0xFF}) }),
		"box size zero":           mutate(func(b []byte) { copy(b[find(b, "iinf")-4:], []byte{0, 0, 0, 0}) }),
		"large size":              mutate(func(b []byte) { copy(b[find(b, "iref")-4:], []byte{0, 0, 0, 1}) }),
		"iloc field size 3":       mutate(func(b []byte) { b[iloc+8] = 0x34 }),
	}
	for name, data := range cases {
		run(t, name, data, 2<<20)
	}
}

// TestQuiet checks that nothing reaches stdout, stderr or the log, even
// with a go-logging adapter registered (as another package might do).
func TestQuiet(t *testing.T) {
	_ = golog.NewLogger("test") // the package is initialized
	golog.AddAdapter("console-for-test", golog.NewConsoleLogAdapter())
	defer golog.ClearAdapters()
	var logged bytes.Buffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	rOut, wOut, _ := os.Pipe()
	rErr, wErr, _ := os.Pipe()
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = wOut, wErr
	var got [2][]byte
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); got[0], _ = io.ReadAll(rOut) }()
	go func() { defer wg.Done(); got[1], _ = io.ReadAll(rErr) }()
	func() {
		defer func() { os.Stdout, os.Stderr = stdout, stderr }()
		rng := rand.New(rand.NewSource(2))
		for name, data := range fixtures(t) {
			run(t, name, data, 64<<20)
			for i := 0; i < 50; i++ {
				m := append([]byte(nil), data...)
				m[rng.Intn(min(len(m), 4096))] ^= 0x40
				run(t, name, m[:rng.Intn(len(m)+1)], 64<<20)
			}
		}
		// Drive go-exif's logging paths directly: its ASCII parser logs an
		// unterminated value whole, its user-comment decoder warns.
		_, _ = new(exifcommon.Parser).ParseAscii([]byte("SECRET-SERIAL"), 13)
		decodeUndefined("IFD/Exif", tiff.Entry{Tag: 0x9286, Type: tiff.Undefined, Count: 11}, []byte("XXXXXXXXabc"), binary.LittleEndian)
		decodeUndefined("IFD/Exif", tiff.Entry{Tag: 0xA302, Type: tiff.Undefined, Count: 3}, []byte("abc"), binary.LittleEndian)
		tagName("IFD", 0xFFFF)
	}()
	wOut.Close()
	wErr.Close()
	wg.Wait()
	if len(got[0]) > 0 || len(got[1]) > 0 || logged.Len() > 0 {
		t.Fatalf("output: stdout %q, stderr %q, log %q", got[0], got[1], logged.String())
	}
}

// TestConcurrent runs extractions in parallel (run with -race).
func TestConcurrent(t *testing.T) {
	fx := fixtures(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, data := range fx {
				if _, err := Extract(context.Background(), bytes.NewReader(data), int64(len(data))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}
