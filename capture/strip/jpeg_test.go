package strip

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
)

// testPicture is a small image with some detail, for the encoders.
func testPicture() image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 24))
	for y := 0; y < 24; y++ {
		for x := 0; x < 40; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 6), uint8(y * 10), uint8(x * y), uint8(255 - x*2)})
		}
	}
	return img
}

// jpegBase is a baseline JPEG from image/jpeg: SOI, DQT, SOF0, DHT, SOS,
// scan data, EOI, and no metadata.
func jpegBase(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testPicture(), &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// jpegSeg is a segment with marker mk and the concatenated body.
func jpegSeg(mk byte, body ...[]byte) []byte {
	b := slices.Concat(body...)
	return append([]byte{0xFF, mk, byte((len(b) + 2) >> 8), byte(len(b) + 2)}, b...)
}

// artistOnlyTIFF is an EXIF block whose only tag, Artist, no profile keeps.
func artistOnlyTIFF() []byte {
	b := []byte("MM\x00\x2a\x00\x00\x00\x08")
	b = append(b, 0, 1)                          // one entry
	b = append(b, 0x01, 0x3B, 0, 2, 0, 0, 0, 14) // Artist, ASCII, 14 bytes
	b = append(b, 0, 0, 0, 26)                   // at offset 26
	b = append(b, 0, 0, 0, 0)                    // no next IFD
	return append(b, "Example Owner\x00"...)
}

// orientationTIFF is an EXIF block with Orientation o and Artist.
func orientationTIFF(o byte) []byte {
	b := []byte("MM\x00\x2a\x00\x00\x00\x08")
	b = append(b, 0, 2)                          // two entries
	b = append(b, 0x01, 0x12, 0, 3, 0, 0, 0, 1)  // Orientation, SHORT, 1
	b = append(b, 0, o, 0, 0)                    // inline value
	b = append(b, 0x01, 0x3B, 0, 2, 0, 0, 0, 14) // Artist, ASCII, 14 bytes
	b = append(b, 0, 0, 0, 38)                   // at offset 38
	b = append(b, 0, 0, 0, 0)                    // no next IFD
	return append(b, "Example Owner\x00"...)
}

// jpegWith inserts segments after SOI (head) and before the first SOS
// (mid) of base, and appends trailer.
func jpegWith(base []byte, head, mid [][]byte, trailer []byte) []byte {
	sos := bytes.Index(base, []byte{0xFF, 0xDA})
	return slices.Concat(base[:2], slices.Concat(head...), base[2:sos], slices.Concat(mid...), base[sos:], trailer)
}

func TestStripJPEG(t *testing.T) {
	base := jpegBase(t)
	none := Profile{Name: "none"}
	jfif := func(thumbW, thumbH byte, thumb []byte) []byte {
		return jpegSeg(0xE0, []byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48"), []byte{thumbW, thumbH}, thumb)
	}
	icc1 := jpegSeg(0xE2, []byte("ICC_PROFILE\x00\x01\x02"), bytes.Repeat([]byte{7}, 100))
	icc2 := jpegSeg(0xE2, []byte("ICC_PROFILE\x00\x02\x02"), bytes.Repeat([]byte{8}, 50))
	adobe := []byte("Adobe\x00\x64\x80\x00\x00\x00\x01")
	exif := jpegSeg(0xE1, []byte("Exif\x00\x00"), artistOnlyTIFF())
	keptOrientation, err := keptEXIF(orientationTIFF(3), Default)
	if err != nil || keptOrientation == nil {
		t.Fatalf("keptEXIF keeps no orientation: %v", err)
	}
	tests := []struct {
		name      string
		p         Profile
		head, mid [][]byte
		trailer   []byte
		want      [][]byte // segments after SOI in the copy; the rest is base
		wantMid   [][]byte
		removed   []string
		kept      []string
		noDecode  bool
	}{
		{name: "nothing to remove", p: Default},
		{
			name: "JFIF thumbnail dropped", p: Default,
			head:    [][]byte{jfif(2, 1, bytes.Repeat([]byte{0xAB}, 6))},
			want:    [][]byte{jfif(0, 0, nil)},
			removed: []string{"APP0 JFIF thumbnail"}, kept: []string{"APP0 JFIF"},
		},
		{
			name: "JFIF without thumbnail kept", p: none,
			head: [][]byte{jfif(0, 0, nil)}, want: [][]byte{jfif(0, 0, nil)},
			kept: []string{"APP0 JFIF"},
		},
		{
			name: "short JFIF kept as it is", p: Default,
			head: [][]byte{jpegSeg(0xE0, []byte("JFIF\x00\x01\x02"))}, want: [][]byte{jpegSeg(0xE0, []byte("JFIF\x00\x01\x02"))},
			kept: []string{"APP0 JFIF"},
		},
		{
			name: "JFXX thumbnail", p: Default,
			head:    [][]byte{jpegSeg(0xE0, []byte("JFXX\x00\x13"), bytes.Repeat([]byte{1}, 30))},
			removed: []string{"APP0 JFXX"},
		},
		{
			name: "Exif without kept tags", p: Default,
			head: [][]byte{exif, exif}, removed: []string{"APP1 Exif", "APP1 Exif (duplicate)"},
		},
		{
			name: "Exif rewritten with the orientation", p: Default,
			head:    [][]byte{jpegSeg(0xE1, []byte("Exif\x00\x00"), orientationTIFF(3)), exif},
			want:    [][]byte{jpegSeg(0xE1, []byte("Exif\x00\x00"), keptOrientation)},
			removed: []string{"APP1 Exif (other tags)", "APP1 Exif (duplicate)"}, kept: []string{"APP1 Exif (profile tags only)"},
		},
		{
			name: "Exif that is not TIFF", p: Default,
			head:    [][]byte{jpegSeg(0xE1, []byte("Exif\x00\x00II*\x00\xFF\xFF\xFF\x7F"))},
			removed: []string{"APP1 Exif (unreadable, dropped whole)"},
		},
		{
			name: "XMP and extended XMP", p: Default,
			head: [][]byte{
				jpegSeg(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>")),
				jpegSeg(0xE1, []byte("http://ns.adobe.com/xmp/extension/\x00ABCDEF"), bytes.Repeat([]byte{'x'}, 200)),
			},
			removed: []string{"APP1 XMP", "APP1 XMP extended"},
		},
		{
			name: "ICC kept by the default profile", p: Default,
			head: [][]byte{icc1, icc2}, want: [][]byte{icc1, icc2},
			kept: []string{"APP2 ICC_PROFILE (2 segments)"},
		},
		{
			name: "ICC dropped when not kept", p: none,
			head: [][]byte{icc1, icc2}, removed: []string{"APP2 ICC_PROFILE (2 segments)"},
		},
		{
			name: "MPF, Photoshop, comments, other APPn", p: Default,
			head: [][]byte{
				jpegSeg(0xE2, []byte("MPF\x00MM\x00\x2a")),
				jpegSeg(0xED, []byte("Photoshop 3.0\x008BIM\x04\x04")),
				jpegSeg(0xFE, []byte("taken by someone")),
				jpegSeg(0xE5, []byte("anything")),
				jpegSeg(0xE1, []byte("other")),
				jpegSeg(0xE2, []byte("FPXR\x00")),
				jpegSeg(0xED, []byte("other")),
				jpegSeg(0xFE, nil),
			},
			removed: []string{"APP2 MPF", "APP13 Photoshop", "COM (2 segments)", "APP5", "APP1", "APP2", "APP13"},
		},
		{
			name: "Adobe trimmed to its transform flag", p: none,
			head:    [][]byte{jpegSeg(0xEE, adobe, []byte("more"))},
			want:    [][]byte{jpegSeg(0xEE, adobe)},
			removed: []string{"APP14 Adobe (data after the transform flag)"}, kept: []string{"APP14 Adobe"},
		},
		{
			name: "short Adobe dropped", p: Default,
			head: [][]byte{jpegSeg(0xEE, []byte("Adobe\x00"))}, removed: []string{"APP14"},
		},
		{
			name: "data after EOI", p: Default,
			trailer: slices.Concat([]byte{0xFF, 0xD8}, bytes.Repeat([]byte{9}, 1000)),
			removed: []string{"after EOI (1002 bytes)"},
		},
		{
			name: "fill bytes before markers", p: Default,
			head: [][]byte{{0xFF, 0xFF, 0xFF}, jpegSeg(0xFE, []byte("c")), {0xFF}},
			mid:  [][]byte{{0xFF, 0xFF}}, removed: []string{"COM"},
		},
		{
			name: "longest run of fill bytes", p: Default,
			head: [][]byte{bytes.Repeat([]byte{0xFF}, jpegMaxFill-1)},
		},
		{
			name: "metadata between the tables and the scan", p: Default,
			mid:     [][]byte{jpegSeg(0xFE, []byte("c")), exif, jpegSeg(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x/>"))},
			removed: []string{"COM", "APP1 Exif", "APP1 XMP"},
		},
		{
			name: "restart and TEM markers outside a scan copied", p: Default,
			head: [][]byte{{0xFF, 0xD0}, {0xFF, 0x01}}, want: [][]byte{{0xFF, 0xD0}, {0xFF, 0x01}},
			noDecode: true, // image/jpeg refuses TEM
		},
	}
	want, err := decodeImage(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := jpegWith(base, tt.head, tt.mid, tt.trailer)
			out, rep, err := stripContainer(JPEG, tt.p, in)
			if err != nil {
				t.Fatal(err)
			}
			if exp := jpegWith(base, tt.want, tt.wantMid, nil); !bytes.Equal(out, exp) {
				t.Errorf("copy:\n%x\nwant:\n%x", out, exp)
			}
			if !slices.Equal(rep.Removed, tt.removed) && len(rep.Removed)+len(tt.removed) > 0 {
				t.Errorf("removed %q, want %q", rep.Removed, tt.removed)
			}
			if !slices.Equal(rep.Kept, tt.kept) && len(rep.Kept)+len(tt.kept) > 0 {
				t.Errorf("kept %q, want %q", rep.Kept, tt.kept)
			}
			if tt.noDecode {
				return
			}
			got, err := decodeImage(out)
			if err != nil {
				t.Fatalf("copy does not decode: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Error("copy decodes to other pixels")
			}
		})
	}
}

func TestStripJPEGScanData(t *testing.T) {
	// Stuffed bytes and restart markers inside the entropy-coded data,
	// placed so that they straddle the copy buffer's boundary.
	for _, at := range []int{streamBuf - 2, streamBuf - 1, streamBuf, streamBuf + 1} {
		for _, pair := range [][]byte{{0xFF, 0x00}, {0xFF, 0xD3}} {
			t.Run(strconv.Itoa(at)+"/"+strconv.Itoa(int(pair[1])), func(t *testing.T) {
				scan := bytes.Repeat([]byte{0x5A}, 2*streamBuf)
				copy(scan[at:], pair)
				in := slices.Concat([]byte{0xFF, 0xD8}, jpegSeg(0xDA, []byte{1, 1, 0, 0, 63, 0}), scan, []byte{0xFF, 0xD9})
				out, _, err := stripContainer(JPEG, Default, in)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, in) {
					t.Error("copy differs")
				}
			})
		}
	}
}

func TestStripJPEGErrors(t *testing.T) {
	base := jpegBase(t)
	sos := bytes.Index(base, []byte{0xFF, 0xDA})
	tests := []struct {
		name        string
		in          []byte
		unsupported bool
	}{
		{name: "empty", in: nil},
		{name: "not a JPEG", in: []byte("\x89PNG\r\n\x1a\n")},
		{name: "SOI only", in: []byte{0xFF, 0xD8}},
		{name: "no EOI after the tables", in: base[:sos]},
		{name: "scan data runs to the end", in: base[:len(base)-2]},
		{name: "segment length below 2", in: slices.Concat(base[:2], []byte{0xFF, 0xE1, 0, 1}, base[2:])},
		{name: "segment past the end", in: slices.Concat(base[:2], []byte{0xFF, 0xE1, 0xFF, 0xF0, 1, 2})},
		{name: "second SOI", in: slices.Concat(base[:2], []byte{0xFF, 0xD8}, base[2:])},
		{name: "reserved marker", in: slices.Concat(base[:2], jpegSeg(0x02, []byte{1}), base[2:])},
		{name: "stuffed zero outside a scan", in: slices.Concat(base[:2], []byte{0xFF, 0x00}, base[2:])},
		{name: "data where a marker should be", in: slices.Concat(base[:2], []byte{0x12, 0x34}, base[2:])},
		{name: "run of fill bytes", in: slices.Concat(base[:2], bytes.Repeat([]byte{0xFF}, jpegMaxFill+2), base[2:])},
		{name: "JPEG-LS", in: slices.Concat(base[:2], jpegSeg(0xF7, []byte{8, 0, 1, 0, 1, 1, 1, 0x11, 0}), base[2:]), unsupported: true},
		{name: "JPG marker", in: slices.Concat(base[:2], jpegSeg(0xC8, []byte{1}), base[2:]), unsupported: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkStripError(t, JPEG, tt.in, tt.unsupported)
		})
	}
	t.Run("every truncation", func(t *testing.T) {
		in := jpegWith(base, [][]byte{jpegSeg(0xE0, []byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x00\x00"))}, nil, nil)
		for n := range len(in) {
			checkStripError(t, JPEG, in[:n], false)
		}
	})
}

// checkStripError checks that stripping in fails with a FormatError, or
// ErrUnsupported when unsupported is set.
func checkStripError(t *testing.T, f Format, in []byte, unsupported bool) {
	t.Helper()
	var out bytes.Buffer
	rep, err := Strip(context.Background(), bytes.NewReader(in), int64(len(in)), f, Default, &out)
	if rep != nil {
		t.Errorf("%d bytes: got a report with error %v", len(in), err)
	}
	var fe *FormatError
	switch {
	case unsupported && !errors.Is(err, ErrUnsupported):
		t.Errorf("%d bytes: got %v, want ErrUnsupported", len(in), err)
	case !unsupported && !errors.As(err, &fe):
		t.Errorf("%d bytes: got %v, want a FormatError", len(in), err)
	case fe != nil && (fe.Format != f || fe.Offset < 0 || fe.Offset > int64(len(in))):
		t.Errorf("%d bytes: FormatError %+v: wrong format or offset", len(in), fe)
	}
}

// failingReader fails every read at or past off with err.
type failingReader struct {
	r   io.ReaderAt
	off int64
	err error
}

func (f failingReader) ReadAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > f.off {
		return 0, f.err
	}
	return f.r.ReadAt(b, off)
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

// TestStripIOErrors checks that read, write and context errors pass
// through as themselves, not as FormatErrors.
func TestStripIOErrors(t *testing.T) {
	inputs := map[Format][]byte{JPEG: jpegBase(t), PNG: pngBase(t), WebP: readTestdata(t, "alpha.webp")}
	boom := errors.New("disk on fire")
	for f, in := range inputs {
		t.Run(string(f), func(t *testing.T) {
			size := int64(len(in))
			_, err := Strip(context.Background(), failingReader{bytes.NewReader(in), size / 2, boom}, size, f, Default, io.Discard)
			var fe *FormatError
			if !errors.Is(err, boom) || errors.As(err, &fe) {
				t.Errorf("read error: got %v", err)
			}
			_, err = Strip(context.Background(), bytes.NewReader(in), size, f, Default, failingWriter{boom})
			if !errors.Is(err, boom) {
				t.Errorf("write error: got %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err = Strip(ctx, bytes.NewReader(in), size, f, Default, io.Discard)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("canceled: got %v", err)
			}
		})
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fuzzStrip is the body of the fuzz targets: no panic; an error is a
// FormatError or ErrUnsupported; a copy re-strips to itself, and decodes
// to the same pixels when the input decodes.
func fuzzStrip(t *testing.T, f Format, in []byte) {
	out, _, err := stripContainer(f, Default, in)
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("error is neither a FormatError nor ErrUnsupported: %v", err)
		}
		return
	}
	again, _, err := stripContainer(f, Default, out)
	if err != nil {
		t.Fatalf("stripping the copy: %v", err)
	}
	if !bytes.Equal(again, out) {
		t.Fatal("strip(strip(x)) != strip(x)")
	}
	imgIn, err := decodeImage(in)
	if err != nil {
		return
	}
	imgOut, err := decodeImage(out)
	if err != nil {
		t.Fatalf("the input decodes, the copy does not: %v", err)
	}
	if !reflect.DeepEqual(imgIn, imgOut) {
		t.Fatal("the copy decodes to other pixels")
	}
}

func FuzzStripJPEG(f *testing.F) {
	base := jpegBase(f)
	f.Add(base)
	f.Add(jpegWith(base, [][]byte{
		jpegSeg(0xE0, []byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x01\x01\x01\x02\x03")),
		jpegSeg(0xE1, []byte("Exif\x00\x00"), orientationTIFF(6)),
		jpegSeg(0xEE, []byte("Adobe\x00\x64\x80\x00\x00\x00\x01")),
		{0xFF, 0xFF},
	}, [][]byte{jpegSeg(0xFE, []byte("c"))}, []byte{0xFF, 0xD8, 0xFF}))
	f.Add(readTestdata(f, "lens-progressive.jpg"))
	f.Add(readTestdata(f, "lens-arithmetic.jpg"))
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzStrip(t, JPEG, in)
	})
}

func benchmarkStrip(b *testing.B, f Format, in []byte) {
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	r := bytes.NewReader(in)
	for b.Loop() {
		if _, err := Strip(context.Background(), r, int64(len(in)), f, Default, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStripJPEG(b *testing.B) {
	// A Canon EOS 5D Mark III photo, 5.6 MB.
	benchmarkStrip(b, JPEG, testfiles.Read(b, testfiles.GoExif, "assets/NDM_8901.jpg"))
}

func BenchmarkStripJPEGFile(b *testing.B) {
	// The same photo read from a file (in the page cache): what ingest sees.
	path := testfiles.Path(b, testfiles.GoExif, "assets/NDM_8901.jpg")
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	for b.Loop() {
		if _, err := Strip(context.Background(), f, st.Size(), JPEG, Default, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStripJPEGSmall(b *testing.B) {
	// A 46 KB phone photo with EXIF (GPS) and XMP: the per-file cost.
	benchmarkStrip(b, JPEG, testfiles.Read(b, testfiles.GoExif, "assets/gps-2000-scaled.jpg"))
}
