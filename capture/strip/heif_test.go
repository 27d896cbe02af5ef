package strip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// secret is planted in names, descriptions and XMP of the made-up files:
// it must never reach an output, a report or an error.
const secret = "SECRET-Field-Team-3"

// needTool returns the path of an external program, skipping the test
// when it is missing (failing under CI=true).
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " not found; install Debian's " + pkg
		if testenv.InCI() {
			t.Fatal(msg + " (CI=true: this test must not skip)")
		}
		t.Skip(msg)
	}
	return p
}

func run(t testing.TB, name string, args ...string) []byte {
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
	needTool(t, "heif-enc", "libheif-examples")
	out := filepath.Join(t.TempDir(), "out.heic")
	run(t, "heif-enc", append(append([]string{"-o", out}, args...), src)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writePNG(t testing.TB, img image.Image) string {
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

// testImage is a colourful RGBA picture, with alpha varying when alpha.
func testImage(w, h int, alpha bool) *image.NRGBA {
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

func stripBytes(in []byte, p Profile) ([]byte, *Report, error) {
	var out bytes.Buffer
	rep, err := Strip(context.Background(), bytes.NewReader(in), int64(len(in)), HEIF, p, &out)
	return out.Bytes(), rep, err
}

func mustStrip(t testing.TB, in []byte, p Profile) ([]byte, *Report) {
	t.Helper()
	out, rep, err := stripBytes(in, p)
	if err != nil {
		t.Fatalf("strip: %v", err)
	}
	return out, rep
}

// parsed parses a HEIF file with the stripper's own reader.
func parsed(t testing.TB, b []byte) *heifFile {
	t.Helper()
	f := &heifFile{ctx: context.Background(), r: bytes.NewReader(b), size: int64(len(b)), items: map[uint32]*heifItem{}, rep: &Report{}}
	if err := f.parse(); err != nil {
		t.Fatalf("parse: %v", err)
	}
	return f
}

func itemData(t testing.TB, f *heifFile, it *heifItem) []byte {
	t.Helper()
	if !it.located {
		return nil
	}
	if err := f.checkExtents(it); err != nil {
		t.Fatalf("item %d: %v", it.id, err)
	}
	b, err := f.itemBytes(it, 1<<30)
	if err != nil {
		t.Fatalf("item %d: %v", it.id, err)
	}
	return b
}

func propsOf(f *heifFile, it *heifItem) []string {
	var out []string
	for _, a := range it.assocs {
		p := f.props[a.index-1]
		ess := ""
		if a.essential {
			ess = "!"
		}
		out = append(out, ess+string(bBox(p.typ, p.body)))
	}
	return out
}

// checkCopy proves that every item of the copy but the new Exif item is
// the same item of the original, with the same coded bytes, type, hidden
// flag and properties (less those the profile drops), and that the copy
// keeps the original's primary item.
func checkCopy(t testing.TB, in, out []byte, p Profile) (inF, outF *heifFile) {
	t.Helper()
	inF, outF = parsed(t, in), parsed(t, out)
	if inF.primary != outF.primary {
		t.Fatalf("primary item %d, want %d", outF.primary, inF.primary)
	}
	if !bytes.Equal(inF.ftyp, outF.ftyp) {
		t.Errorf("ftyp changed")
	}
	for _, o := range outF.order {
		if o.typ == "Exif" {
			continue
		}
		i := inF.items[o.id]
		if i == nil {
			t.Fatalf("item %d is not in the original", o.id)
		}
		if o.typ != i.typ || o.hidden != i.hidden {
			t.Errorf("item %d: %s hidden=%v, want %s hidden=%v", o.id, o.typ, o.hidden, i.typ, i.hidden)
		}
		if !bytes.Equal(itemData(t, outF, o), itemData(t, inF, i)) {
			t.Errorf("item %d (%s): coded bytes differ", o.id, o.typ)
		}
		var want []string
		for _, s := range propsOf(inF, i) {
			box := strings.TrimPrefix(s, "!")
			typ, kind := box[4:8], ""
			if len(box) >= 12 {
				kind = box[8:12]
			}
			switch {
			case typ == "colr" && kind != "nclx" && !p.Keeps(ColorProfile):
			case typ == "udes" || typ == "zzzz":
			default:
				want = append(want, s)
			}
		}
		if got := propsOf(outF, o); !slices.Equal(got, want) {
			t.Errorf("item %d: properties differ:\n got %q\nwant %q", o.id, got, want)
		}
	}
	if bytes.Contains(out, []byte(secret)) {
		t.Errorf("copy contains the planted secret")
	}
	return inF, outF
}

var decodeMu sync.Mutex

// decode decodes the primary image with heif-convert into RGBA pixels.
func decode(t testing.TB, file []byte) *image.NRGBA {
	t.Helper()
	needTool(t, "heif-convert", "libheif-examples")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.heic"), filepath.Join(dir, "out.png")
	if err := os.WriteFile(in, file, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "heif-convert", in, out)
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

func samePixels(t testing.TB, a, b *image.NRGBA) {
	t.Helper()
	if a.Bounds() != b.Bounds() {
		t.Fatalf("decoded sizes differ: %v and %v", a.Bounds(), b.Bounds())
	}
	if !bytes.Equal(a.Pix, b.Pix) {
		t.Fatalf("decoded pixels differ")
	}
}

// exifTags runs exiftool on a file and returns its group:tag keys.
func exifTags(t testing.TB, file []byte) map[string]any {
	t.Helper()
	needTool(t, "exiftool", "libimage-exiftool-perl")
	p := filepath.Join(t.TempDir(), "f.heic")
	if err := os.WriteFile(p, file, 0o644); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(run(t, "exiftool", "-json", "-a", "-G1", p), &out); err != nil || len(out) != 1 {
		t.Fatalf("exiftool output: %v", err)
	}
	return out[0]
}

// leaks lists exiftool keys that a copy made with profile p must not have.
func leaks(tags map[string]any, p Profile) []string {
	var bad []string
	for k := range tags {
		group, name, _ := strings.Cut(k, ":")
		switch {
		case strings.HasPrefix(group, "XMP"), group == "GPS" && !p.Keeps(GPS), group == "IFD1",
			group == "Canon", group == "Samsung", group == "Apple", group == "MakerNotes",
			strings.Contains(name, "Serial"), strings.Contains(name, "Owner"),
			strings.Contains(name, "Thumbnail"), strings.Contains(name, "Artist"),
			strings.Contains(name, "MakerNote"), strings.Contains(name, "Preview"):
			bad = append(bad, k)
		}
	}
	slices.Sort(bad)
	return bad
}

const noDecode = "(not decoded)"

var allGroups = Profile{Name: "all", Keep: Groups}

// cameraFile encodes a camera JPEG from the module cache.
func cameraFile(t testing.TB, module, name string, args ...string) []byte {
	t.Helper()
	return heifEnc(t, testfiles.Path(t, module, name), args...)
}

// composite builds a 2x2 grid with an alpha plane (itself a grid of one
// tile), a thumbnail, a depth map, an HDR gain map, an Exif item in idat,
// an XMP item, an ICC profile, a user description, an item name, and
// top-level and meta boxes to drop, from tiles made by heif-enc.
func composite(t testing.TB, mod func(*bFile)) []byte {
	t.Helper()
	const w, h = 128, 96
	full := testImage(w, h, true)
	var tiles []codedItem
	for _, r := range []image.Rectangle{
		image.Rect(0, 0, w/2, h/2), image.Rect(w/2, 0, w, h/2),
		image.Rect(0, h/2, w/2, h), image.Rect(w/2, h/2, w, h),
	} {
		tile := image.NewNRGBA(image.Rect(0, 0, w/2, h/2))
		draw.Draw(tile, tile.Bounds(), full, r.Min, draw.Src)
		for i := 3; i < len(tile.Pix); i += 4 {
			tile.Pix[i] = 255
		}
		tiles = append(tiles, primaryOf(t, heifEnc(t, writePNG(t, tile), "-q", "40")))
	}
	withAlpha := heifEnc(t, writePNG(t, full), "-q", "40")
	af := parsed(t, withAlpha)
	var alpha codedItem
	for _, r := range af.refs {
		if r.typ == "auxl" {
			it := af.items[r.from]
			alpha = codedItem{typ: it.typ, data: itemData(t, af, it)}
			for _, a := range it.assocs {
				p := af.props[a.index-1]
				alpha.props = append(alpha.props, bBox(p.typ, p.body))
				alpha.ess = append(alpha.ess, a.essential)
			}
		}
	}
	if alpha.data == nil {
		t.Fatal("heif-enc wrote no alpha plane")
	}
	gf := parsed(t, cameraFile(t, testfiles.GoExif, "assets/gps.jpg", "-q", "5"))
	var exif []byte
	for _, it := range gf.order {
		if it.typ == "Exif" {
			exif = itemData(t, gf, it)
		}
	}
	f := &bFile{primary: 10}
	f.addProp(propISPE(w, h))                                      // 1
	f.addProp(propNCLX())                                          // 2
	f.addProp(propICC())                                           // 3
	f.addProp(propIrot(1))                                         // 4
	f.addProp(propUdes(secret))                                    // 5
	f.addProp(propAuxC("urn:mpeg:hevc:2015:auxid:2"))              // 6 depth
	f.addProp(propAuxC("urn:com:apple:photo:2020:aux:hdrgainmap")) // 7
	f.addProp(bBox("zzzz", []byte("unknown")))                     // 8
	f.items = append(f.items, bItem{id: 10, typ: "grid", data: gridData(2, 2, w, h), idat: true, name: secret,
		props: []bAssoc{{1, false}, {2, false}, {3, false}, {5, false}, {4, true}}})
	for i, c := range tiles {
		f.addItem(uint32(20+i), c, true, bBox("zzzz", []byte("unknown")))
	}
	f.addItem(30, alpha, true)
	f.addItem(31, tiles[0], true, propAuxC("urn:mpeg:hevc:2015:auxid:2"))              // depth map
	f.addItem(32, tiles[1], true, propAuxC("urn:com:apple:photo:2020:aux:hdrgainmap")) // gain map
	f.addItem(33, tiles[2], false)                                                     // thumbnail
	f.addItem(34, tiles[3], false)                                                     // unreachable image
	f.items = append(f.items,
		bItem{id: 40, typ: "Exif", data: exif, idat: true, hidden: true},
		bItem{id: 41, typ: "mime", mime: "application/rdf+xml", hidden: true,
			data: []byte(`<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description Owner="` + secret + `"/></rdf:RDF></x:xmpmeta>`)},
	)
	f.refs = []heifRef{
		{typ: "dimg", from: 10, to: []uint32{20, 21, 22, 23}},
		{typ: "auxl", from: 30, to: []uint32{10}},
		{typ: "auxl", from: 31, to: []uint32{10}},
		{typ: "auxl", from: 32, to: []uint32{10}},
		{typ: "thmb", from: 33, to: []uint32{10}},
		{typ: "cdsc", from: 40, to: []uint32{10}},
		{typ: "cdsc", from: 41, to: []uint32{10}},
	}
	f.top = [][]byte{bBox("free", make([]byte, 16)), bBox("uuid", append(make([]byte, 16), secret...))}
	f.metaExtra = [][]byte{bBox("grpl", bFull("altr", 0, 0, []byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 10, 0, 32}))}
	if mod != nil {
		mod(f)
	}
	return f.build()
}

func TestStripHEIFFiles(t *testing.T) {
	alphaPNG := func(t testing.TB) []byte {
		return heifEnc(t, writePNG(t, testImage(96, 64, true)), "-q", "40", "-t", "32")
	}
	cases := []struct {
		name string
		file func(t testing.TB) []byte
		// want are substrings of Report.Removed with the Default profile.
		want []string
	}{
		{"Samsung JPEG with GPS and a thumbnail", func(t testing.TB) []byte {
			return cameraFile(t, testfiles.GoExif, "assets/gps.jpg", "-q", "20", "-t", "64")
		}, []string{"Exif", "XMP", "thumbnail"}},
		{"Canon JPEG with serial numbers", func(t testing.TB) []byte {
			return cameraFile(t, testfiles.GoExif, "assets/NDM_8901.jpg", "-q", "2")
		}, []string{"Exif", "XMP"}},
		{"iPhone JPEG with XMP", func(t testing.TB) []byte {
			return cameraFile(t, testfiles.GoExifRW, "exif/samples/has-lens-info.jpg", "-q", "30")
		}, []string{"Exif", "XMP"}},
		{"PNG with alpha and thumbnail", alphaPNG, []string{"thumbnail"}},
		{"committed lens.heic (one-tile grid, idat)", func(t testing.TB) []byte {
			b, err := os.ReadFile("../photo/testdata/lens.heic")
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, []string{"item 3 Exif", "item 4 XMP"}},
		{"grid with alpha, depth, gain map, ICC", func(t testing.TB) []byte { return composite(t, nil) },
			[]string{"item 31 depth map", "item 32 HDR gain map", "item 33 thumbnail", "item 34 hvc1", "item 40 Exif", "item 41 XMP",
				"item 10 name", "property udes", "property zzzz", "box free", "box uuid", "box grpl"}},
		{"grid, large ids", func(t testing.TB) []byte {
			return composite(t, func(f *bFile) {
				f.largeIDs = true
				for i := range f.items {
					f.items[i].id += 70000
				}
				f.primary += 70000
				for i := range f.refs {
					f.refs[i].from += 70000
					for k := range f.refs[i].to {
						f.refs[i].to[k] += 70000
					}
				}
			})
		}, []string{"item 70031 depth map", "item 70040 Exif"}},
		{"grid, base offsets, split extents, 64-bit fields", func(t testing.TB) []byte {
			return composite(t, func(f *bFile) { f.baseSize, f.split, f.offSize, f.lenSize = 8, 3, 8, 8 })
		}, []string{"item 33 thumbnail"}},
		// libheif 1.15 misreads iloc extent indexes: no decoding here.
		{"grid, extent indexes " + noDecode, func(t testing.TB) []byte {
			return composite(t, func(f *bFile) { f.idxSize, f.split = 4, 2 })
		}, []string{"item 33 thumbnail"}},
		{"grid, wide ipma, iloc v0", func(t testing.TB) []byte {
			return composite(t, func(f *bFile) {
				f.ipmaWide = true
				for i := range f.items {
					f.items[i].idat = false
				}
				f.ilocVer = 0
			})
		}, []string{"item 40 Exif"}},
	}
	profiles := []Profile{Default, {Name: "none"}, allGroups}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.file(t)
			var pixels *image.NRGBA
			for _, p := range profiles {
				t.Run(p.Name, func(t *testing.T) {
					out, rep := mustStrip(t, in, p)
					checkCopy(t, in, out, p)
					if p.Name == Default.Name {
						removed := strings.Join(rep.Removed, "\n")
						for _, w := range c.want {
							if !strings.Contains(removed, w) {
								t.Errorf("report does not name %q:\n%s", w, removed)
							}
						}
					}
					for _, s := range append(rep.Removed, rep.Kept...) {
						if strings.Contains(s, secret) {
							t.Errorf("report entry %q holds a value", s)
						}
					}
					again, _ := mustStrip(t, out, p)
					if !bytes.Equal(again, out) {
						t.Errorf("strip(strip(x)) != strip(x)")
					}
					if testing.Short() || strings.Contains(c.name, noDecode) {
						return
					}
					info := string(run(t, needTool(t, "heif-info", "libheif-examples"), writeTemp(t, out)))
					if !strings.Contains(info, "primary") {
						t.Errorf("heif-info on the copy:\n%s", info)
					}
					if strings.Contains(info, "depth channel: yes") || strings.Contains(info, "thumbnail:") {
						t.Errorf("heif-info still sees a depth map or thumbnail:\n%s", info)
					}
					if pixels == nil {
						pixels = decode(t, in)
						// The leak check below can fail: it finds what
						// the original holds.
						if slices.Contains(c.want, "Exif") && len(leaks(exifTags(t, in), p)) == 0 {
							t.Errorf("exiftool finds nothing to remove in the original")
						}
					}
					samePixels(t, pixels, decode(t, out))
					if bad := leaks(exifTags(t, out), p); len(bad) > 0 {
						t.Errorf("exiftool finds in the copy: %v", bad)
					}
				})
			}
		})
	}
}

func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.heic")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStripHEIFICC checks that the ICC profile follows the profile and
// nclx is always kept.
func TestStripHEIFICC(t *testing.T) {
	in := composite(t, nil)
	for _, c := range []struct {
		p       Profile
		wantICC bool
	}{{Default, true}, {Profile{Name: "none"}, false}} {
		out, rep := mustStrip(t, in, c.p)
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
	tile := bItem{id: 1, typ: "hvc1", data: bytes.Repeat([]byte{0xAB}, 64), props: []bAssoc{{1, false}}}
	base := func(mod func(*bFile)) func() []byte {
		return func() []byte {
			f := &bFile{primary: 1, props: [][]byte{propISPE(8, 8)}, items: []bItem{tile}}
			mod(f)
			return f.build()
		}
	}
	grid := func(f *bFile) {
		f.primary = 2
		f.items = append(f.items, bItem{id: 2, typ: "grid", data: gridData(1, 1, 8, 8), props: []bAssoc{{1, false}}})
	}
	unsupported, malformed := true, false
	cases := []struct {
		name        string
		file        func() []byte
		unsupported bool
	}{
		{"image sequence", base(func(f *bFile) { f.top = [][]byte{bBox("moov", nil)} }), unsupported},
		{"protected primary", base(func(f *bFile) { f.items[0].prot = 1 }), unsupported},
		{"construction method 2", base(func(f *bFile) { f.items[0].method = 2 }), unsupported},
		{"unknown essential property", base(func(f *bFile) {
			f.props = append(f.props, bBox("zzzz", nil))
			f.items[0].props = append(f.items[0].props, bAssoc{2, true})
		}), unsupported},
		{"primary of unknown type", base(func(f *bFile) { f.items[0].typ = "abcd" }), unsupported},
		{"no primary item", base(func(f *bFile) { f.primary = 9 }), malformed},
		{"dimg loop", base(func(f *bFile) {
			grid(f)
			f.items = append(f.items, bItem{id: 3, typ: "grid", data: gridData(1, 1, 8, 8)})
			f.refs = []heifRef{{typ: "dimg", from: 2, to: []uint32{3}}, {typ: "dimg", from: 3, to: []uint32{2}}}
		}), malformed},
		{"dimg to itself", base(func(f *bFile) {
			grid(f)
			f.refs = []heifRef{{typ: "dimg", from: 2, to: []uint32{2}}}
		}), malformed},
		{"auxl to itself", base(func(f *bFile) {
			f.props = append(f.props, propAuxC(heifAlphaURNs[0]))
			f.items[0].props = append(f.items[0].props, bAssoc{2, false})
			f.refs = []heifRef{{typ: "auxl", from: 1, to: []uint32{1}}}
		}), malformed},
		{"dimg to a missing item", base(func(f *bFile) {
			grid(f)
			f.refs = []heifRef{{typ: "dimg", from: 2, to: []uint32{1, 77}}}
		}), malformed},
		{"overlapping extents", base(func(f *bFile) {
			grid(f)
			f.items = append(f.items, bItem{id: 3, typ: "hvc1", data: tile.data, sameAs: 1})
			f.refs = []heifRef{{typ: "dimg", from: 2, to: []uint32{1, 3}}}
		}), malformed},
		{"primary without data", base(func(f *bFile) { f.items[0].noLoc = true }), malformed},
		{"property index past ipco", base(func(f *bFile) { f.items[0].props = []bAssoc{{9, false}} }), malformed},
		{"duplicate item id", base(func(f *bFile) { f.items = append(f.items, tile) }), malformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.file()
			_, _, err := stripBytes(in, Default)
			checkClass(t, err, c.unsupported)
		})
	}
	// Patched files: counts and offsets no writer would produce.
	ok := base(func(f *bFile) {})()
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
			_, _, err := stripBytes(c.file, Default)
			checkAnyClass(t, err)
		})
	}
	t.Run("huge iref count", func(t *testing.T) {
		f := &bFile{primary: 1, props: [][]byte{propISPE(8, 8)}, items: []bItem{tile},
			refs: []heifRef{{typ: "dimg", from: 1, to: []uint32{1}}}}
		b := f.build()
		i := bytes.Index(b, []byte("dimg"))
		b[i+6], b[i+7] = 0xff, 0xff
		_, _, err := stripBytes(b, Default)
		checkAnyClass(t, err)
	})
}

func checkAnyClass(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnsupported) {
		return
	}
	checkClass(t, err, false)
}

func checkClass(t testing.TB, err error, unsupported bool) {
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
	if strings.Contains(err.Error(), secret) {
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
				damaged(t, in[:n])
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
				damaged(t, b)
			}
		})
	}
}

func damaged(t testing.TB, in []byte) {
	t.Helper()
	out, _, err := stripBytes(in, Default)
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("error of unknown class: %v", err)
		}
		return
	}
	again, _, err := stripBytes(out, Default)
	if err != nil {
		t.Fatalf("copy of a damaged file does not strip: %v", err)
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

func FuzzStripHEIF(f *testing.F) {
	for _, b := range heifSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := stripBytes(in, Default)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error of unknown class: %v", err)
			}
			return
		}
		checkCopy(t, in, out, Default)
		again, _, err := stripBytes(out, Default)
		if err != nil {
			t.Fatalf("copy does not strip: %v", err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("strip(strip(x)) != strip(x)")
		}
	})
}

// BenchmarkStripHEIF measures throughput on a 32 MiB primary image (the
// bytes are not decoded, so random data stands in for HEVC).
func BenchmarkStripHEIF(b *testing.B) {
	data := make([]byte, 32<<20)
	rand.New(rand.NewSource(1)).Read(data)
	f := &bFile{primary: 1, props: [][]byte{propISPE(8000, 6000), propNCLX()},
		items: []bItem{{id: 1, typ: "hvc1", data: data, props: []bAssoc{{1, false}, {2, false}}}}}
	in := f.build()
	r := bytes.NewReader(in)
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Strip(context.Background(), r, int64(len(in)), HEIF, Default, discard{}); err != nil {
			b.Fatal(err)
		}
	}
}

// discard is io.Discard without ReadFrom, so the copy really moves bytes.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
