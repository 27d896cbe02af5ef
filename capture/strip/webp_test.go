package strip

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"slices"
	"strconv"
	"testing"
)

// webpChunkBytes is a RIFF chunk with payload b, padded with pad when odd.
func webpChunkBytes(fourcc string, b []byte, pad byte) []byte {
	c := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(b)))...)
	c = append(c, b...)
	if len(b)%2 == 1 {
		c = append(c, pad)
	}
	return c
}

// riffWebP wraps chunks in a RIFF WEBP header of the right size.
func riffWebP(chunks ...[]byte) []byte {
	body := slices.Concat(chunks...)
	return slices.Concat([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(body))), []byte("WEBP"), body)
}

// webpSplit returns the chunks of a well-formed WebP file, padding
// included.
func webpSplit(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for pos := 12; pos < len(b); {
		n := int(binary.LittleEndian.Uint32(b[pos+4:]))
		end := pos + 8 + n + n%2
		out = append(out, b[pos:end])
		pos = end
	}
	return out
}

// vp8x is a VP8X chunk with the given flags and the 48x32 canvas of the
// test files.
func vp8x(flags byte) []byte {
	return webpChunkBytes("VP8X", []byte{flags, 0, 0, 0, 47, 0, 0, 31, 0, 0}, 0)
}

func TestStripWebP(t *testing.T) {
	simple := readTestdata(t, "lossless.webp") // VP8L
	vp8l := webpSplit(t, simple)[0]
	alpha := webpSplit(t, readTestdata(t, "alpha.webp")) // VP8X, ALPH, VP8
	alph, vp8 := alpha[1], alpha[2]
	none := Profile{Name: "none"}
	iccp := webpChunkBytes("ICCP", []byte("icc"), 0)
	iccpPad := webpChunkBytes("ICCP", []byte("icc"), 0x55) // a non-zero padding byte
	exif := webpChunkBytes("EXIF", artistOnlyTIFF(), 0)
	xmp := webpChunkBytes("XMP ", []byte("<x:xmpmeta/>"), 0)
	unknown := webpChunkBytes("ABCD", []byte("odd"), 0)
	keptOrientation, err := keptEXIF(orientationTIFF(8), Default)
	if err != nil || keptOrientation == nil {
		t.Fatalf("keptEXIF keeps no orientation: %v", err)
	}
	tests := []struct {
		name    string
		p       Profile
		in      []byte
		want    []byte
		removed []string
		kept    []string
	}{
		{name: "simple lossless", p: Default, in: simple, want: simple},
		{
			name: "simple with data after RIFF", p: Default,
			in: slices.Concat(simple, []byte("appended")), want: simple,
			removed: []string{"after RIFF (8 bytes)"},
		},
		{
			name: "simple with metadata chunks it may not have", p: Default,
			in: riffWebP(vp8l, exif, xmp, vp8x(webpFlagEXIF)), want: simple,
			removed: []string{"EXIF", "XMP", "VP8X (misplaced)"},
		},
		{
			name: "extended, default profile", p: Default,
			in:      riffWebP(vp8x(webpFlagAlpha|webpFlagICC|webpFlagEXIF|webpFlagXMP), iccpPad, alph, vp8, exif, xmp, unknown),
			want:    riffWebP(vp8x(webpFlagAlpha|webpFlagICC), iccp, alph, vp8),
			removed: []string{"EXIF", "XMP", "ABCD"}, kept: []string{"ICCP"},
		},
		{
			name: "extended, keep nothing", p: none,
			in:      riffWebP(vp8x(webpFlagAlpha|webpFlagICC|webpFlagEXIF|webpFlagXMP), iccp, alph, vp8, exif, xmp),
			want:    riffWebP(vp8x(webpFlagAlpha), alph, vp8),
			removed: []string{"EXIF", "ICCP", "XMP"},
		},
		{
			name: "EXIF rewritten with the orientation", p: Default,
			in:      riffWebP(vp8x(webpFlagAlpha|webpFlagEXIF|webpFlagXMP), alph, vp8, xmp, webpChunkBytes("EXIF", orientationTIFF(8), 0)),
			want:    riffWebP(vp8x(webpFlagAlpha|webpFlagEXIF), alph, vp8, webpChunkBytes("EXIF", keptOrientation, 0)),
			removed: []string{"EXIF (other tags)", "XMP"}, kept: []string{"EXIF (profile tags only)"},
		},
		{
			name: "EXIF with the JPEG prefix", p: Default,
			in:      riffWebP(vp8x(webpFlagAlpha|webpFlagEXIF), alph, vp8, webpChunkBytes("EXIF", slices.Concat([]byte("Exif\x00\x00"), orientationTIFF(8)), 0)),
			want:    riffWebP(vp8x(webpFlagAlpha|webpFlagEXIF), alph, vp8, webpChunkBytes("EXIF", keptOrientation, 0)),
			removed: []string{"EXIF (other tags)"}, kept: []string{"EXIF (profile tags only)"},
		},
		{
			name: "reserved bits and XMP flag cleared", p: Default,
			in:   riffWebP(vp8x(0xC1|webpFlagAlpha|webpFlagXMP), alph, vp8),
			want: riffWebP(vp8x(webpFlagAlpha), alph, vp8),
		},
		{
			name: "repeated chunks", p: Default,
			in:      riffWebP(vp8x(webpFlagAlpha|webpFlagICC), iccp, vp8x(0), iccp, alph, vp8, exif, exif),
			want:    riffWebP(vp8x(webpFlagAlpha|webpFlagICC), iccp, alph, vp8),
			removed: []string{"EXIF", "VP8X (misplaced)", "ICCP", "EXIF"}, kept: []string{"ICCP"},
		},
		{
			name: "unnamed chunk", p: Default,
			in:      riffWebP(vp8x(webpFlagAlpha), alph, vp8, webpChunkBytes("\x00\x01\x02\x03", nil, 0)),
			want:    riffWebP(vp8x(webpFlagAlpha), alph, vp8),
			removed: []string{"unnamed chunk"},
		},
		{
			name: "last chunk's padding missing", p: Default,
			in:   slices.Concat([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(vp8l)-1)), []byte("WEBP"), vp8l[:len(vp8l)-1]),
			want: simple,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, rep, err := stripContainer(WebP, tt.p, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, tt.want) {
				t.Errorf("copy:\n%x\nwant:\n%x", out, tt.want)
			}
			// The report's duplicates are counted, not repeated.
			wantRemoved := countNames(tt.removed)
			if !slices.Equal(rep.Removed, wantRemoved) && len(rep.Removed)+len(wantRemoved) > 0 {
				t.Errorf("removed %q, want %q", rep.Removed, wantRemoved)
			}
			if !slices.Equal(rep.Kept, tt.kept) && len(rep.Kept)+len(tt.kept) > 0 {
				t.Errorf("kept %q, want %q", rep.Kept, tt.kept)
			}
			got, err := decodeImage(out)
			if err != nil {
				t.Fatalf("copy does not decode: %v", err)
			}
			// Some inputs here (repeated VP8X) are too odd for the decoder.
			if want, err := decodeImage(tt.in); err == nil && !reflect.DeepEqual(got, want) {
				t.Error("copy decodes to other pixels")
			}
		})
	}
}

// countNames folds repeated names as a Report does: "EXIF (2 chunks)".
func countNames(names []string) []string {
	var order []string
	n := map[string]int{}
	for _, s := range names {
		if n[s] == 0 {
			order = append(order, s)
		}
		n[s]++
	}
	for i, s := range order {
		if n[s] > 1 {
			order[i] = s + " (" + strconv.Itoa(n[s]) + " chunks)"
		}
	}
	return order
}

func TestStripWebPErrors(t *testing.T) {
	simple := readTestdata(t, "lossless.webp")
	vp8l := webpSplit(t, simple)[0]
	setSize := func(b []byte, n uint32) []byte {
		b = slices.Clone(b)
		binary.LittleEndian.PutUint32(b[4:], n)
		return b
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "empty", in: nil},
		{name: "not RIFF", in: []byte("RIFX\x10\x00\x00\x00WEBPVP8L")},
		{name: "not WEBP", in: setSize([]byte("RIFF\x00\x00\x00\x00AVI LIST\x00\x00\x00\x00"), 12)},
		{name: "RIFF size too small", in: setSize(simple, 4)},
		{name: "RIFF size past the end", in: setSize(simple, uint32(len(simple)))},
		{name: "chunk past the RIFF end", in: riffWebP(vp8l[:len(vp8l)-8])},
		{name: "chunk header cut short", in: riffWebP(vp8l, []byte("EXI"))},
		{name: "first chunk unknown", in: riffWebP(webpChunkBytes("ABCD", nil, 0), vp8l)},
		{name: "VP8X too short", in: riffWebP(webpChunkBytes("VP8X", make([]byte, 8), 0), vp8l)},
		{name: "no image chunk", in: riffWebP(vp8x(0), webpChunkBytes("ICCP", []byte("icc"), 0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkStripError(t, WebP, tt.in, false)
		})
	}
	t.Run("every truncation", func(t *testing.T) {
		alpha := webpSplit(t, readTestdata(t, "alpha.webp"))
		in := riffWebP(vp8x(webpFlagAlpha|webpFlagEXIF), alpha[1], alpha[2], webpChunkBytes("EXIF", artistOnlyTIFF(), 0))
		for n := range len(in) {
			checkStripError(t, WebP, in[:n], false)
		}
	})
}

func FuzzStripWebP(f *testing.F) {
	simple := readTestdata(f, "lossless.webp")
	alpha := webpSplit(f, readTestdata(f, "alpha.webp"))
	f.Add(simple)
	f.Add(readTestdata(f, "alpha.webp"))
	f.Add(riffWebP(vp8x(0x3E), webpChunkBytes("ICCP", []byte("icc"), 0), alpha[1], alpha[2],
		webpChunkBytes("EXIF", orientationTIFF(6), 0), webpChunkBytes("XMP ", []byte("<x/>"), 0)))
	f.Add(readTestdata(f, "anim-meta.webp"))
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzStrip(t, WebP, in)
	})
}

func BenchmarkStripWebP(b *testing.B) {
	// The walk does not decode, so the payloads need not be valid: an
	// extended file with a 4 MiB VP8 chunk, a 1 MiB ALPH, an ICC profile,
	// EXIF and XMP.
	big := bytes.Repeat([]byte{0x9D, 0x01, 0x2A, 0x55}, 1<<20)
	in := riffWebP(vp8x(webpFlagAlpha|webpFlagICC|webpFlagEXIF|webpFlagXMP),
		webpChunkBytes("ICCP", big[:3000], 0), webpChunkBytes("ALPH", big[:1<<20], 0), webpChunkBytes("VP8 ", big, 0),
		webpChunkBytes("EXIF", artistOnlyTIFF(), 0), webpChunkBytes("XMP ", big[:5000], 0))
	benchmarkStrip(b, WebP, in)
}
