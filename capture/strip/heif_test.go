package strip

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// heifSecret is planted in names, descriptions and XMP of the made-up files:
// it must never reach an output, a report or an error.
const heifSecret = "SECRET-Field-Team-3"

func heifRun(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// heifEnc encodes src with heif-enc and returns the file.
func heifEnc(t testing.TB, src string, args ...string) []byte {
	t.Helper()
	testenv.Program(t, "libheif-examples", "heif-enc")
	out := filepath.Join(t.TempDir(), "out.heic")
	heifRun(t, "heif-enc", append(append([]string{"-o", out}, args...), src)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func heifWritePNG(t testing.TB, img image.Image) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// heifTestImage is a colourful RGBA picture, with alpha varying when alpha.
func heifTestImage(w, h int, alpha bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint8(255)
			if alpha {
				a = uint8(x * 255 / w)
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 7), uint8(y * 5), uint8((x + y) * 3), a})
		}
	}
	return img
}

func heifStrip(in []byte, p Profile) ([]byte, *Report, error) {
	var out bytes.Buffer
	rep, err := Strip(context.Background(), bytes.NewReader(in), int64(len(in)), HEIF, p, &out)
	return out.Bytes(), rep, err
}

func heifMustStrip(t testing.TB, in []byte, p Profile) ([]byte, *Report) {
	t.Helper()
	out, rep, err := heifStrip(in, p)
	if err != nil {
		t.Fatalf("strip: %v", err)
	}
	return out, rep
}

// heifParsed parses a HEIF file with the stripper's own reader.
func heifParsed(t testing.TB, b []byte) *heifFile {
	t.Helper()
	f := &heifFile{ctx: context.Background(), r: bytes.NewReader(b), size: int64(len(b)), items: map[uint32]*heifItem{}, rep: &tally{}}
	if err := f.parse(); err != nil {
		t.Fatalf("parse: %v", err)
	}
	return f
}

func heifItemData(t testing.TB, f *heifFile, it *heifItem) []byte {
	t.Helper()
	if !it.Located {
		return nil
	}
	if err := f.checkExtents(it); err != nil {
		t.Fatalf("item %d: %v", it.ID, err)
	}
	b, err := f.itemBytes(it, 1<<30)
	if err != nil {
		t.Fatalf("item %d: %v", it.ID, err)
	}
	return b
}

func heifPropsOf(f *heifFile, it *heifItem) []string {
	var out []string
	for _, a := range it.Assocs {
		p := f.props[a.Index-1]
		ess := ""
		if a.Essential {
			ess = "!"
		}
		out = append(out, ess+string(heifBBox(p.Type, p.Body)))
	}
	return out
}

// heifCheckCopy proves that every item of the copy but the new Exif item is
// the same item of the original, with the same coded bytes, type, hidden
// flag and properties (less those the profile drops), and that the copy
// keeps the original's primary item.
func heifCheckCopy(t testing.TB, in, out []byte, p Profile) (inF, outF *heifFile) {
	t.Helper()
	inF, outF = heifParsed(t, in), heifParsed(t, out)
	if inF.primary != outF.primary {
		t.Fatalf("primary item %d, want %d", outF.primary, inF.primary)
	}
	if !bytes.Equal(inF.ftyp, outF.ftyp) {
		t.Errorf("ftyp changed")
	}
	for _, o := range outF.order {
		if o.Type == "Exif" {
			continue
		}
		i := inF.items[o.ID]
		if i == nil {
			t.Fatalf("item %d is not in the original", o.ID)
		}
		if o.Type != i.Type || o.Hidden != i.Hidden {
			t.Errorf("item %d: %s hidden=%v, want %s hidden=%v", o.ID, o.Type, o.Hidden, i.Type, i.Hidden)
		}
		if !bytes.Equal(heifItemData(t, outF, o), heifItemData(t, inF, i)) {
			t.Errorf("item %d (%s): coded bytes differ", o.ID, o.Type)
		}
		var want []string
		for _, s := range heifPropsOf(inF, i) {
			box := strings.TrimPrefix(s, "!")
			typ, kind := box[4:8], ""
			if len(box) >= 12 {
				kind = box[8:12]
			}
			var keep bool
			switch typ {
			case "colr":
				keep = kind == "nclx" || (kind == "prof" || kind == "rICC") && p.Keeps(ColorProfile)
			case "auxC":
				keep = slices.Contains(heifAlphaURNs, auxURN(heifProp{Type: typ, Body: []byte(box[8:])}))
			default:
				keep = slices.Contains(heifKeptProps, typ)
			}
			if keep {
				want = append(want, s)
			}
		}
		if got := heifPropsOf(outF, o); !slices.Equal(got, want) {
			t.Errorf("item %d: properties differ:\n got %q\nwant %q", o.ID, got, want)
		}
	}
	if bytes.Contains(out, []byte(heifSecret)) {
		t.Errorf("copy contains the planted heifSecret")
	}
	return inF, outF
}

// heifDecode decodes the primary image with heif-dec (heif-convert before
// libheif 1.17) into RGBA pixels.
func heifDecode(t testing.TB, file []byte) *image.NRGBA {
	t.Helper()
	// libheif 1.17 renamed heif-convert to heif-dec.
	dec := testenv.Program(t, "libheif-examples", "heif-dec", "heif-convert")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.heic"), filepath.Join(dir, "out.png")
	if err := os.WriteFile(in, file, 0o644); err != nil {
		t.Fatal(err)
	}
	heifRun(t, dec, in, out)
	if _, err := os.Stat(out); err != nil {
		// Several top-level images: heif-convert numbers them, the
		// primary first.
		out = filepath.Join(dir, "out-1.png")
	}
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatal(err)
	}
	n := image.NewNRGBA(img.Bounds())
	draw.Draw(n, n.Bounds(), img, img.Bounds().Min, draw.Src)
	return n
}

func heifSamePixels(t testing.TB, a, b *image.NRGBA) {
	t.Helper()
	if a.Bounds() != b.Bounds() {
		t.Fatalf("decoded sizes differ: %v and %v", a.Bounds(), b.Bounds())
	}
	if !bytes.Equal(a.Pix, b.Pix) {
		t.Fatalf("decoded pixels differ")
	}
}

// heifExiftool runs exiftool on a file and returns its group:tag keys.
func heifExiftool(t testing.TB, file []byte) map[string]any {
	t.Helper()
	testenv.Program(t, "libimage-exiftool-perl", "exiftool")
	p := filepath.Join(t.TempDir(), "f.heic")
	if err := os.WriteFile(p, file, 0o644); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(heifRun(t, "exiftool", "-json", "-a", "-G1", p), &out); err != nil || len(out) != 1 {
		t.Fatalf("exiftool output: %v", err)
	}
	return out[0]
}

// heifLeaks lists exiftool keys that a copy made with profile p must not have.
func heifLeaks(tags map[string]any, p Profile) []string {
	var bad []string
	for k := range tags {
		group, name, _ := strings.Cut(k, ":")
		switch {
		case strings.HasPrefix(group, "XMP"), group == "GPS" && !p.Keeps(GPS), group == "IFD1",
			group == "Canon", group == "Samsung", group == "Apple", group == "MakerNotes",
			strings.Contains(name, "Serial"), strings.Contains(name, "Owner"),
			strings.Contains(name, "Thumbnail"), strings.Contains(name, "Artist"),
			strings.Contains(name, "MakerNote"), strings.Contains(name, "Preview"),
			strings.Contains(name, "Copyright"), strings.Contains(name, "UserComment"),
			strings.Contains(name, "ImageDescription"), strings.Contains(name, "ImageUniqueID"),
			strings.Contains(name, "Software"), strings.Contains(name, "HostComputer"),
			strings.Contains(name, "ProcessingMethod"), strings.Contains(name, "AreaInformation"):
			bad = append(bad, k)
		}
	}
	slices.Sort(bad)
	return bad
}

const heifNoDecode = "(not decoded)"

var heifAllGroups = Profile{Name: "all", Keep: Groups}

// heifCamera encodes a camera JPEG from the module cache.
func heifCamera(t testing.TB, module, name string, args ...string) []byte {
	t.Helper()
	return heifEnc(t, testfiles.Path(t, module, name), args...)
}

// heifComposite builds a 2x2 grid with an alpha plane (itself a grid of one
// tile), a thumbnail, a depth map, an HDR gain map, an Exif item in idat,
// an XMP item, an ICC profile, a user description, an item name, and
// top-level and meta boxes to drop, from tiles made by heif-enc.
func heifComposite(t testing.TB, mod func(*heifBFile)) []byte {
	t.Helper()
	const w, h = 128, 96
	full := heifTestImage(w, h, true)
	var tiles []heifCoded
	for _, r := range []image.Rectangle{
		image.Rect(0, 0, w/2, h/2), image.Rect(w/2, 0, w, h/2),
		image.Rect(0, h/2, w/2, h), image.Rect(w/2, h/2, w, h),
	} {
		tile := image.NewNRGBA(image.Rect(0, 0, w/2, h/2))
		draw.Draw(tile, tile.Bounds(), full, r.Min, draw.Src)
		for i := 3; i < len(tile.Pix); i += 4 {
			tile.Pix[i] = 255
		}
		tiles = append(tiles, heifPrimaryOf(t, heifEnc(t, heifWritePNG(t, tile), "-q", "40")))
	}
	withAlpha := heifEnc(t, heifWritePNG(t, full), "-q", "40")
	af := heifParsed(t, withAlpha)
	var alpha heifCoded
	for _, r := range af.refs {
		if r.Type == "auxl" {
			it := af.items[r.From]
			alpha = heifCoded{typ: it.Type, data: heifItemData(t, af, it)}
			for _, a := range it.Assocs {
				p := af.props[a.Index-1]
				alpha.props = append(alpha.props, heifBBox(p.Type, p.Body))
				alpha.ess = append(alpha.ess, a.Essential)
			}
		}
	}
	if alpha.data == nil {
		t.Fatal("heif-enc wrote no alpha plane")
	}
	gf := heifParsed(t, heifCamera(t, testfiles.GoExif, "assets/gps.jpg", "-q", "5"))
	var exif []byte
	for _, it := range gf.order {
		if it.Type == "Exif" {
			exif = heifItemData(t, gf, it)
		}
	}
	f := &heifBFile{primary: 10}
	f.addProp(heifPropISPE(w, h))                                      // 1
	f.addProp(heifPropNCLX())                                          // 2
	f.addProp(heifPropICC())                                           // 3
	f.addProp(heifPropIrot(1))                                         // 4
	f.addProp(heifPropUdes(heifSecret))                                // 5
	f.addProp(heifPropAuxC("urn:mpeg:hevc:2015:auxid:2"))              // 6 depth
	f.addProp(heifPropAuxC("urn:com:apple:photo:2020:aux:hdrgainmap")) // 7
	f.addProp(heifBBox("zzzz", []byte("unknown")))                     // 8
	f.items = append(f.items, heifBItem{id: 10, typ: "grid", data: heifGrid(2, 2, w, h), idat: true, name: heifSecret,
		props: []heifBAssoc{{1, false}, {2, false}, {3, false}, {5, false}, {4, true}}})
	for i, c := range tiles {
		f.addItem(uint32(20+i), c, true, heifBBox("zzzz", []byte("unknown")))
	}
	f.addItem(30, alpha, true)
	f.addItem(31, tiles[0], true, heifPropAuxC("urn:mpeg:hevc:2015:auxid:2"))              // depth map
	f.addItem(32, tiles[1], true, heifPropAuxC("urn:com:apple:photo:2020:aux:hdrgainmap")) // gain map
	f.addItem(33, tiles[2], false)                                                         // thumbnail
	f.addItem(34, tiles[3], false)                                                         // unreachable image
	f.items = append(f.items,
		heifBItem{id: 40, typ: "Exif", data: exif, idat: true, hidden: true},
		heifBItem{id: 41, typ: "mime", mime: "application/rdf+xml", hidden: true,
			data: []byte(`<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description Owner="` + heifSecret + `"/></rdf:RDF></x:xmpmeta>`)},
	)
	f.refs = []heifRef{
		{Type: "dimg", From: 10, To: []uint32{20, 21, 22, 23}},
		{Type: "auxl", From: 30, To: []uint32{10}},
		{Type: "auxl", From: 31, To: []uint32{10}},
		{Type: "auxl", From: 32, To: []uint32{10}},
		{Type: "thmb", From: 33, To: []uint32{10}},
		{Type: "cdsc", From: 40, To: []uint32{10}},
		{Type: "cdsc", From: 41, To: []uint32{10}},
	}
	f.top = [][]byte{heifBBox("free", make([]byte, 16)), heifBBox("uuid", append(make([]byte, 16), heifSecret...))}
	f.metaExtra = [][]byte{heifBBox("grpl", heifBFull("altr", 0, 0, []byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 10, 0, 32}))}
	if mod != nil {
		mod(f)
	}
	return f.build()
}

func TestStripHEIFFiles(t *testing.T) {
	alphaPNG := func(t testing.TB) []byte {
		return heifEnc(t, heifWritePNG(t, heifTestImage(96, 64, true)), "-q", "40", "-t", "32")
	}
	cases := []struct {
		name string
		file func(t testing.TB) []byte
		// want are substrings of Report.Removed with the Default profile.
		want []string
	}{
		{"Samsung JPEG with GPS and a thumbnail", func(t testing.TB) []byte {
			return heifCamera(t, testfiles.GoExif, "assets/gps.jpg", "-q", "20", "-t", "64")
		}, []string{"Exif", "XMP", "thumbnail"}},
		// 10 megapixels: decoding takes long on a busy machine, and the
		// coded bytes are compared anyway.
		{"Canon JPEG with serial numbers " + heifNoDecode, func(t testing.TB) []byte {
			return heifCamera(t, testfiles.GoExif, "assets/NDM_8901.jpg", "-q", "2")
		}, []string{"Exif", "XMP"}},
		{"iPhone JPEG with XMP", func(t testing.TB) []byte {
			return heifCamera(t, testfiles.GoExifRW, "exif/samples/has-lens-info.jpg", "-q", "30")
		}, []string{"Exif", "XMP"}},
		{"PNG with alpha and thumbnail", alphaPNG, []string{"thumbnail"}},
		{"committed lens.heic (one-tile grid, idat)", func(t testing.TB) []byte {
			b, err := os.ReadFile("../photo/testdata/lens.heic")
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, []string{"item 3 Exif", "item 4 XMP"}},
		{"grid with alpha, depth, gain map, ICC", func(t testing.TB) []byte { return heifComposite(t, nil) },
			[]string{"item 31 depth map", "item 32 HDR gain map", "item 33 thumbnail", "item 34 hvc1", "item 40 Exif", "item 41 XMP",
				"item 10 name", "property udes", "property zzzz", "box free", "box uuid", "box grpl"}},
		{"grid, large ids", func(t testing.TB) []byte {
			return heifComposite(t, func(f *heifBFile) {
				f.largeIDs = true
				for i := range f.items {
					f.items[i].id += 70000
				}
				f.primary += 70000
				for i := range f.refs {
					f.refs[i].From += 70000
					for k := range f.refs[i].To {
						f.refs[i].To[k] += 70000
					}
				}
			})
		}, []string{"item 70031 depth map", "item 70040 Exif"}},
		{"grid, base offsets, split extents, 64-bit fields", func(t testing.TB) []byte {
			return heifComposite(t, func(f *heifBFile) { f.baseSize, f.split, f.offSize, f.lenSize = 8, 3, 8, 8 })
		}, []string{"item 33 thumbnail"}},
		// libheif 1.15 misreads iloc extent indexes: not decoded, but
		// heif-info and exiftool still read the copy.
		{"grid, extent indexes " + heifNoDecode, func(t testing.TB) []byte {
			return heifComposite(t, func(f *heifBFile) { f.idxSize, f.split = 4, 2 })
		}, []string{"item 33 thumbnail"}},
		{"grid, wide ipma, iloc v0", func(t testing.TB) []byte {
			return heifComposite(t, func(f *heifBFile) {
				f.ipmaWide = true
				for i := range f.items {
					f.items[i].idat = false
				}
				f.ilocVer = 0
			})
		}, []string{"item 40 Exif"}},
	}
	profiles := []Profile{Default, {Name: "none"}, heifAllGroups}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.file(t)
			var pixels *image.NRGBA
			for _, p := range profiles {
				t.Run(p.Name, func(t *testing.T) {
					out, rep := heifMustStrip(t, in, p)
					heifCheckCopy(t, in, out, p)
					if p.Name == Default.Name {
						removed := strings.Join(rep.Removed, "\n")
						for _, w := range c.want {
							if !strings.Contains(removed, w) {
								t.Errorf("report does not name %q:\n%s", w, removed)
							}
						}
					}
					for _, s := range append(rep.Removed, rep.Kept...) {
						if strings.Contains(s, heifSecret) {
							t.Errorf("report entry %q holds a value", s)
						}
					}
					again, _ := heifMustStrip(t, out, p)
					if !bytes.Equal(again, out) {
						t.Errorf("strip(strip(x)) != strip(x)")
					}
					if testing.Short() {
						return
					}
					info := string(heifRun(t, testenv.Program(t, "libheif-examples", "heif-info"), heifWriteTemp(t, out)))
					if !strings.Contains(info, "primary") {
						t.Errorf("heif-info on the copy:\n%s", info)
					}
					if strings.Contains(info, "depth channel: yes") || strings.Contains(info, "thumbnail:") {
						t.Errorf("heif-info still sees a depth map or thumbnail:\n%s", info)
					}
					// Kept items are byte-identical whatever the profile
					// (checked above), so decoding one copy is enough.
					if p.Name == Default.Name && !strings.Contains(c.name, heifNoDecode) {
						if pixels == nil {
							pixels = heifDecode(t, in)
						}
						heifSamePixels(t, pixels, heifDecode(t, out))
					}
					// The leak check below can fail: it finds what the
					// original holds.
					if p.Name == Default.Name && slices.Contains(c.want, "Exif") && len(heifLeaks(heifExiftool(t, in), p)) == 0 {
						t.Errorf("exiftool finds nothing to remove in the original")
					}
					if bad := heifLeaks(heifExiftool(t, out), p); len(bad) > 0 {
						t.Errorf("exiftool finds in the copy: %v", bad)
					}
				})
			}
		})
	}
}

func heifWriteTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.heic")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStripHEIFLayouts strips files of rarer layouts made by the test
// builder (no external programs needed).
func TestStripHEIFLayouts(t *testing.T) {
	tile := func(id uint32, data string) heifBItem {
		return heifBItem{id: id, typ: "hvc1", data: []byte(data), hidden: true, props: []heifBAssoc{{1, true}, {2, false}}}
	}
	grid := func(f *heifBFile) {
		f.primary = 10
		f.props = [][]byte{heifBBox("hvcC", []byte("config")), heifPropISPE(8, 8), heifPropISPE(16, 8), heifPropIrot(1), heifPropAuxC(heifAlphaURNs[2])}
		f.items = append(f.items, tile(1, "left tile"), tile(2, "right tile"),
			heifBItem{id: 10, typ: "grid", data: heifGrid(1, 2, 16, 8), props: []heifBAssoc{{3, false}, {4, true}}},
			heifBItem{id: 11, typ: "hvc1", data: []byte("alpha"), props: []heifBAssoc{{1, true}, {3, false}, {5, true}}},
			heifBItem{id: 12, typ: "hvc1", data: []byte("alpha of nothing"), props: []heifBAssoc{{1, true}, {5, true}}},
			heifBItem{id: 13, infeV1: true, name: heifSecret, mime: "text/plain", data: []byte(heifSecret)},
			heifBItem{id: 14, typ: "iden", noLoc: true, props: []heifBAssoc{{4, true}}},
		)
		f.refs = append(f.refs, heifRef{Type: "dimg", From: 10, To: []uint32{1, 2}}, heifRef{Type: "auxl", From: 11, To: []uint32{10}},
			heifRef{Type: "prem", From: 10, To: []uint32{11}}, heifRef{Type: "auxl", From: 12, To: []uint32{99}},
			heifRef{Type: "dimg", From: 14, To: []uint32{10}})
	}
	cases := []struct {
		name        string
		mod         func(*heifBFile)
		kept        []uint32
		wantRemoved []string
	}{
		{"grid with alpha, iinf v1, untyped entry", func(f *heifBFile) { grid(f); f.iinfV1 = true },
			[]uint32{1, 2, 10, 11}, []string{"item 12 alpha plane", "item 13 (untyped)", "item 14 iden (not needed by the primary image)"}},
		{"iden primary without data", func(f *heifBFile) { grid(f); f.primary = 14 },
			[]uint32{1, 2, 10, 11, 14}, []string{"item 12 alpha plane"}},
		{"large ids, extent indexes, base offsets", func(f *heifBFile) {
			grid(f)
			f.largeIDs, f.idxSize, f.baseSize, f.split = true, 8, 4, 2
		}, []uint32{1, 2, 10, 11}, nil},
		{"no offset field, base offsets only", func(f *heifBFile) { grid(f); f.offSize, f.baseSize = 0, 8 },
			[]uint32{1, 2, 10, 11}, nil},
		{"grid in idat, wide ipma", func(f *heifBFile) { grid(f); f.items[2].idat = true; f.ipmaWide = true },
			[]uint32{1, 2, 10, 11}, nil},
		{"no dinf", func(f *heifBFile) { grid(f); f.noDinf = true }, []uint32{1, 2, 10, 11}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &heifBFile{}
			c.mod(f)
			in := f.build()
			out, rep := heifMustStrip(t, in, Default)
			_, of := heifCheckCopy(t, in, out, Default)
			var kept []uint32
			for _, it := range of.order {
				kept = append(kept, it.ID)
			}
			slices.Sort(kept)
			if !slices.Equal(kept, c.kept) {
				t.Errorf("kept items %v, want %v", kept, c.kept)
			}
			for _, w := range c.wantRemoved {
				if !slices.Contains(rep.Removed, w) {
					t.Errorf("report %q does not name %q", rep.Removed, w)
				}
			}
			if !slices.ContainsFunc(of.refs, func(r heifRef) bool { return r.Type == "prem" }) {
				t.Errorf("prem reference dropped")
			}
			again, _ := heifMustStrip(t, out, Default)
			if !bytes.Equal(again, out) {
				t.Errorf("strip(strip(x)) != strip(x)")
			}
		})
	}
}

// TestStripHEIFICC checks that the ICC profile follows the profile and
// nclx is always kept.
func TestStripHEIFICC(t *testing.T) {
	in := heifComposite(t, nil)
	for _, c := range []struct {
		p       Profile
		wantICC bool
	}{{Default, true}, {Profile{Name: "none"}, false}} {
		out, rep := heifMustStrip(t, in, c.p)
		if got := bytes.Contains(out, []byte("colrprof")); got != c.wantICC {
			t.Errorf("%s: ICC kept %v, want %v", c.p, got, c.wantICC)
		}
		if !bytes.Contains(out, []byte("colrnclx")) {
			t.Errorf("%s: nclx colour dropped", c.p)
		}
		if !bytes.Contains(out, []byte("irot")) {
			t.Errorf("%s: irot dropped", c.p)
		}
		if got := slices.Contains(rep.Removed, "property colr ICC"); got == c.wantICC {
			t.Errorf("%s: report %q", c.p, rep.Removed)
		}
	}
}

// TestStripHEIFRefused covers files that must not be copied: the result
// is an error of the right class, never a silently wrong file.
func TestStripHEIFRefused(t *testing.T) {
	tile := heifBItem{id: 1, typ: "hvc1", data: bytes.Repeat([]byte{0xAB}, 64), props: []heifBAssoc{{1, false}}}
	base := func(mod func(*heifBFile)) func() []byte {
		return func() []byte {
			f := &heifBFile{primary: 1, props: [][]byte{heifPropISPE(8, 8)}, items: []heifBItem{tile}}
			mod(f)
			return f.build()
		}
	}
	grid := func(f *heifBFile) {
		f.primary = 2
		f.items = append(f.items, heifBItem{id: 2, typ: "grid", data: heifGrid(1, 1, 8, 8), props: []heifBAssoc{{1, false}}})
	}
	unsupported, malformed := true, false
	cases := []struct {
		name        string
		file        func() []byte
		unsupported bool
	}{
		{"image sequence", base(func(f *heifBFile) { f.top = [][]byte{heifBBox("moov", nil)} }), unsupported},
		{"protected primary", base(func(f *heifBFile) { f.items[0].prot = 1 }), unsupported},
		{"construction method 2", base(func(f *heifBFile) { f.items[0].method = 2 }), unsupported},
		{"unknown essential property", base(func(f *heifBFile) {
			f.props = append(f.props, heifBBox("zzzz", nil))
			f.items[0].props = append(f.items[0].props, heifBAssoc{2, true})
		}), unsupported},
		{"JPEG-coded primary", base(func(f *heifBFile) { f.items[0].typ = "jpeg" }), unsupported},
		{"primary of unknown type", base(func(f *heifBFile) { f.items[0].typ = "abcd" }), unsupported},
		{"no primary item", base(func(f *heifBFile) { f.primary = 9 }), malformed},
		{"dimg loop", base(func(f *heifBFile) {
			grid(f)
			f.items = append(f.items, heifBItem{id: 3, typ: "grid", data: heifGrid(1, 1, 8, 8)})
			f.refs = []heifRef{{Type: "dimg", From: 2, To: []uint32{3}}, {Type: "dimg", From: 3, To: []uint32{2}}}
		}), malformed},
		{"dimg to itself", base(func(f *heifBFile) {
			grid(f)
			f.refs = []heifRef{{Type: "dimg", From: 2, To: []uint32{2}}}
		}), malformed},
		{"auxl to itself", base(func(f *heifBFile) {
			f.props = append(f.props, heifPropAuxC(heifAlphaURNs[0]))
			f.items[0].props = append(f.items[0].props, heifBAssoc{2, false})
			f.refs = []heifRef{{Type: "auxl", From: 1, To: []uint32{1}}}
		}), malformed},
		{"dimg to a missing item", base(func(f *heifBFile) {
			grid(f)
			f.refs = []heifRef{{Type: "dimg", From: 2, To: []uint32{1, 77}}}
		}), malformed},
		{"overlapping extents", base(func(f *heifBFile) {
			grid(f)
			f.items = append(f.items, heifBItem{id: 3, typ: "hvc1", data: tile.data, sameAs: 1})
			f.refs = []heifRef{{Type: "dimg", From: 2, To: []uint32{1, 3}}}
		}), malformed},
		{"primary without data", base(func(f *heifBFile) { f.items[0].noLoc = true }), malformed},
		{"property index past ipco", base(func(f *heifBFile) { f.items[0].props = []heifBAssoc{{9, false}} }), malformed},
		{"duplicate item id", base(func(f *heifBFile) { f.items = append(f.items, tile) }), malformed},
	}
	// A kept item whose extent covers the bytes of a dropped item or box:
	// copying it would carry them into the copy.
	secret := []byte("Exif\x00\x00" + heifSecret)
	exifAfter := func(mod func(f *heifBFile)) func() []byte {
		return base(func(f *heifBFile) {
			f.items = append(f.items, heifBItem{id: 2, typ: "Exif", data: secret, hidden: true})
			f.refs = []heifRef{{Type: "cdsc", From: 2, To: []uint32{1}}}
			mod(f)
		})
	}
	cases = append(cases, []struct {
		name        string
		file        func() []byte
		unsupported bool
	}{
		{"primary extent to the end covers Exif", exifAfter(func(f *heifBFile) { f.items[0].extLen = -1 }), unsupported},
		{"primary extent runs into Exif", exifAfter(func(f *heifBFile) { f.items[0].extLen = int64(len(tile.data) + len(secret)) }), unsupported},
		{"primary extent covers a dropped XMP item", base(func(f *heifBFile) {
			f.items[0].extLen = -1
			f.items = append(f.items, heifBItem{id: 2, typ: "mime", mime: "application/rdf+xml", data: secret, hidden: true})
		}), unsupported},
		{"idat item covers a dropped idat Exif", base(func(f *heifBFile) {
			f.items[0].idat, f.items[0].extLen = true, -1
			f.items = append(f.items, heifBItem{id: 2, typ: "Exif", data: secret, idat: true, hidden: true})
		}), unsupported},
		{"primary extent covers a dropped top-level box", base(func(f *heifBFile) {
			f.items[0].extLen = -1
			f.top = [][]byte{heifBBox("uuid", append(make([]byte, 16), heifSecret...))}
		}), unsupported},
		{"primary extent covers the meta box", func() []byte {
			// A named primary whose extent starts at offset 0 (an iloc
			// base offset patched to 0) and runs to the end of the file.
			f := &heifBFile{primary: 1, props: [][]byte{heifPropISPE(8, 8)}, items: []heifBItem{tile}, baseSize: 4}
			f.items[0].name, f.items[0].extLen = heifSecret, -1
			b := f.build()
			i := bytes.Index(b, []byte("iloc")) + 4 + 4 + 2 + 2 + 2 + 2 // type, version and flags, sizes, count, id, data reference
			copy(b[i:], []byte{0, 0, 0, 0})
			return b
		}, unsupported},
	}...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.file()
			out, _, err := heifStrip(in, Default)
			if bytes.Contains(out, []byte(heifSecret)) {
				t.Errorf("output holds the secret")
			}
			heifCheckClass(t, err, c.unsupported)
		})
	}
	// Patched files: counts and offsets no writer would produce.
	ok := base(func(f *heifBFile) {})()
	patch := func(find string, skip int, with []byte) []byte {
		b := slices.Clone(ok)
		i := bytes.Index(b, []byte(find))
		if i < 0 {
			t.Fatalf("no %s", find)
		}
		copy(b[i+len(find)+skip:], with)
		return b
	}
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"huge iinf count", patch("iinf", 4, []byte{0xff, 0xff})},
		{"huge iloc count", patch("iloc", 6, []byte{0xff, 0xff})},
		{"huge extent count", patch("iloc", 14, []byte{0xff, 0xff})},
		{"extent past EOF", patch("iloc", 16, []byte{0x7f, 0xff, 0xff, 0xff})},
		{"extent length past EOF", patch("iloc", 20, []byte{0x7f, 0xff, 0xff, 0xff})},
		{"huge ipma count", patch("ipma", 4, []byte{0xff, 0xff, 0xff, 0xff})},
		{"huge ipma association count", patch("ipma", 10, []byte{0xff})},
		{"box size past its container", patch("iprp", -8, []byte{0x7f, 0xff, 0xff, 0xff})},
		{"meta size past EOF", patch("meta", -8, []byte{0x7f, 0xff, 0xff, 0xff})},
		{"large box size past EOF", patch("meta", -8, []byte{0, 0, 0, 1})},
		{"no ftyp", patch("ftyp", -4, []byte("free"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := heifStrip(c.file, Default)
			heifCheckAnyClass(t, err)
		})
	}
	t.Run("huge iref count", func(t *testing.T) {
		f := &heifBFile{primary: 1, props: [][]byte{heifPropISPE(8, 8)}, items: []heifBItem{tile},
			refs: []heifRef{{Type: "dimg", From: 1, To: []uint32{1}}}}
		b := f.build()
		i := bytes.Index(b, []byte("dimg"))
		b[i+6], b[i+7] = 0xff, 0xff
		_, _, err := heifStrip(b, Default)
		heifCheckAnyClass(t, err)
	})
}

func heifCheckAnyClass(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnsupported) {
		return
	}
	heifCheckClass(t, err, false)
}

func heifCheckClass(t testing.TB, err error, unsupported bool) {
	t.Helper()
	var fe *FormatError
	switch {
	case err == nil:
		t.Fatalf("no error")
	case unsupported && !errors.Is(err, ErrUnsupported):
		t.Fatalf("error %v, want ErrUnsupported", err)
	case !unsupported && !errors.As(err, &fe):
		t.Fatalf("error %v, want a *FormatError", err)
	}
	if strings.Contains(err.Error(), heifSecret) {
		t.Errorf("error holds a value: %v", err)
	}
}

// TestStripHEIFDamaged cuts and corrupts real files: every outcome is an
// error of a known class or a copy that strips to itself.
func TestStripHEIFDamaged(t *testing.T) {
	seeds := heifSeeds(t)
	rng := rand.New(rand.NewSource(1))
	for name, in := range seeds {
		t.Run(name, func(t *testing.T) {
			step := max(1, len(in)/1500)
			for n := 0; n < len(in); n += step {
				heifDamaged(t, in[:n])
			}
			for i := 0; i < 1500; i++ {
				b := slices.Clone(in)
				for k := rng.Intn(4); k >= 0; k-- {
					// Hit the meta box more often than image data.
					j := rng.Intn(min(len(b), 2048))
					if rng.Intn(4) == 0 {
						j = rng.Intn(len(b))
					}
					b[j] = byte(rng.Intn(256))
				}
				heifDamaged(t, b)
			}
		})
	}
}

func heifDamaged(t testing.TB, in []byte) {
	t.Helper()
	out, _, err := heifStrip(in, Default)
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("error of unknown class: %v", err)
		}
		return
	}
	again, _, err := heifStrip(out, Default)
	if err != nil {
		t.Fatalf("copy of a heifDamaged file does not strip: %v", err)
	}
	if !bytes.Equal(again, out) {
		t.Fatalf("strip(strip(x)) != strip(x)")
	}
}

// heifSeeds returns the committed test files.
func heifSeeds(t testing.TB) map[string][]byte {
	t.Helper()
	paths, _ := filepath.Glob("testdata/*.heic")
	paths = append(paths, "../photo/testdata/lens.heic")
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func TestStripHEIFCancel(t *testing.T) {
	in := heifSeeds(t)["lens.heic"]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Strip(ctx, bytes.NewReader(in), int64(len(in)), HEIF, Default, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// FuzzStripHEIF: run it with a short -fuzzminimizetime (say 2s): the
// seeds are kilobytes long and minimizing them takes minutes otherwise.
func FuzzStripHEIF(f *testing.F) {
	for _, b := range heifSeeds(f) {
		f.Add(b)
	}
	// Small seeds the mutator can get through quickly.
	tile := heifBItem{id: 1, typ: "hvc1", data: []byte("coded tile"), hidden: true, props: []heifBAssoc{{1, false}, {2, false}}}
	small := []*heifBFile{
		{primary: 1, props: [][]byte{heifPropISPE(8, 8), heifPropNCLX()}, items: []heifBItem{tile}},
		{primary: 2, props: [][]byte{heifPropISPE(8, 8), heifPropNCLX(), heifPropAuxC(heifAlphaURNs[0]), heifPropIrot(3)},
			items: []heifBItem{tile, {id: 3, typ: "hvc1", data: []byte("tile 2")},
				{id: 2, typ: "grid", data: heifGrid(1, 2, 16, 8), idat: true, props: []heifBAssoc{{1, false}, {4, true}}},
				{id: 4, typ: "hvc1", data: []byte("alpha"), props: []heifBAssoc{{3, true}}},
				{id: 5, typ: "Exif", data: []byte("\x00\x00\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00")}},
			refs:     []heifRef{{Type: "dimg", From: 2, To: []uint32{1, 3}}, {Type: "auxl", From: 4, To: []uint32{2}}, {Type: "cdsc", From: 5, To: []uint32{2}}},
			baseSize: 4, idxSize: 4, largeIDs: true},
	}
	for _, b := range small {
		f.Add(b.build())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := heifStrip(in, Default)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error of unknown class: %v", err)
			}
			return
		}
		heifCheckCopy(t, in, out, Default)
		again, _, err := heifStrip(out, Default)
		if err != nil {
			t.Fatalf("copy does not strip: %v", err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("strip(strip(x)) != strip(x)")
		}
	})
}

// BenchmarkStripHEIF measures throughput on a 32 MiB primary image (its
// bytes are not decoded, so random data stands in for HEVC) and the
// per-file cost on a small camera file with Exif, XMP and a thumbnail.
func BenchmarkStripHEIF(b *testing.B) {
	data := make([]byte, 32<<20)
	rand.New(rand.NewSource(1)).Read(data)
	f := &heifBFile{primary: 1, props: [][]byte{heifPropISPE(8000, 6000), heifPropNCLX()},
		items: []heifBItem{{id: 1, typ: "hvc1", data: data, props: []heifBAssoc{{1, false}, {2, false}}}}}
	small, err := os.ReadFile("testdata/gps-thumb.heic")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		in   []byte
	}{{"32MiB", f.build()}, {"camera", small}} {
		b.Run(c.name, func(b *testing.B) {
			r := bytes.NewReader(c.in)
			b.SetBytes(int64(len(c.in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Strip(context.Background(), r, int64(len(c.in)), HEIF, Default, heifDiscard{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// heifDiscard is io.Discard without ReadFrom, so the copy really moves bytes.
type heifDiscard struct{}

func (heifDiscard) Write(p []byte) (int, error) { return len(p), nil }

// TestStripHEIFExif checks which EXIF tags survive in the new Exif item
// for each profile, as exiftool reads them.
func TestStripHEIFExif(t *testing.T) {
	in := heifCamera(t, testfiles.GoExif, "assets/gps.jpg", "-q", "5")
	orig := heifExiftool(t, in)
	for _, k := range []string{"IFD0:Orientation", "IFD0:Make", "ExifIFD:DateTimeOriginal", "GPS:GPSLatitude"} {
		if orig[k] == nil {
			t.Fatalf("the original has no %s: the test cannot tell", k)
		}
	}
	cases := []struct {
		p          Profile
		want, gone []string
	}{
		{Default, []string{"IFD0:Orientation"}, []string{"IFD0:Make", "ExifIFD:DateTimeOriginal", "GPS:GPSLatitude"}},
		{Profile{Name: "none"}, nil, []string{"IFD0:Orientation", "IFD0:Make", "ExifIFD:DateTimeOriginal", "GPS:GPSLatitude"}},
		{Profile{Name: "time", Keep: []Group{CaptureTime}}, []string{"ExifIFD:DateTimeOriginal"}, []string{"IFD0:Orientation", "IFD0:Make", "GPS:GPSLatitude"}},
		{heifAllGroups, []string{"IFD0:Orientation", "IFD0:Make", "ExifIFD:DateTimeOriginal", "GPS:GPSLatitude", "GPS:GPSLongitude"}, nil},
	}
	for _, c := range cases {
		t.Run(c.p.String(), func(t *testing.T) {
			out, rep := heifMustStrip(t, in, c.p)
			tags := heifExiftool(t, out)
			for _, k := range c.want {
				if tags[k] == nil {
					t.Errorf("%s dropped", k)
				} else if tags[k] != orig[k] {
					t.Errorf("%s = %v, want %v", k, tags[k], orig[k])
				}
			}
			for _, k := range c.gone {
				if tags[k] != nil {
					t.Errorf("%s kept", k)
				}
			}
			f := heifParsed(t, out)
			var exif []uint32
			for _, it := range f.order {
				if it.Type == "Exif" {
					exif = append(exif, it.ID)
				}
			}
			filtered := slices.ContainsFunc(rep.Kept, func(s string) bool { return strings.HasSuffix(s, "Exif (filtered)") })
			if (len(c.want) > 0) != (len(exif) == 1) || filtered != (len(exif) == 1) {
				t.Fatalf("Exif items %v, report %q", exif, rep.Kept)
			}
			if len(exif) == 1 && !slices.ContainsFunc(f.refs, func(r heifRef) bool {
				return r.Type == "cdsc" && r.From == exif[0] && slices.Equal(r.To, []uint32{f.primary})
			}) {
				t.Errorf("the Exif item does not describe the primary image")
			}
		})
	}
}

var updateHEIF = flag.Bool("update-heif", false, "rewrite the HEIF seed files in testdata")

// TestHEIFTestdata rewrites the committed seed files with -update-heif;
// otherwise it checks that they are there.
func TestHEIFTestdata(t *testing.T) {
	files := map[string]func(t testing.TB) []byte{
		"gps-thumb.heic": func(t testing.TB) []byte {
			return heifCamera(t, testfiles.GoExif, "assets/gps.jpg", "-q", "2", "-t", "32")
		},
		"alpha.heic": func(t testing.TB) []byte {
			return heifEnc(t, heifWritePNG(t, heifTestImage(48, 32, true)), "-q", "20", "-t", "16")
		},
		"grid.heic": func(t testing.TB) []byte { return heifComposite(t, nil) },
	}
	for name, make := range files {
		p := filepath.Join("testdata", name)
		if *updateHEIF {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, make(t), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (make it with go test -run TestHEIFTestdata -update-heif)", err)
		}
		if _, _, err := heifStrip(b, Default); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// heifZeros is a file whose first bytes are head and the rest zeros.
type heifZeros struct {
	head []byte
	size int64
}

func (z heifZeros) ReadAt(p []byte, off int64) (int, error) {
	if off >= z.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > z.size-off {
		n = int(z.size - off)
	}
	clear(p[:n])
	if off < int64(len(z.head)) {
		copy(p[:n], z.head[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// heifHead keeps the first bytes written and counts the rest.
type heifHead struct {
	head []byte
	n    int64
}

func (h *heifHead) Write(p []byte) (int, error) {
	if keep := 1<<16 - len(h.head); keep > 0 {
		h.head = append(h.head, p[:min(keep, len(p))]...)
	}
	h.n += int64(len(p))
	return len(p), nil
}

// TestStripHEIFLarge copies a 5 GiB item: 64-bit iloc fields and a large
// mdat header.
func TestStripHEIFLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("copies 5 GiB")
	}
	const large = 5 << 30
	f := &heifBFile{primary: 1, props: [][]byte{heifPropISPE(8, 8)}, offSize: 8, lenSize: 8,
		items: []heifBItem{{id: 1, typ: "hvc1", data: make([]byte, 16), props: []heifBAssoc{{1, false}}}}}
	b := f.build()
	i := bytes.Index(b, []byte("iloc"))
	binary.BigEndian.PutUint64(b[i+26:], large)
	m := bytes.Index(b, []byte("mdat"))
	binary.BigEndian.PutUint32(b[m-4:], 0) // to the end of the file
	in := heifZeros{head: b[:m+4], size: int64(m+4) + large}
	var out heifHead
	if _, err := Strip(context.Background(), in, in.size, HEIF, Default, &out); err != nil {
		t.Fatal(err)
	}
	of := &heifFile{ctx: context.Background(), r: heifZeros{head: out.head, size: out.n}, size: out.n, items: map[uint32]*heifItem{}, rep: &tally{}}
	if err := of.parse(); err != nil {
		t.Fatal(err)
	}
	it := of.items[1]
	if it == nil || len(it.Extents) != 1 || it.Extents[0].N != large {
		t.Fatalf("item 1 located at %+v, want one extent of %d bytes", it, int64(large))
	}
	mo := bytes.Index(out.head, []byte("mdat"))
	if binary.BigEndian.Uint32(out.head[mo-4:]) != 1 || int64(binary.BigEndian.Uint64(out.head[mo+4:])) != out.n-int64(mo-4) {
		t.Fatalf("mdat header is not a large size covering the rest of the file")
	}
	if it.Extents[0].Off+large != out.n {
		t.Fatalf("item ends at %d, file at %d", it.Extents[0].Off+large, out.n)
	}
}
