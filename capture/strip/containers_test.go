package strip

import (
	"github.com/openexhibit/exhibit/internal/testenv"

	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	_ "golang.org/x/image/webp"

	"github.com/openexhibit/exhibit/capture/photo"
	"github.com/openexhibit/exhibit/capture/photo/testfiles"
)

// The tests of this file run the JPEG, PNG and WebP strippers on real
// camera files and check what the copies keep and lose.

// containerFile is a real file the container tests run on.
type containerFile struct {
	name   string // for t.Run: module-relative or testdata path
	path   string
	format Format
	// complete is false for files cut short on purpose (goexif's samples
	// keep only the head of each photo): stripping them must fail with a
	// FormatError.
	complete bool
}

// containerFiles lists the real JPEG, PNG and WebP files.
func containerFiles(t *testing.T) []containerFile {
	t.Helper()
	var files []containerFile
	add := func(module, dir, pattern string, f Format, complete bool) {
		var paths []string
		if module == "" {
			m, err := filepath.Glob(filepath.Join(dir, pattern))
			if err != nil {
				t.Fatal(err)
			}
			paths = m
		} else {
			paths = testfiles.Glob(t, module, dir+"/"+pattern)
		}
		if len(paths) == 0 {
			t.Fatalf("no test files match %s %s/%s", module, dir, pattern)
		}
		for _, p := range paths {
			name := filepath.Base(filepath.Dir(p)) + "/" + filepath.Base(p)
			c := complete
			// goexif's corrupt EXIF files: two of them are cut at 64 KiB.
			if strings.HasSuffix(p, "huge_tag_exif.jpg") || strings.HasSuffix(p, "max_uint32_exif.jpg") {
				c = false
			}
			files = append(files, containerFile{name: name, path: p, format: f, complete: c})
		}
	}
	add(testfiles.GoExif, "assets", "*.jpg", JPEG, true)
	add(testfiles.JPEGStructure, "assets", "*.jpg", JPEG, true)
	add(testfiles.IPTC, "assets", "*.jpg", JPEG, true)
	add(testfiles.GoExifRW, "exif", "sample1.jpg", JPEG, true)
	add(testfiles.GoExifRW, "exif/samples", "has-lens-info.jpg", JPEG, true)
	add(testfiles.GoExifRW, "exif/samples", "geodegrees_as_string.jpg", JPEG, true)
	add(testfiles.GoExifRW, "exif/samples", "f*-exif.jpg", JPEG, true)
	add(testfiles.GoExifRW, "exif/samples", "20*.jpg", JPEG, false)
	add(testfiles.GoExifRW, "exif/corrupt", "*.jpg", JPEG, true)
	add("", "testdata", "*.jpg", JPEG, true)
	add(testfiles.PNGStructure, "assets", "*.png", PNG, true)
	add("", "../photo/testdata", "*.png", PNG, true)
	add("", "../photo/testdata", "*.webp", WebP, true)
	add("", "testdata", "*.webp", WebP, true)
	return files
}

// profilesUnderTest: keep nothing, the default, keep everything.
func profilesUnderTest(t testing.TB) []Profile {
	t.Helper()
	all := make([]string, len(Groups))
	for i, g := range Groups {
		all[i] = string(g)
	}
	every, err := NewProfile("all", all)
	if err != nil {
		t.Fatal(err)
	}
	return []Profile{{Name: "none"}, Default, every}
}

// stripContainer strips b in memory.
func stripContainer(f Format, p Profile, b []byte) ([]byte, *Report, error) {
	var out bytes.Buffer
	rep, err := Strip(context.Background(), bytes.NewReader(b), int64(len(b)), f, p, &out)
	if err != nil {
		return nil, nil, err
	}
	return out.Bytes(), rep, nil
}

// extractPhoto runs photo.Extract, the metadata reader of the project, on b.
func extractPhoto(t testing.TB, b []byte) *photo.Metadata {
	t.Helper()
	m, err := photo.Extract(context.Background(), bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("photo.Extract: %v", err)
	}
	return m
}

// pixelParts are the structural parts (as photo.Extract names them) that
// carry the pixels or change how they decode, per format.
var pixelParts = map[Format]func(typ string) bool{
	JPEG: func(typ string) bool {
		switch typ {
		case "DQT", "DHT", "DRI", "SOS", "scan data", "marker 0xCC", "marker 0xDC":
			return true
		}
		return strings.HasPrefix(typ, "SOF") || strings.HasPrefix(typ, "RST")
	},
	PNG: func(typ string) bool {
		switch typ {
		case "IHDR", "PLTE", "IDAT", "tRNS", "acTL", "fcTL", "fdAT":
			return true
		}
		return false
	},
	WebP: func(typ string) bool {
		switch typ {
		case "VP8 ", "VP8L", "ALPH", "ANMF", "ANIM":
			return true
		}
		return false
	},
}

// pixelBytes concatenates the pixel-bearing parts of b, found by
// photo.Extract (a walker independent of the one under test). For WebP
// the padding byte, which the copy may write differently, is left out.
func pixelBytes(t testing.TB, f Format, b []byte) []byte {
	t.Helper()
	m := extractPhoto(t, b)
	var out []byte
	for _, part := range m.Structure {
		if part.Type == "…" {
			t.Fatal("photo.Extract listed too many parts to compare")
		}
		if !pixelParts[f](part.Type) {
			continue
		}
		end := part.Offset + part.Length
		if f == WebP {
			end = part.Offset + 8 + int64(binary.LittleEndian.Uint32(b[part.Offset+4:]))
		}
		out = append(out, b[part.Offset:end]...)
	}
	if len(out) == 0 {
		t.Fatal("no pixel-bearing parts found")
	}
	return out
}

// checkExtractClean checks with photo.Extract that the copy b holds nothing
// profile p does not keep.
func checkExtractClean(t *testing.T, f Format, p Profile, b []byte) {
	t.Helper()
	m := extractPhoto(t, b)
	s := m.Summary
	if s.BodySerial || s.LensSerial || s.Owner || s.XMP || s.IPTC {
		t.Errorf("copy still has serial=%v lensSerial=%v owner=%v xmp=%v iptc=%v", s.BodySerial, s.LensSerial, s.Owner, s.XMP, s.IPTC)
	}
	if len(m.XMP) != 0 || len(m.IPTC) != 0 || len(m.Text) != 0 {
		t.Errorf("copy still has %d XMP packets, %d IPTC datasets, %d texts", len(m.XMP), len(m.IPTC), len(m.Text))
	}
	if m.EXIF != nil && len(m.EXIF.Thumbnails) != 0 {
		t.Errorf("copy still has %d EXIF thumbnails", len(m.EXIF.Thumbnails))
	}
	if !p.Keeps(GPS) && (m.GPS != nil || s.Latitude != nil || s.Longitude != nil) {
		t.Error("copy still has a GPS position")
	}
	if !p.Keeps(Camera) && (s.Make != "" || s.Model != "" || s.Lens != "") {
		t.Error("copy still names the camera")
	}
	if !p.Keeps(CaptureTime) && len(m.Times) != 0 {
		t.Errorf("copy still has %d date-time tags", len(m.Times))
	}
	for _, part := range m.Structure {
		if !copyPartAllowed(f, p, part) {
			t.Errorf("copy still has %s (%s) at %d", part.Type, part.ID, part.Offset)
		}
	}
	for _, pr := range m.Problems {
		t.Errorf("photo.Extract finds a problem in the copy: %s at %d: %s", pr.Where, pr.Offset, pr.Problem)
	}
}

// copyPartAllowed says which structural parts (as photo.Extract names
// them) a copy made with profile p may have.
func copyPartAllowed(f Format, p Profile, part photo.Part) bool {
	if pixelParts[f](part.Type) {
		return true
	}
	switch f {
	case JPEG:
		switch part.Type + " " + part.ID {
		case "SOI ", "EOI ", "APP0 JFIF", "APP14 Adobe", "APP1 Exif":
			return true
		case "APP2 ICC_PROFILE":
			return p.Keeps(ColorProfile)
		}
	case PNG:
		switch part.Type {
		case "signature", "IEND", "gAMA", "cHRM", "sRGB", "sBIT", "bKGD", "pHYs", "cICP", "mDCv", "cLLi", "eXIf":
			return true
		case "iCCP":
			return p.Keeps(ColorProfile)
		}
	case WebP:
		switch part.Type {
		case "RIFF header", "VP8X", "EXIF":
			return true
		case "ICCP":
			return p.Keeps(ColorProfile)
		}
	}
	return false
}

// metadataValues returns the metadata values photo.Extract finds in b, to
// check that no Report quotes one.
func metadataValues(t testing.TB, b []byte) []string {
	t.Helper()
	m := extractPhoto(t, b)
	var v []string
	if c := m.Camera; c != nil {
		v = append(v, c.Make, c.Model, c.UniqueModel, c.Software, c.BodySerialNumber, c.LensMake, c.LensModel,
			c.LensSerialNumber, c.OwnerName, c.Artist, c.Author, c.Copyright, c.ImageUniqueID)
	}
	for _, tm := range m.Times {
		v = append(v, tm.Raw)
	}
	for _, tx := range m.Text {
		v = append(v, tx.Keyword, tx.Text)
	}
	var out []string
	for _, s := range v {
		if s = strings.TrimSpace(s); len(s) >= 4 {
			out = append(out, s)
		}
	}
	return out
}

// decodeImage decodes b with the standard library's decoders (and
// x/image/webp), refusing images too large for a test.
func decodeImage(b []byte) (image.Image, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if cfg.Width*cfg.Height > 64<<20 {
		return nil, errors.New("too large to decode in a test")
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	return img, err
}

func TestContainersRealFiles(t *testing.T) {
	files := containerFiles(t)
	var complete int
	for _, cf := range files {
		t.Run(cf.name, func(t *testing.T) {
			in, err := os.ReadFile(cf.path)
			if err != nil {
				t.Fatal(err)
			}
			values := metadataValues(t, in)
			for i, p := range profilesUnderTest(t) {
				out, rep, err := stripContainer(cf.format, p, in)
				if !cf.complete {
					var fe *FormatError
					if !errors.As(err, &fe) {
						t.Fatalf("%s: cut-short file: got %v, want a FormatError", p, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if rep.Format != cf.format {
					t.Errorf("report format %q, want %q", rep.Format, cf.format)
				}
				for _, name := range slices.Concat(rep.Removed, rep.Kept) {
					for _, v := range values {
						if strings.Contains(name, v) {
							t.Errorf("%s: report entry %q quotes a metadata value", p, name)
						}
					}
				}
				if !bytes.Equal(pixelBytes(t, cf.format, out), pixelBytes(t, cf.format, in)) {
					t.Errorf("%s: pixel-bearing bytes differ", p)
				}
				checkExtractClean(t, cf.format, p, out)
				again, _, err := stripContainer(cf.format, p, out)
				if err != nil {
					t.Fatalf("%s: stripping the copy: %v", p, err)
				}
				if !bytes.Equal(again, out) {
					t.Errorf("%s: strip(strip(x)) != strip(x)", p)
				}
				if len(out) >= len(in) && len(rep.Removed) > 0 {
					t.Errorf("%s: removed %v yet the copy is not smaller (%d >= %d)", p, rep.Removed, len(out), len(in))
				}
				if i != 1 { // decoding is slow: once, with the default profile
					continue
				}
				complete++
				if raceEnabled && len(in) > 1<<20 {
					continue
				}
				imgIn, errIn := decodeImage(in)
				imgOut, errOut := decodeImage(out)
				if (errIn == nil) != (errOut == nil) {
					t.Fatalf("decoding: original %v, copy %v", errIn, errOut)
				}
				if errIn != nil {
					t.Logf("neither decodes: %v", errIn)
					continue
				}
				if !reflect.DeepEqual(imgIn, imgOut) {
					t.Error("decoded images differ")
				}
			}
		})
	}
	if complete < 20 {
		t.Errorf("only %d complete files stripped; the test set shrank", complete)
	}
}

// exiftoolAllowed says which tags exiftool may find in a copy made with
// profile p: file-level facts, decoding parameters, the ICC profile when
// kept, and the EXIF tags of the kept groups.
func exiftoolAllowed(p Profile, group, name string) bool {
	switch {
	case group == "System", group == "SourceFile":
		return true
	case group == "ExifTool":
		return name == "ExifToolVersion" // a Warning is not allowed
	case group == "File":
		return slices.Contains([]string{"FileType", "FileTypeExtension", "MIMEType", "ImageWidth", "ImageHeight",
			"EncodingProcess", "BitsPerSample", "ColorComponents", "YCbCrSubSampling", "ExifByteOrder"}, name)
	case group == "Composite":
		switch name {
		case "ImageSize", "Megapixels":
			return true
		case "SubSecDateTimeOriginal", "SubSecCreateDate", "SubSecModifyDate", "DateTimeOriginal":
			return p.Keeps(CaptureTime)
		case "LensID", "Lens":
			return p.Keeps(Camera)
		}
		return strings.HasPrefix(name, "GPS") && p.Keeps(GPS)
	case group == "JFIF":
		return slices.Contains([]string{"JFIFVersion", "ResolutionUnit", "XResolution", "YResolution"}, name)
	case group == "Adobe":
		return true
	case strings.HasPrefix(group, "ICC"):
		return p.Keeps(ColorProfile)
	case group == "PNG" || group == "PNG-pHYs":
		return slices.Contains([]string{"ImageWidth", "ImageHeight", "BitDepth", "ColorType", "Compression",
			"Filter", "Interlace", "Gamma", "SRGBRendering", "SignificantBits", "WhitePointX", "WhitePointY",
			"RedX", "RedY", "GreenX", "GreenY", "BlueX", "BlueY", "BackgroundColor", "Palette", "Transparency",
			"PixelsPerUnitX", "PixelsPerUnitY", "PixelUnits", "AnimationFrames", "AnimationPlays"}, name)
	case group == "RIFF":
		return slices.Contains([]string{"VP8Version", "ImageWidth", "ImageHeight", "HorizontalScale",
			"VerticalScale", "WebP_Flags", "AlphaPreprocessing", "AlphaFiltering", "AlphaCompression",
			"BackgroundColor", "AnimationLoopCount", "Duration", "FrameCount"}, name)
	case group == "IFD0":
		switch name {
		case "Orientation":
			return p.Keeps(Orientation)
		case "Make", "Model":
			return p.Keeps(Camera)
		}
	case group == "ExifIFD":
		switch name {
		case "ExifVersion", "FlashpixVersion", "ColorSpace": // written with any EXIF directory
			return true
		case "DateTimeOriginal", "CreateDate", "OffsetTimeOriginal", "OffsetTimeDigitized",
			"SubSecTimeOriginal", "SubSecTimeDigitized":
			return p.Keeps(CaptureTime)
		case "LensMake", "LensModel":
			return p.Keeps(Camera)
		}
	case group == "GPS":
		return p.Keeps(GPS)
	}
	return false
}

func TestContainersExiftool(t *testing.T) {
	exiftool := testenv.Program(t, "libimage-exiftool-perl", "exiftool")
	files := containerFiles(t)
	for _, p := range profilesUnderTest(t) {
		t.Run(p.Name, func(t *testing.T) {
			dir := t.TempDir()
			names := map[string]string{}
			for i, cf := range files {
				if !cf.complete {
					continue
				}
				in, err := os.ReadFile(cf.path)
				if err != nil {
					t.Fatal(err)
				}
				out, _, err := stripContainer(cf.format, p, in)
				if err != nil {
					t.Fatalf("%s: %v", cf.name, err)
				}
				base := filepath.Join(dir, fmt.Sprintf("%03d.%s", i, cf.format))
				if err := os.WriteFile(base, out, 0o600); err != nil {
					t.Fatal(err)
				}
				names[base] = cf.name
			}
			// A control: an original, which the check must fault.
			control := filepath.Join(dir, "control.jpg")
			if err := os.WriteFile(control, testfiles.Read(t, testfiles.GoExif, "assets/gps.jpg"), 0o600); err != nil {
				t.Fatal(err)
			}
			names[control] = "control"
			cmd := exec.Command(exiftool, "-json", "-a", "-G1", "-q", dir)
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("exiftool: %v", err)
			}
			var docs []map[string]any
			if err := json.Unmarshal(raw, &docs); err != nil {
				t.Fatalf("exiftool output: %v", err)
			}
			if len(docs) != len(names) {
				t.Fatalf("exiftool read %d files, want %d", len(docs), len(names))
			}
			controlFaulted := false
			for _, doc := range docs {
				src, _ := doc["SourceFile"].(string)
				for key := range doc {
					group, name, ok := strings.Cut(key, ":")
					if !ok {
						group, name = key, ""
					}
					switch {
					case exiftoolAllowed(p, group, name):
					case src == control:
						controlFaulted = true
					default:
						t.Errorf("%s: exiftool finds %s in the copy", names[src], key)
					}
				}
			}
			if !controlFaulted {
				t.Error("the check passes an original with GPS and serial numbers")
			}
		})
	}
}

// keptFacts are the values of each group that photo.Extract finds, as
// text: what a profile keeping the group must carry over unchanged, and a
// profile not keeping it must lose.
func keptFacts(t testing.TB, b []byte) map[Group]string {
	t.Helper()
	m := extractPhoto(t, b)
	facts := map[Group]string{}
	if m.EXIF != nil {
		for _, tag := range m.EXIF.Tags {
			if tag.IFD == "IFD0" && tag.ID == 0x0112 {
				facts[Orientation] = fmt.Sprint(tag.Value)
			}
		}
	}
	var times []string
	for _, tm := range m.Times {
		// DateTime is when the file was last changed, not captured: no
		// group keeps it.
		if tm.Tag != "tIME" && tm.Tag != "DateTime" {
			times = append(times, fmt.Sprintf("%s=%s/%s/%s", tm.Tag, tm.Raw, tm.SubSec, tm.RawOffset))
		}
	}
	if len(times) > 0 {
		facts[CaptureTime] = strings.Join(times, " ")
	}
	if g := m.GPS; g != nil && g.Latitude != nil && g.Longitude != nil {
		facts[GPS] = fmt.Sprint(*g.Latitude, *g.Longitude, g.Altitude != nil, g.Timestamp, g.Date, g.MapDatum)
	}
	if s := m.Summary; s.Make != "" || s.Model != "" {
		facts[Camera] = s.Make + "/" + s.Model + "/" + s.Lens
	}
	return facts
}

// TestContainersKeptGroups checks, group by group, that what a profile
// keeps survives the strip unchanged and what it does not keep is gone.
func TestContainersKeptGroups(t *testing.T) {
	groups := []Group{Orientation, CaptureTime, GPS, Camera}
	survived := map[Group]int{}
	for _, cf := range containerFiles(t) {
		if !cf.complete {
			continue
		}
		t.Run(cf.name, func(t *testing.T) {
			in, err := os.ReadFile(cf.path)
			if err != nil {
				t.Fatal(err)
			}
			want := keptFacts(t, in)
			if cf.name == "samples/geodegrees_as_string.jpg" {
				// Its GPS position is text, not rationals: keptEXIF keeps
				// tags only in the shape the EXIF specification gives them.
				if want[GPS] == "" {
					t.Error("no GPS position in geodegrees_as_string.jpg")
				}
				delete(want, GPS)
			}
			for _, g := range groups {
				p, err := NewProfile("only-"+string(g), []string{string(g)})
				if err != nil {
					t.Fatal(err)
				}
				out, _, err := stripContainer(cf.format, p, in)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				got := keptFacts(t, out)
				for _, h := range groups {
					switch {
					case h == g && got[h] != want[h]:
						t.Errorf("%s: %s became %q, was %q", p, h, got[h], want[h])
					case h != g && got[h] != "":
						t.Errorf("%s: %s survives: %q", p, h, got[h])
					case h == g && want[h] != "":
						survived[g]++
					}
				}
			}
		})
	}
	for _, g := range groups {
		if survived[g] == 0 {
			t.Errorf("no test file carried %s through a strip", g)
		}
	}
	t.Logf("files whose group survived: %v", survived)
}

// sparseFile is a large file of zeros with a few pieces of data, read
// without holding it in memory.
type sparseFile struct {
	size   int64
	pieces map[int64][]byte
}

func (f sparseFile) ReadAt(b []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	n := len(b)
	if int64(n) > f.size-off {
		n = int(f.size - off)
	}
	clear(b[:n])
	for at, p := range f.pieces {
		lo, hi := max(at, off), min(at+int64(len(p)), off+int64(n))
		if lo < hi {
			copy(b[lo-off:hi-off], p[lo-at:hi-at])
		}
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// TestStripBoundedMemory strips files of hundreds of megabytes, some
// declaring gigabyte-sized metadata, and checks that memory use does not
// follow.
func TestStripBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("copies 200 MB")
	}
	const big = 64 << 20
	tests := []struct {
		name    string
		f       Format
		file    sparseFile
		wantErr bool
	}{
		{
			name: "JPEG with 64 MiB of scan data", f: JPEG,
			file: sparseFile{size: big, pieces: map[int64][]byte{
				0:       slices.Concat([]byte{0xFF, 0xD8}, []byte{0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0}),
				big - 2: {0xFF, 0xD9},
			}},
		},
		{
			name: "PNG with an eXIf of 2 GiB", f: PNG, wantErr: true,
			file: sparseFile{size: 3 << 30, pieces: map[int64][]byte{
				0:  []byte(pngSignature),
				8:  pngChunk("IHDR", make([]byte, 13)),
				33: {0x7F, 0xFF, 0xFF, 0xFF, 'e', 'X', 'I', 'f'},
			}},
		},
		{
			name: "PNG with 64 MiB of IDAT", f: PNG,
			file: sparseFile{size: big + 57, pieces: map[int64][]byte{
				0:            []byte(pngSignature),
				8:            pngChunk("IHDR", make([]byte, 13)),
				33:           {0x04, 0, 0, 0, 'I', 'D', 'A', 'T'},
				41 + big:     binary.BigEndian.AppendUint32(nil, zerosCRC(big)),
				41 + big + 4: pngChunk("IEND", nil),
			}},
		},
		{
			name: "WebP with an EXIF of 3.75 GiB and 64 MiB of VP8", f: WebP,
			file: sparseFile{size: 8 + 0xF0000000 + big, pieces: map[int64][]byte{
				0:               slices.Concat([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, 0xF0000000+big), []byte("WEBP"), vp8x(webpFlagEXIF)),
				30:              {'E', 'X', 'I', 'F', 0, 0, 0, 0xF0},
				38 + 0xF0000000: slices.Concat([]byte("VP8 "), binary.LittleEndian.AppendUint32(nil, big-38-8)),
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var n countingWriter
			_, err := Strip(context.Background(), tt.file, tt.file.size, tt.f, Default, &n)
			runtime.ReadMemStats(&after)
			t.Logf("%d bytes written, error: %v", n, err)
			var fe *FormatError
			if tt.wantErr != errors.As(err, &fe) || !tt.wantErr && err != nil {
				t.Fatalf("got %v, want a FormatError: %v", err, tt.wantErr)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("allocated %d bytes", alloc)
			}
			if !tt.wantErr && n < big-64 {
				t.Errorf("wrote %d bytes, want about %d", n, big)
			}
		})
	}
}

// zerosCRC is the PNG CRC of an IDAT chunk of n zero bytes.
func zerosCRC(n int) uint32 {
	h := crc32.NewIEEE()
	h.Write([]byte("IDAT"))
	zeros := make([]byte, 1<<20)
	for ; n > 0; n -= len(zeros) {
		h.Write(zeros[:min(n, len(zeros))])
	}
	return h.Sum32()
}

type countingWriter int64

func (c *countingWriter) Write(b []byte) (int, error) {
	*c += countingWriter(len(b))
	return len(b), nil
}

// TestContainersCorrupt flips bytes all over the smaller real files: every
// outcome is a copy that re-strips to itself, a FormatError or
// ErrUnsupported, never a panic or another error.
func TestContainersCorrupt(t *testing.T) {
	for _, cf := range containerFiles(t) {
		in, err := os.ReadFile(cf.path)
		if err != nil {
			t.Fatal(err)
		}
		if len(in) > 256<<10 || !cf.complete {
			continue
		}
		t.Run(cf.name, func(t *testing.T) {
			const cases = 300
			var ok, failed int
			for i := range cases {
				b := slices.Clone(in)
				at := i * len(b) / cases
				b[at] ^= byte(0x5A + i)
				out, _, err := stripContainer(cf.format, Default, b)
				var fe *FormatError
				switch {
				case err == nil:
					ok++
					again, _, err := stripContainer(cf.format, Default, out)
					if err != nil || !bytes.Equal(again, out) {
						t.Errorf("byte %d flipped: the copy does not re-strip to itself (%v)", at, err)
					}
				case errors.As(err, &fe), errors.Is(err, ErrUnsupported):
					failed++
				default:
					t.Errorf("byte %d flipped: %v", at, err)
				}
			}
			t.Logf("%d copies, %d refused", ok, failed)
		})
	}
}

// TestStripConcurrent strips files from several goroutines at once (the
// buffers are pooled) and checks each copy against a sequential one.
func TestStripConcurrent(t *testing.T) {
	type job struct {
		f    Format
		in   []byte
		want []byte
	}
	var jobs []job
	for _, cf := range containerFiles(t) {
		if !cf.complete {
			continue
		}
		in, err := os.ReadFile(cf.path)
		if err != nil {
			t.Fatal(err)
		}
		if len(in) > 1<<20 {
			continue
		}
		want, _, err := stripContainer(cf.format, Default, in)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{cf.format, in, want})
	}
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := range jobs {
				j := jobs[(i+w*7)%len(jobs)]
				got, _, err := stripContainer(j.f, Default, j.in)
				if err == nil && !bytes.Equal(got, j.want) {
					err = errors.New("a concurrent copy differs from the sequential one")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
