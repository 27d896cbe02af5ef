package strip

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image/png"
	"reflect"
	"slices"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
)

// pngBase is a PNG from image/png: signature, IHDR, IDAT, IEND.
func pngBase(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, testPicture()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngChunk is a chunk of type typ with data b and a right CRC.
func pngChunk(typ string, b []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	c = append(c, typ...)
	c = append(c, b...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// pngWith inserts chunks after IHDR (head) and before IEND (tail) of base,
// and appends trailer.
func pngWith(base []byte, head, tail [][]byte, trailer []byte) []byte {
	const afterIHDR = 8 + 25
	iend := len(base) - 12
	return slices.Concat(base[:afterIHDR], slices.Concat(head...), base[afterIHDR:iend], slices.Concat(tail...), base[iend:], trailer)
}

func TestStripPNG(t *testing.T) {
	base := pngBase(t)
	none := Profile{Name: "none"}
	iccp := pngChunk("iCCP", []byte("sRGB\x00\x00\x78\x9c\x03\x00\x00\x00\x00\x01"))
	colour := [][]byte{
		pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F}),
		pngChunk("cHRM", make([]byte, 32)),
		pngChunk("sRGB", []byte{0}),
		pngChunk("sBIT", []byte{8, 8, 8, 8}),
		pngChunk("cICP", []byte{1, 13, 0, 1}),
		pngChunk("cLLi", make([]byte, 8)),
		pngChunk("mDCv", make([]byte, 24)),
		pngChunk("pHYs", []byte{0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1}),
		pngChunk("bKGD", []byte{0, 1, 0, 2, 0, 3}),
	}
	tests := []struct {
		name        string
		p           Profile
		head, tail  [][]byte
		trailer     []byte
		want, wantT [][]byte
		removed     []string
		kept        []string
	}{
		{name: "nothing to remove", p: Default},
		{
			name: "text, time and private chunks", p: Default,
			head: [][]byte{
				pngChunk("tEXt", []byte("Author\x00Someone")),
				pngChunk("zTXt", []byte("Comment\x00\x00\x78\x9c\x03\x00\x00\x00\x00\x01")),
				pngChunk("tIME", []byte{0x07, 0xE2, 1, 2, 3, 4, 5}),
				pngChunk("prVt", []byte("private")),
				pngChunk("tEXt", []byte("Title\x00x")),
			},
			tail:    [][]byte{pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<x/>"))},
			removed: []string{"tEXt (2 chunks)", "zTXt", "tIME", "prVt", "iTXt"},
		},
		{
			name: "colour chunks kept", p: none,
			head: colour, want: colour,
			kept: []string{"gAMA", "cHRM", "sRGB", "sBIT", "cICP", "cLLi", "mDCv", "pHYs", "bKGD"},
		},
		{
			name: "iCCP kept by the default profile", p: Default,
			head: [][]byte{iccp}, want: [][]byte{iccp}, kept: []string{"iCCP"},
		},
		{
			name: "iCCP dropped when not kept", p: none,
			head: [][]byte{iccp}, removed: []string{"iCCP"},
		},
		{
			name: "eXIf without kept tags", p: Default,
			head:    [][]byte{pngChunk("eXIf", artistOnlyTIFF()), pngChunk("eXIf", artistOnlyTIFF())},
			removed: []string{"eXIf", "eXIf (duplicate)"},
		},
		{
			name: "APNG chunks kept", p: Default,
			head: [][]byte{pngChunk("acTL", []byte{0, 0, 0, 1, 0, 0, 0, 0})},
			want: [][]byte{pngChunk("acTL", []byte{0, 0, 0, 1, 0, 0, 0, 0})},
			kept: []string{"acTL"},
		},
		{
			name: "data after IEND", p: Default,
			trailer: bytes.Repeat([]byte{1}, 77), removed: []string{"after IEND (77 bytes)"},
		},
	}
	want, err := decodeImage(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, rep, err := stripContainer(PNG, tt.p, pngWith(base, tt.head, tt.tail, tt.trailer))
			if err != nil {
				t.Fatal(err)
			}
			if exp := pngWith(base, tt.want, tt.wantT, nil); !bytes.Equal(out, exp) {
				t.Errorf("copy:\n%x\nwant:\n%x", out, exp)
			}
			if !slices.Equal(rep.Removed, tt.removed) && len(rep.Removed)+len(tt.removed) > 0 {
				t.Errorf("removed %q, want %q", rep.Removed, tt.removed)
			}
			if !slices.Equal(rep.Kept, tt.kept) && len(rep.Kept)+len(tt.kept) > 0 {
				t.Errorf("kept %q, want %q", rep.Kept, tt.kept)
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
	t.Run("eXIf moved before the image data", func(t *testing.T) {
		kept, err := keptEXIF(orientationTIFF(6), Default)
		if err != nil || kept == nil {
			t.Fatalf("keptEXIF keeps no orientation: %v", err)
		}
		in := pngWith(base, nil, [][]byte{pngChunk("eXIf", orientationTIFF(6))}, nil)
		out, rep, err := stripContainer(PNG, Default, in)
		if err != nil {
			t.Fatal(err)
		}
		if exp := pngWith(base, [][]byte{pngChunk("eXIf", kept)}, nil, nil); !bytes.Equal(out, exp) {
			t.Errorf("copy:\n%x\nwant:\n%x", out, exp)
		}
		if want := []string{"eXIf (profile tags only)"}; !slices.Equal(rep.Kept, want) {
			t.Errorf("kept %q, want %q", rep.Kept, want)
		}
	})
	t.Run("IEND with data", func(t *testing.T) {
		in := slices.Concat(base[:len(base)-12], pngChunk("IEND", []byte("hidden")))
		out, rep, err := stripContainer(PNG, Default, in)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, base) || !slices.Equal(rep.Removed, []string{"IEND data (6 bytes)"}) {
			t.Errorf("copy %x, report %q", out[len(out)-12:], rep.Removed)
		}
	})
	t.Run("many names", func(t *testing.T) {
		var head [][]byte
		for i := range 100 {
			head = append(head, pngChunk("pr"+string(rune('A'+i/26))+string(rune('a'+i%26)), nil))
		}
		_, rep, err := stripContainer(PNG, Default, pngWith(base, head, nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Removed) != maxReportNames+1 || rep.Removed[maxReportNames] != "other (36 chunks)" {
			t.Errorf("report lists %d names, last %q", len(rep.Removed), rep.Removed[len(rep.Removed)-1])
		}
	})
}

func TestStripPNGErrors(t *testing.T) {
	base := pngBase(t)
	badCRC := func(c []byte) []byte {
		c = slices.Clone(c)
		c[len(c)-1] ^= 1
		return c
	}
	idat := bytes.Index(base, []byte("IDAT")) - 4
	corruptIDAT := slices.Clone(base)
	corruptIDAT[idat+10] ^= 0x40
	bigLen := slices.Clone(base)
	binary.BigEndian.PutUint32(bigLen[idat:], 0x80000000)
	tests := []struct {
		name        string
		in          []byte
		unsupported bool
	}{
		{name: "empty", in: nil},
		{name: "not a PNG", in: []byte("\xFF\xD8\xFF\xE0 and more bytes")},
		{name: "signature only", in: base[:8]},
		{name: "no IEND", in: base[:len(base)-12]},
		{name: "first chunk not IHDR", in: slices.Concat(base[:8], pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F}), base[8:])},
		{name: "IDAT data corrupt", in: corruptIDAT},
		{name: "bad CRC in a kept chunk", in: pngWith(base, [][]byte{badCRC(pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F}))}, nil, nil)},
		{name: "bad CRC in eXIf", in: pngWith(base, [][]byte{badCRC(pngChunk("eXIf", artistOnlyTIFF()))}, nil, nil)},
		{name: "bad CRC in IEND", in: slices.Concat(base[:len(base)-12], badCRC(base[len(base)-12:]))},
		{name: "chunk type not letters", in: pngWith(base, [][]byte{pngChunk("t3Xt", nil)}, nil, nil)},
		{name: "chunk length above 2^31-1", in: bigLen},
		{name: "chunk past the end", in: base[:len(base)-13]},
		{name: "unknown critical chunk", in: pngWith(base, [][]byte{pngChunk("ABCD", nil)}, nil, nil), unsupported: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkStripError(t, PNG, tt.in, tt.unsupported)
		})
	}
	t.Run("every truncation", func(t *testing.T) {
		in := pngWith(base, [][]byte{pngChunk("tEXt", []byte("a\x00b")), pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F})}, nil, nil)
		for n := range len(in) {
			checkStripError(t, PNG, in[:n], false)
		}
	})
}

func FuzzStripPNG(f *testing.F) {
	base := pngBase(f)
	f.Add(base)
	f.Add(pngWith(base, [][]byte{
		pngChunk("tEXt", []byte("Author\x00Someone")),
		pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F}),
		pngChunk("iCCP", []byte("sRGB\x00\x00\x78\x9c\x03\x00\x00\x00\x00\x01")),
		pngChunk("eXIf", orientationTIFF(6)),
	}, [][]byte{pngChunk("zTXt", []byte("a\x00\x00x"))}, []byte("trailer")))
	f.Add(testfiles.Read(f, testfiles.PNGStructure, "assets/exif.png"))
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzStrip(t, PNG, in)
	})
}

func BenchmarkStripPNG(b *testing.B) {
	// A 1.8 MB screenshot.
	benchmarkStrip(b, PNG, testfiles.Read(b, testfiles.PNGStructure, "assets/Selection_058.png"))
}

// TestReportNamesCapped: TIFF and HEIF reports fold repeats and list at
// most maxReportNames names, as the container walks do, so that a file of
// many pages or boxes makes a short report.
func TestReportNamesCapped(t *testing.T) {
	name := func(i int) string { return string(rune('A'+i/26)) + string(rune('a'+i%26)) }
	manyPages := func() []byte {
		s := &synth{o: binary.LittleEndian}
		var chain []*ifdDir
		for range 100 {
			d := &ifdDir{}
			s.rgb(d, 0, 2, 2)
			s.ascii(d, 0x0131, "Firmware 1.0") // Software, dropped
			chain = append(chain, d)
		}
		return s.file(t, false, chain...)
	}
	heifWithBoxes := func(types func(i int) string) []byte {
		f := &heifBFile{primary: 1, props: [][]byte{heifPropISPE(8, 8)},
			items: []heifBItem{{id: 1, typ: "hvc1", data: bytes.Repeat([]byte{0xAB}, 64), props: []heifBAssoc{{1, false}}}}}
		for i := range 100 {
			f.top = append(f.top, heifBBox(types(i), nil))
		}
		return f.build()
	}
	tests := []struct {
		name      string
		format    Format
		in        []byte
		wantLen   int
		wantFirst string
		wantLast  string
	}{
		{"TIFF of 100 pages", TIFF, manyPages(), maxReportNames + 1, "IFD0 tag 0x0131 Software", "other (36 entries)"},
		{"HEIF of 100 kinds of box", HEIF, heifWithBoxes(func(i int) string { return "zz" + name(i) }), maxReportNames + 1, "box zzAa", "other (36 boxes)"},
		{"HEIF of 100 free boxes", HEIF, heifWithBoxes(func(int) string { return "free" }), 1, "box free (100 boxes)", "box free (100 boxes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rep, err := stripContainer(tt.format, Default, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Removed) != tt.wantLen || rep.Removed[0] != tt.wantFirst || rep.Removed[len(rep.Removed)-1] != tt.wantLast {
				t.Errorf("report lists %d names, %q … %q; want %d, %q … %q", len(rep.Removed),
					rep.Removed[0], rep.Removed[len(rep.Removed)-1], tt.wantLen, tt.wantFirst, tt.wantLast)
			}
		})
	}
}
