package strip

import (
	"github.com/openexhibit/exhibit/internal/testenv"

	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	xtiff "golang.org/x/image/tiff"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// synth builds TIFF files for the cases no public file covers (DNG with
// its raw image in a SubIFD, camera TIFFs with thumbnails, pages). Its
// pixel data are distinct patterns, so that a strip copied from the wrong
// place shows.
type synth struct {
	o      binary.ByteOrder
	pix    []byte
	blocks []dataBlock
}

func (s *synth) put(d *ifdDir, tag uint16, typ tiff.Type, vals ...uint64) {
	b := make([]byte, len(vals)*typ.Size())
	for i, v := range vals {
		switch typ.Size() {
		case 1:
			b[i] = byte(v)
		case 2:
			s.o.PutUint16(b[i*2:], uint16(v))
		case 4:
			s.o.PutUint32(b[i*4:], uint32(v))
		case 8:
			s.o.PutUint64(b[i*8:], v)
		}
	}
	d.add(tag, typ, uint64(len(vals)), b)
}

// rat adds RATIONAL or SRATIONAL values given as numerator, denominator
// pairs.
func (s *synth) rat(d *ifdDir, tag uint16, typ tiff.Type, nd ...uint32) {
	b := make([]byte, len(nd)*4)
	for i, v := range nd {
		s.o.PutUint32(b[i*4:], v)
	}
	d.add(tag, typ, uint64(len(nd)/2), b)
}

func (s *synth) ascii(d *ifdDir, tag uint16, v string) {
	d.add(tag, tiff.ASCII, uint64(len(v)+1), append([]byte(v), 0))
}

// strips adds strips of the given sizes, filled with a pattern.
func (s *synth) strips(d *ifdDir, sizes ...int) {
	idx := make([]int32, len(sizes))
	counts := make([]uint64, len(sizes))
	for i, n := range sizes {
		idx[i] = int32(len(s.blocks))
		s.blocks = append(s.blocks, dataBlock{src: int64(len(s.pix)), n: int64(n)})
		for j := range n {
			s.pix = append(s.pix, byte(len(s.blocks)*37+j*7))
		}
		counts[i] = uint64(n)
	}
	d.fields = append(d.fields, ifdField{tag: tagStripOffsets, blocks: idx})
	s.put(d, tagStripByteCounts, tiff.Long, counts...)
}

func (s *synth) file(t testing.TB, big bool, chain ...*ifdDir) []byte {
	t.Helper()
	l := &tiffLayout{order: s.o, big: big, chain: chain, blocks: s.blocks}
	if err := l.layout(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := l.writeTo(context.Background(), &b, bytes.NewReader(s.pix)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rgb adds the tags of an 8-bit RGB image of w×h in one strip.
func (s *synth) rgb(d *ifdDir, nst uint64, w, h int) {
	s.put(d, 0x00FE, tiff.Long, nst)
	s.put(d, 0x0100, tiff.Short, uint64(w))
	s.put(d, 0x0101, tiff.Short, uint64(h))
	s.put(d, 0x0102, tiff.Short, 8, 8, 8)
	s.put(d, 0x0103, tiff.Short, 1)
	s.put(d, 0x0106, tiff.Short, 2)
	s.put(d, 0x0115, tiff.Short, 3)
	s.put(d, 0x0116, tiff.Short, uint64(h))
	s.strips(d, w*h*3)
}

// identifying adds the tags cameras write that a copy must lose: serials,
// names, software, a maker note, XMP, and EXIF and GPS directories.
func (s *synth) identifying(d *ifdDir) {
	s.ascii(d, 0x010F, "Acme")
	s.ascii(d, 0x0110, "Acme X100")
	s.ascii(d, 0x0131, "Firmware 1.0")
	s.ascii(d, 0x0132, "2024:03:01 10:00:00")
	s.ascii(d, 0x013B, "Jane Doe")
	s.ascii(d, 0x8298, "Jane Doe Photography")
	s.put(d, 0x0112, tiff.Short, 6)
	d.add(0x02BC, tiff.Byte, 10, []byte("<x:xmpmeta"))
	ex := &ifdDir{}
	s.ascii(ex, 0x9003, "2024:03:01 10:00:00")
	s.ascii(ex, 0x9011, "+02:00")
	s.ascii(ex, 0xA431, "SN-0042")
	s.ascii(ex, 0xA430, "Jane Doe")
	s.ascii(ex, 0xA434, "Acme 35mm")
	ex.add(0x927C, tiff.Undefined, 8, []byte("ACMENOTE"))
	ex.add(0x9000, tiff.Undefined, 4, []byte("0231"))
	gps := &ifdDir{}
	gps.add(0x0000, tiff.Byte, 4, []byte{2, 3, 0, 0})
	s.ascii(gps, 0x0001, "N")
	s.rat(gps, 0x0002, tiff.Rational, 59, 1, 19, 1, 5717, 100)
	gps.add(0x001B, tiff.Undefined, 13, []byte("ASCII\x00\x00\x00fused"))
	d.fields = append(d.fields,
		ifdField{tag: tagExifIFD, typ: tiff.Long, dirs: []*ifdDir{ex}},
		ifdField{tag: tagGPSIFD, typ: tiff.Long, dirs: []*ifdDir{gps}})
}

// synthDNG is a DNG as cameras and converters write it: IFD0 a small RGB
// preview holding the camera-level tags (and identifying ones), SubIFD0 the
// raw CFA image, SubIFD1 a reduced preview.
func synthDNG(t testing.TB, o binary.ByteOrder) []byte {
	s := &synth{o: o}
	ifd0, raw, prev := &ifdDir{}, &ifdDir{}, &ifdDir{}
	s.rgb(ifd0, 1, 8, 4)
	s.identifying(ifd0)
	s.put(ifd0, 0xC612, tiff.Byte, 1, 4, 0, 0)
	s.put(ifd0, 0xC613, tiff.Byte, 1, 1, 0, 0)
	s.ascii(ifd0, 0xC614, "Acme X100")
	s.rat(ifd0, 0xC621, tiff.SRational, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1)
	s.rat(ifd0, 0xC628, tiff.Rational, 1, 2, 1, 1, 2, 3)
	s.put(ifd0, 0xC65A, tiff.Short, 21)
	s.ascii(ifd0, 0xC62F, "SN-0042")
	ifd0.add(0xC634, tiff.Byte, 6, []byte("Adobe\x00"))
	ifd0.add(0xC65D, tiff.Byte, 4, []byte{1, 2, 3, 4})
	s.ascii(ifd0, 0xC68B, "IMG_0001.CR2")
	ifd0.add(0x8773, tiff.Undefined, 4, []byte("icc!")) // the preview's profile
	s.put(raw, 0x00FE, tiff.Long, 0)
	s.put(raw, 0x0100, tiff.Short, 16)
	s.put(raw, 0x0101, tiff.Short, 8)
	s.put(raw, 0x0102, tiff.Short, 16)
	s.put(raw, 0x0103, tiff.Short, 1)
	s.put(raw, 0x0106, tiff.Short, 32803)
	s.put(raw, 0x0115, tiff.Short, 1)
	s.put(raw, 0x0116, tiff.Short, 4)
	s.put(raw, 0x828D, tiff.Short, 2, 2)
	s.put(raw, 0x828E, tiff.Byte, 0, 1, 1, 2)
	s.put(raw, 0xC61A, tiff.Short, 64)
	s.put(raw, 0xC61D, tiff.Short, 4095)
	s.put(raw, 0xC68D, tiff.Long, 0, 0, 8, 16)
	s.put(raw, 0xC61F, tiff.Short, 1, 1)
	s.put(raw, 0xC620, tiff.Short, 14, 6)
	s.strips(raw, 128, 128)
	s.rgb(prev, 1, 4, 2)
	ifd0.fields = append(ifd0.fields, ifdField{tag: tagSubIFDs, typ: tiff.Long, dirs: []*ifdDir{raw, prev}})
	return s.file(t, false, ifd0)
}

// synthCamera is a camera TIFF: a full image with identifying tags and an
// IFD1 thumbnail.
func synthCamera(t testing.TB, o binary.ByteOrder, big bool) []byte {
	s := &synth{o: o}
	ifd0, ifd1 := &ifdDir{}, &ifdDir{}
	s.rgb(ifd0, 0, 16, 8)
	s.identifying(ifd0)
	s.rgb(ifd1, 1, 4, 2)
	return s.file(t, big, ifd0, ifd1)
}

// synthPages is a three-page document: every page is kept.
func synthPages(t testing.TB) []byte {
	s := &synth{o: binary.BigEndian}
	var pages []*ifdDir
	for i := range 3 {
		d := &ifdDir{}
		s.rgb(d, 2, 6+i, 3)
		s.put(d, 0x0129, tiff.Short, uint64(i), 3)
		s.ascii(d, 0x011D, fmt.Sprintf("Page %d", i+1))
		pages = append(pages, d)
	}
	return s.file(t, false, pages...)
}

// synthShared has two strips that point at the same bytes, as writers
// that deduplicate identical strips make: they are written once.
func synthShared(t testing.TB) []byte {
	s := &synth{o: binary.LittleEndian}
	d := &ifdDir{}
	s.rgb(d, 0, 4, 4)
	for i := range d.fields {
		switch f := &d.fields[i]; f.tag {
		case tagStripOffsets:
			f.blocks = []int32{0, 0}
		case tagStripByteCounts:
			f.count, f.data = 2, []byte{24, 0, 0, 0, 24, 0, 0, 0}
		case 0x0116:
			f.data = []byte{2, 0}
		}
	}
	return s.file(t, false, d)
}

// blocksOf returns the bytes of each strip or tile of every image
// directory of a TIFF (nil for sparse ones), by directory path, and the
// chain's paths in order.
func blocksOf(t testing.TB, b []byte) (map[string][][]byte, []string) {
	t.Helper()
	f, err := tiff.Open(bytes.NewReader(b), int64(len(b)), tiffLimits)
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.Walk(tiffChildren)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]byte{}
	var chain []string
	for _, d := range w.Dirs {
		oe, ok := d.Find(tagStripOffsets)
		ce, _ := d.Find(tagStripByteCounts)
		if !ok {
			oe, ok = d.Find(tagTileOffsets)
			ce, _ = d.Find(tagTileByteCounts)
		}
		if !ok {
			continue
		}
		if chainPath.MatchString(d.Path) {
			chain = append(chain, d.Path)
		}
		offs, err1 := f.Uints(oe)
		counts, err2 := f.Uints(ce)
		if err1 != nil || err2 != nil || len(offs) != len(counts) {
			t.Fatalf("%s: offsets %v, counts %v", d.Path, err1, err2)
		}
		var bl [][]byte
		for i, off := range offs {
			if counts[i] == 0 {
				bl = append(bl, nil)
				continue
			}
			bl = append(bl, b[off:off+counts[i]])
		}
		out[d.Path] = bl
	}
	return out, chain
}

// tiffCase is a file and what its stripped copy must hold.
type tiffCase struct {
	name string
	data []byte
	// images are the input directories whose strips or tiles the output's
	// chain holds, in order.
	images []string
	// noGeo replaces images when the profile drops the georeference
	// (reduced-resolution images are then dropped).
	noGeo []string
	// removed must all be in the Report of the default profile.
	removed []string
	geo     bool
	sparse  bool // the input has sparse tiles
}

// expect is the input directories whose images a copy with profile p
// holds.
func (tc tiffCase) expect(p Profile) []string {
	if tc.noGeo != nil && !p.Keeps(Georeference) {
		return tc.noGeo
	}
	return tc.images
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gdalFiles makes GeoTIFFs with GDAL: EXIF (GPS and a serial) and an artist
// in GDAL_METADATA and tags, a phone photo's EXIF and XMP as GDAL copies
// them, sparse tiles, an internal mask with overviews,
// a big-endian band-interleaved file, JPEG-in-TIFF with YCbCr, floats with
// a predictor, a BigTIFF COG.
func gdalFiles(t *testing.T) []tiffCase {
	t.Helper()
	testenv.Program(t, "gdal-bin", "gdal_translate")
	gdaladdo := testenv.Program(t, "gdal-bin", "gdaladdo")
	dir := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("gdal_create", "-q", "-of", "GTiff", "-outsize", "64", "48", "-bands", "3", "-burn", "7", "-burn", "90", "-burn", "200", "src3.tif")
	run("gdal_create", "-q", "-of", "GTiff", "-outsize", "64", "64", "-bands", "1", "-burn", "7", "src1.tif")
	run("gdal_translate", "-q", "-a_srs", "EPSG:4326", "-a_ullr", "18.06", "59.33", "18.07", "59.32",
		"-mo", "EXIF_GPSLatitude=(59) (19) (57.17)", "-mo", "EXIF_GPSLatitudeRef=N", "-mo", "EXIF_BodySerialNumber=SN-123",
		"-mo", "EXIF_Make=Acme", "-mo", "EXIF_DateTimeOriginal=2024:03:01 10:00:00", "-mo", "TIFFTAG_ARTIST=Jane Doe",
		"-mo", "TIFFTAG_SOFTWARE=fw 1.0", "-co", "COMPRESS=LZW", "-co", "PREDICTOR=2", "src3.tif", "exifgeo.tif")
	sparseArgs := []string{"-q", "-srcwin", "-32", "-32", "96", "96", "-a_srs", "EPSG:4326", "-a_ullr", "10", "20", "11", "19",
		"-co", "TILED=YES", "-co", "BLOCKXSIZE=16", "-co", "BLOCKYSIZE=16", "-co", "COMPRESS=DEFLATE"}
	run("gdal_translate", append(sparseArgs, "-co", "SPARSE_OK=TRUE", "src1.tif", "sparse.tif")...)
	run("gdal_translate", append(sparseArgs, "-a_nodata", "0", "-mask", "1", "--config", "GDAL_TIFF_INTERNAL_MASK", "YES", "src1.tif", "mask.tif")...)
	run(gdaladdo, "-q", "-r", "nearest", "--config", "GDAL_TIFF_INTERNAL_MASK", "YES", "mask.tif", "2", "4")
	run("gdal_translate", "-q", "-co", "ENDIANNESS=BIG", "-co", "INTERLEAVE=BAND", "-ot", "UInt16", "-co", "COMPRESS=LZW",
		"-a_srs", "EPSG:32633", "-a_ullr", "500000", "5600000", "500640", "5599520", "src3.tif", "bigend.tif")
	run("gdal_translate", "-q", "-co", "COMPRESS=JPEG", "-co", "PHOTOMETRIC=YCBCR", "-co", "TILED=YES",
		"-a_srs", "EPSG:4326", "-a_ullr", "0", "1", "1", "0", "src3.tif", "jpeg.tif")
	run("gdal_translate", "-q", "-ot", "Float32", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=3",
		"-a_srs", "EPSG:4326", "-a_ullr", "0", "1", "1", "0", "src1.tif", "float.tif")
	run("gdal_translate", "-q", "-of", "COG", "-co", "BIGTIFF=YES", "-co", "COMPRESS=LZW", "-co", "OVERVIEWS=AUTO",
		"-co", "BLOCKSIZE=128", "-outsize", "512", "512", "mask.tif", "bigcog.tif")
	// From a phone JPEG: GDAL copies its EXIF (GPS included) into
	// GDAL_METADATA and its XMP into tag 700.
	run("gdal_translate", "-q", "-a_srs", "EPSG:4326", "-a_ullr", "0", "1", "1", "0", "-outsize", "64", "48",
		"-co", "COMPRESS=DEFLATE", testfiles.Path(t, testfiles.GoExif, "assets/gps.jpg"), "fromjpeg.tif")
	read := func(n string) []byte { return readFile(t, filepath.Join(dir, n)) }
	return []tiffCase{
		{name: "gdal/exifgeo", data: read("exifgeo.tif"), images: []string{"IFD0"}, geo: true,
			removed: []string{"IFD0 tag 0xA480 GDAL_METADATA", "IFD0 tag 0x013B Artist", "IFD0 tag 0x0131 Software"}},
		{name: "gdal/from-jpeg", data: read("fromjpeg.tif"), images: []string{"IFD0"}, geo: true,
			removed: []string{"IFD0 tag 0xA480 GDAL_METADATA", "IFD0 tag 0x02BC XMP"}},
		{name: "gdal/sparse", data: read("sparse.tif"), images: []string{"IFD0"}, geo: true, sparse: true},
		{name: "gdal/mask-overviews", data: read("mask.tif"), images: []string{"IFD0", "IFD1", "IFD2", "IFD3", "IFD4", "IFD5"},
			noGeo: []string{"IFD0", "IFD1"}, geo: true},
		{name: "gdal/big-endian-planar", data: read("bigend.tif"), images: []string{"IFD0"}, geo: true},
		{name: "gdal/jpeg-ycbcr", data: read("jpeg.tif"), images: []string{"IFD0"}, geo: true},
		{name: "gdal/float-predictor", data: read("float.tif"), images: []string{"IFD0"}, geo: true},
		{name: "gdal/bigtiff-cog", data: read("bigcog.tif"), images: []string{"IFD0", "IFD1", "IFD2", "IFD3", "IFD4", "IFD5"},
			noGeo: []string{"IFD0", "IFD1"}, geo: true},
	}
}

func tiffCases(t *testing.T) []tiffCase {
	geo := func(n string) []byte { return readFile(t, filepath.Join("..", "geo", "testdata", n)) }
	cases := []tiffCase{
		{name: "geo/geo4326", data: geo("geo4326.tif"), images: []string{"IFD0"}, geo: true,
			removed: []string{"IFD0 tag 0x0132 DateTime", "IFD0 tag 0x010E ImageDescription", "IFD0 tag 0xA480 GDAL_METADATA"}},
		{name: "geo/cog", data: geo("cog-utm33n.tif"), images: []string{"IFD0", "IFD1", "IFD2"}, noGeo: []string{"IFD0"}, geo: true},
		{name: "geo/bigtiff", data: geo("big-utm37s.tif"), images: []string{"IFD0"}, geo: true},
		{name: "geo/nad27", data: geo("nad27-utm18n.tif"), images: []string{"IFD0"}, geo: true},
		{name: "geo/plain", data: geo("plain.tif"), images: []string{"IFD0"}},
		{name: "geo/rotated", data: geo("rotated4326.tif"), images: []string{"IFD0"}, geo: true},
		{name: "goexif/geotiff_example", data: testfiles.Read(t, testfiles.GoExif, "assets/geotiff_example.tif"), images: []string{"IFD0"}, geo: true},
		{name: "goexif/sample1", data: testfiles.Read(t, testfiles.GoExifRW, "tiff/sample1.tif"), images: []string{"IFD0"}},
		{name: "photo/lens", data: readFile(t, "../photo/testdata/lens.tif"), images: []string{"IFD0"},
			removed: []string{"IFD0 tag 0x02BC XMP", "IFD0 tag 0x83BB IPTC-NAA", "IFD0 tag 0xA480 GDAL_METADATA",
				"IFD/Exif tag 0xA431 BodySerialNumber", "IFD/Exif tag 0xA435 LensSerialNumber", "IFD/Exif tag 0xA430 OwnerName",
				"IFD/Exif tag 0x927C MakerNote", "IFD/GPSInfo tag 0x0002 GPSLatitude", "IFD0 tag 0x8825 GPSInfo", "IFD0 tag 0x010F Make"}},
		{name: "synth/dng-le", data: synthDNG(t, binary.LittleEndian), images: []string{"IFD/SubIFD0"},
			removed: []string{"IFD0 (preview)", "IFD/SubIFD1 (preview)", "IFD0 tag 0xC62F CameraSerialNumber", "IFD0 tag 0xC634 DNGPrivateData",
				"IFD0 tag 0xC65D RawDataUniqueID", "IFD0 tag 0xC68B OriginalRawFileName", "IFD0 tag 0xC614 UniqueCameraModel",
				"IFD/Exif tag 0xA431 BodySerialNumber", "IFD/GPSInfo tag 0x0002 GPSLatitude"}},
		{name: "synth/dng-be", data: synthDNG(t, binary.BigEndian), images: []string{"IFD/SubIFD0"}},
		{name: "synth/camera", data: synthCamera(t, binary.LittleEndian, false), images: []string{"IFD0"},
			removed: []string{"IFD1 (thumbnail)", "IFD0 tag 0x013B Artist", "IFD0 tag 0x8298 Copyright", "IFD/Exif tag 0x927C MakerNote",
				"IFD/GPSInfo tag 0x001B GPSProcessingMethod"}},
		{name: "synth/camera-bigtiff", data: synthCamera(t, binary.BigEndian, true), images: []string{"IFD0"}},
		{name: "synth/shared-strips", data: synthShared(t), images: []string{"IFD0"}},
		{name: "synth/pages", data: synthPages(t), images: []string{"IFD0", "IFD1", "IFD2"},
			removed: []string{"IFD0 tag 0x011D PageName"}},
	}
	return append(cases, gdalFiles(t)...)
}

var tiffProfiles = []Profile{Default, {Name: "none"}, {Name: "all", Keep: slices.Clone(Groups)}}

func stripBytes(t testing.TB, b []byte, p Profile) ([]byte, *Report, error) {
	t.Helper()
	var out bytes.Buffer
	rep, err := Strip(context.Background(), bytes.NewReader(b), int64(len(b)), TIFF, p, &out)
	return out.Bytes(), rep, err
}

// TestStripTIFF strips real and made files with each profile and checks
// the copy: the same strips and tiles, byte for byte; only allowlisted and
// profile-kept tags; the report; idempotence; and a byte-order and
// BigTIFF-ness that match the source.
func TestStripTIFF(t *testing.T) {
	sawSparse := false
	for _, tc := range tiffCases(t) {
		for _, p := range tiffProfiles {
			t.Run(tc.name+"/"+p.Name, func(t *testing.T) {
				out, rep, err := stripBytes(t, tc.data, p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out[:4], tc.data[:4]) {
					t.Errorf("header %q, source %q", out[:4], tc.data[:4])
				}
				in, _ := blocksOf(t, tc.data)
				got, chain := blocksOf(t, out)
				images := tc.expect(p)
				if len(chain) != len(images) {
					t.Fatalf("output images %v, want %d (from %v)", chain, len(images), images)
				}
				for i, path := range images {
					if !reflect.DeepEqual(got[chain[i]], in[path]) {
						t.Errorf("output %s: strips/tiles differ from input %s", chain[i], path)
					}
					for _, b := range in[path] {
						sawSparse = sawSparse || b == nil
					}
				}
				if tc.name == "synth/shared-strips" && len(out) != len(tc.data)-24 {
					t.Errorf("shared strip written %d bytes, source %d", len(out), len(tc.data))
				}
				if tc.sparse && !slices.ContainsFunc(got["IFD0"], func(b []byte) bool { return b == nil }) {
					t.Errorf("sparse tiles lost")
				}
				checkAllowed(t, out, p)
				if p.Name == Default.Name {
					for _, r := range tc.removed {
						if !slices.Contains(rep.Removed, r) {
							t.Errorf("report lacks %q; has %q", r, rep.Removed)
						}
					}
				}
				again, rep2, err := stripBytes(t, out, p)
				if err != nil || !bytes.Equal(again, out) {
					t.Fatalf("strip(strip(x)) != strip(x): %v", err)
				}
				if len(rep2.Removed) != 0 {
					t.Errorf("second strip removed %q", rep2.Removed)
				}
			})
		}
	}
	if !sawSparse {
		t.Error("no case had sparse tiles")
	}
}

// checkAllowed reads every directory of a stripped file and fails on any
// tag the allowlist and profile p do not keep.
func checkAllowed(t *testing.T, b []byte, p Profile) {
	t.Helper()
	f, err := tiff.Open(bytes.NewReader(b), int64(len(b)), tiffLimits)
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.Walk(tiff.ExifPointers)
	if err != nil || len(w.Problems) != 0 {
		t.Fatalf("output walk: %v %v", err, w.Problems)
	}
	for _, d := range w.Dirs {
		for _, e := range d.Entries {
			var ok bool
			switch {
			case d.Path == "IFD/GPSInfo":
				ok = p.Keeps(gpsRules[e.Tag].group) && gpsRules[e.Tag].group != ""
			case d.Path == "IFD/Exif":
				_, companion := exifCompanions[e.Tag]
				ok = companion || exifRules[e.Tag].group != "" && p.Keeps(exifRules[e.Tag].group)
			case e.Tag == tagExifIFD || e.Tag == tagGPSIFD:
				ok = d.Path == "IFD0"
			case d.Path == "IFD0" && exifRules[e.Tag].group != "":
				ok = p.Keeps(exifRules[e.Tag].group)
			default:
				tt, known := tiffTags[e.Tag]
				ok = known && (tt.keep == decoding || tt.keep != "" && p.Keeps(tt.keep))
			}
			if !ok {
				t.Errorf("%s tag 0x%04X kept with profile %s", d.Path, e.Tag, p)
			}
		}
	}
}

// TestStripTIFFTools checks the copies with the reference tools: exiftool
// finds nothing identifying; gdalinfo finds the same pixels (checksums of
// every image, overviews and masks included) and, with the default
// profile, the same georeference, which is gone when the profile drops it;
// golang.org/x/image/tiff decodes the same pixels where it can.
func TestStripTIFFTools(t *testing.T) {
	exiftool := testenv.Program(t, "libimage-exiftool-perl", "exiftool")
	gdalinfo := testenv.Program(t, "gdal-bin", "gdalinfo")
	dir := t.TempDir()
	type copyOf struct {
		tc       tiffCase
		p        Profile
		src, dst string
		out      []byte
	}
	var copies []copyOf
	var paths []string
	inSums := map[string]string{}
	for _, tc := range tiffCases(t) {
		name := strings.ReplaceAll(tc.name, "/", "-")
		src := filepath.Join(dir, name+".in.tif")
		if err := os.WriteFile(src, tc.data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, p := range tiffProfiles {
			out, _, err := stripBytes(t, tc.data, p)
			if err != nil {
				t.Fatalf("%s/%s: %v", tc.name, p.Name, err)
			}
			dst := filepath.Join(dir, name+"-"+p.Name+".tif")
			if err := os.WriteFile(dst, out, 0o600); err != nil {
				t.Fatal(err)
			}
			copies = append(copies, copyOf{tc, p, src, dst, out})
			paths = append(paths, dst)
		}
	}
	all := exiftoolAll(t, exiftool, paths)
	var srcs []string
	for _, c := range copies {
		if !slices.Contains(srcs, c.src) {
			srcs = append(srcs, c.src)
		}
	}
	warnings := exiftoolWarnings(t, exiftool, append(srcs, paths...))
	decoded := 0
	for _, c := range copies {
		tc, p := c.tc, c.p
		t.Run(tc.name+"/"+p.Name, func(t *testing.T) {
			tags := all[c.dst]
			if tags == nil {
				t.Fatal("exiftool did not read the copy")
			}
			// exiftool -validate finds nothing wrong with the copy that
			// it does not find with the source.
			for _, w := range warnings[c.dst] {
				// exiftool calls GPSProcessingMethod required; it is free
				// text and dropped on purpose (see gpsRules).
				if !slices.Contains(warnings[c.src], w) && !strings.Contains(w, "wrong extension") && !strings.Contains(w, "GPSProcessingMethod") {
					t.Errorf("exiftool -validate: %s", w)
				}
			}
			for k := range tags {
				for _, bad := range forbiddenTags {
					if strings.Contains(k, bad) {
						t.Errorf("exiftool: %s survives", k)
					}
				}
				if !p.Keeps(GPS) && strings.HasPrefix(k, "GPS") {
					t.Errorf("exiftool: %s survives without gps", k)
				}
				if !p.Keeps(Camera) && (strings.HasSuffix(k, ":Make") || strings.HasSuffix(k, ":Model") || strings.HasSuffix(k, "LensModel") || strings.HasSuffix(k, "UniqueCameraModel")) {
					t.Errorf("exiftool: %s survives without camera", k)
				}
				if !p.Keeps(CaptureTime) && strings.Contains(k, "Date") && !strings.HasPrefix(k, "Composite:") {
					t.Errorf("exiftool: %s survives without capture-time", k)
				}
				if !p.Keeps(Georeference) && strings.HasPrefix(k, "GeoTiff:") {
					t.Errorf("exiftool: %s survives without georeference", k)
				}
			}
			if tc.name == "synth/dng-le" && (tags["IFD0:DNGVersion"] == nil || tags["IFD0:CFAPattern2"] == nil) {
				t.Errorf("exiftool does not see the raw image as IFD0 of a DNG: %v", tags)
			}
			// exiftool reads BigTIFF sub-directories with the EXIF table
			// alone, so only the classic file is checked for GPS here.
			if p.Keeps(GPS) && tc.name == "synth/camera" && tags["GPS:GPSLatitude"] == nil {
				t.Errorf("GPSLatitude not kept with gps")
			}
			if p.Name != "all" && !strings.HasPrefix(tc.name, "synth/dng") {
				_, inChain := blocksOf(t, tc.data)
				for i, path := range tc.expect(p) {
					in := fmt.Sprintf("GTIFF_DIR:%d:%s", slices.Index(inChain, path)+1, c.src)
					if _, ok := inSums[in]; !ok {
						inSums[in] = gdalChecksums(t, gdalinfo, in)
					}
					outSum := gdalChecksums(t, gdalinfo, fmt.Sprintf("GTIFF_DIR:%d:%s", i+1, c.dst))
					if inSums[in] == "" || inSums[in] != outSum {
						t.Errorf("gdalinfo checksums of %s: %q, copy %q", path, inSums[in], outSum)
					}
				}
			}
			if p.Name != "all" {
				inGeo, outGeo := gdalGeo(t, gdalinfo, c.src), gdalGeo(t, gdalinfo, c.dst)
				switch {
				case tc.geo && inGeo == "":
					t.Errorf("gdalinfo sees no georeference in the source")
				case p.Keeps(Georeference) && inGeo != outGeo:
					t.Errorf("georeference changed:\n%s\n%s", inGeo, outGeo)
				case !p.Keeps(Georeference) && outGeo != "":
					t.Errorf("georeference kept without the group: %s", outGeo)
				}
			}
			if !strings.HasPrefix(tc.name, "synth/dng") && pixelsEqual(t, tc.data, c.out) {
				decoded++
			}
		})
	}
	if decoded == 0 {
		t.Error("x/image/tiff decoded none of the cases")
	}
	t.Logf("x/image/tiff decoded %d of %d copies", decoded, len(copies))
}

// exiftoolWarnings runs exiftool -validate once over many files and
// returns each file's warnings.
func exiftoolWarnings(t *testing.T, exiftool string, paths []string) map[string][]string {
	t.Helper()
	out, err := exec.Command(exiftool, append([]string{"-validate", "-warning", "-a", "-s", "-s"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("exiftool -validate: %v", err)
	}
	res := map[string][]string{}
	file := paths[0]
	for _, line := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(line, "======== "); ok {
			file = name
			continue
		}
		if w, ok := strings.CutPrefix(line, "Warning: "); ok {
			res[file] = append(res[file], w)
		}
	}
	return res
}

// exiftoolAll runs exiftool once over many files and returns each file's
// tags as exiftoolTags does.
func exiftoolAll(t *testing.T, exiftool string, paths []string) map[string]map[string]any {
	t.Helper()
	out, err := exec.Command(exiftool, append([]string{"-json", "-a", "-G1", "-n"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("exiftool: %v", err)
	}
	var v []map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("exiftool output: %v", err)
	}
	res := map[string]map[string]any{}
	for _, m := range v {
		src, _ := m["SourceFile"].(string)
		for k := range m {
			if k == "SourceFile" || strings.HasPrefix(k, "File:") || strings.HasPrefix(k, "System:") || strings.HasPrefix(k, "ExifTool:") {
				delete(m, k)
			}
		}
		res[src] = m
	}
	return res
}

var checksumLine = regexp.MustCompile(`(?m)^\s*(Checksum=\d+|Overviews checksum: .*)$`)

func gdalChecksums(t *testing.T, gdalinfo, name string) string {
	t.Helper()
	out, err := exec.Command(gdalinfo, "-checksum", name).CombinedOutput()
	if err != nil {
		t.Fatalf("gdalinfo %s: %v\n%s", name, err, out)
	}
	return strings.Join(checksumLine.FindAllString(string(out), -1), "\n")
}

// gdalGeo is gdalinfo's coordinate system, geotransform and corner
// coordinates as JSON, "" when it finds no georeference.
func gdalGeo(t *testing.T, gdalinfo, path string) string {
	t.Helper()
	out, err := exec.Command(gdalinfo, "-json", path).Output()
	if err != nil {
		t.Fatalf("gdalinfo -json %s: %v", path, err)
	}
	var v struct {
		CoordinateSystem  *struct{ WKT string } `json:"coordinateSystem"`
		GeoTransform      []float64             `json:"geoTransform"`
		CornerCoordinates map[string][]float64  `json:"cornerCoordinates"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if v.CoordinateSystem == nil && v.GeoTransform == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// pixelsEqual decodes both files with golang.org/x/image/tiff and fails the
// test when the pixels differ; it returns false when the source does not
// decode there (float samples, JPEG, CFA).
func pixelsEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	ia, err := xtiff.Decode(bytes.NewReader(a))
	if err != nil {
		return false
	}
	ib, err := xtiff.Decode(bytes.NewReader(b))
	if err != nil {
		t.Errorf("the source decodes, the copy does not: %v", err)
		return false
	}
	if ia.Bounds() != ib.Bounds() || reflect.TypeOf(ia) != reflect.TypeOf(ib) {
		t.Errorf("decoded %T %v, copy %T %v", ia, ia.Bounds(), ib, ib.Bounds())
		return false
	}
	r := ia.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if ia.At(x, y) != ib.At(x, y) {
				t.Errorf("pixel %v differs", image.Pt(x, y))
				return false
			}
		}
	}
	return true
}

// TestStripTIFFRejects: malformed or unsupported files fail with a
// FormatError or ErrUnsupported, never a copy.
func TestStripTIFFRejects(t *testing.T) {
	o := binary.LittleEndian
	mk := func(edit func(s *synth, d *ifdDir)) []byte {
		s := &synth{o: o}
		d := &ifdDir{}
		s.rgb(d, 0, 4, 4)
		edit(s, d)
		return s.file(t, false, d)
	}
	setCounts := func(d *ifdDir, counts ...uint64) {
		for i := range d.fields {
			if d.fields[i].tag == tagStripByteCounts {
				b := make([]byte, 4*len(counts))
				for j, c := range counts {
					o.PutUint32(b[j*4:], uint32(c))
				}
				d.fields[i].data, d.fields[i].count = b, uint64(len(counts))
			}
		}
	}
	for _, tc := range []struct {
		name        string
		data        []byte
		unsupported bool
	}{
		{"not TIFF", []byte("GIF89a......"), false},
		{"empty", nil, false},
		{"strip beyond the end", mk(func(s *synth, d *ifdDir) { setCounts(d, 1<<20) }), false},
		{"counts mismatch", mk(func(s *synth, d *ifdDir) { setCounts(d, 48, 1) }), false},
		{"no strips", func() []byte {
			s := &synth{o: o}
			d := &ifdDir{}
			s.put(d, 0x0100, tiff.Short, 4)
			return s.file(t, false, d)
		}(), false},
		{"overlapping strips", func() []byte {
			s := &synth{o: o}
			d, d2 := &ifdDir{}, &ifdDir{}
			s.rgb(d, 0, 4, 4)
			s.rgb(d2, 0, 4, 4)
			b := s.file(t, false, d, d2)
			// point the second image's strip 10 bytes into the first's
			f, _ := tiff.Open(bytes.NewReader(b), int64(len(b)), tiff.DefaultLimits)
			w, _ := f.Walk(nil)
			e1, _ := w.Dirs[0].Find(tagStripOffsets)
			e2, _ := w.Dirs[1].Find(tagStripOffsets)
			o.PutUint32(b[e2.Offset:], o.Uint32(b[e1.Offset:])+10)
			return b
		}(), true},
		{"sparse strip at offset 0 with data", mk(func(s *synth, d *ifdDir) {
			for i := range d.fields {
				if d.fields[i].tag == tagStripOffsets {
					d.fields[i].blocks = []int32{-1}
				}
			}
		}), false},
		{"old-style JPEG", mk(func(s *synth, d *ifdDir) {
			for i := range d.fields {
				if d.fields[i].tag == tagCompression {
					o.PutUint16(d.fields[i].data, 6)
				}
			}
		}), true},
		{"truncated", synthCamera(t, o, false)[:200], false},
		{"full-resolution SubIFD outside DNG", func() []byte {
			s := &synth{o: o}
			d, sub := &ifdDir{}, &ifdDir{}
			s.rgb(d, 0, 4, 4)
			s.rgb(sub, 0, 8, 8)
			d.fields = append(d.fields, ifdField{tag: tagSubIFDs, typ: tiff.IFD, dirs: []*ifdDir{sub}})
			return s.file(t, false, d)
		}(), true},
		{"DNG without raw", func() []byte {
			s := &synth{o: o}
			d := &ifdDir{}
			s.rgb(d, 1, 4, 4)
			s.put(d, tagDNGVersion, tiff.Byte, 1, 4, 0, 0)
			return s.file(t, false, d)
		}(), true},
		// A kept strip that covers bytes the copy drops: copying it would
		// carry them into the copy.
		{"strip covers a dropped tag's value", coverWithStrip(t, func(s *synth, d *ifdDir) {
			s.ascii(d, 0x010E, tiffSecret) // ImageDescription
		}, func(b []byte, d *tiff.Dir) (int64, int64) {
			return int64(bytes.Index(b, []byte(tiffSecret))), int64(len(tiffSecret))
		}), true},
		{"strip covers an EXIF value", coverWithStrip(t, func(s *synth, d *ifdDir) {
			ex := &ifdDir{}
			s.ascii(ex, 0xA431, tiffSecret) // BodySerialNumber
			d.fields = append(d.fields, ifdField{tag: tagExifIFD, typ: tiff.Long, dirs: []*ifdDir{ex}})
		}, func(b []byte, d *tiff.Dir) (int64, int64) {
			return int64(bytes.Index(b, []byte(tiffSecret))), int64(len(tiffSecret))
		}), true},
		{"strip covers the directory", coverWithStrip(t, func(s *synth, d *ifdDir) {
			d.add(0xC4A5, tiff.Undefined, 4, []byte(tiffSecret[:4])) // PrintIM, inline
		}, func(b []byte, d *tiff.Dir) (int64, int64) {
			return d.Offset, 2 + 12*int64(len(d.Entries)) + 4
		}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, rep, err := stripBytes(t, tc.data, Default)
			if bytes.Contains(out, []byte(tiffSecret[:4])) {
				t.Errorf("the copy holds a dropped value")
			}
			var fe *FormatError
			switch {
			case err == nil:
				t.Fatalf("stripped to %d bytes, %v", len(out), rep)
			case tc.unsupported && !errors.Is(err, ErrUnsupported):
				t.Fatalf("error %v, want ErrUnsupported", err)
			case !tc.unsupported && !errors.As(err, &fe):
				t.Fatalf("error %v, want a FormatError", err)
			}
		})
	}
}

// tiffSecret stands for an identifying value.
const tiffSecret = "Q7ZX-secret-owner"

// coverWithStrip makes a one-strip RGB file with what add puts in IFD0,
// then points the strip at the range where returns (given the file and
// its IFD0), as a hostile or broken writer could.
func coverWithStrip(t *testing.T, add func(s *synth, d *ifdDir), where func(b []byte, d *tiff.Dir) (off, n int64)) []byte {
	t.Helper()
	o := binary.LittleEndian
	s := &synth{o: o}
	d := &ifdDir{}
	s.rgb(d, 0, 4, 4)
	add(s, d)
	b := s.file(t, false, d)
	f, err := tiff.Open(bytes.NewReader(b), int64(len(b)), tiff.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.Walk(nil)
	if err != nil {
		t.Fatal(err)
	}
	off, n := where(b, w.Dirs[0])
	if off < 0 {
		t.Fatal("nothing to cover")
	}
	eo, _ := w.Dirs[0].Find(tagStripOffsets)
	ec, _ := w.Dirs[0].Find(tagStripByteCounts)
	o.PutUint32(b[eo.Offset:], uint32(off))
	o.PutUint32(b[ec.Offset:], uint32(n))
	return b
}

// TestStripTIFFBrokenEXIF: EXIF and GPS directories that cannot be read
// do not stop a copy (they are dropped, and reported), unlike image
// directories.
func TestStripTIFFBrokenEXIF(t *testing.T) {
	for _, tag := range []uint16{tagExifIFD, tagGPSIFD} {
		t.Run(fmt.Sprintf("0x%04X", tag), func(t *testing.T) {
			b := synthCamera(t, binary.LittleEndian, false)
			f, _ := tiff.Open(bytes.NewReader(b), int64(len(b)), tiff.DefaultLimits)
			d, _ := f.ReadDir(f.FirstIFD, "IFD0")
			e, _ := d.Find(tag)
			binary.LittleEndian.PutUint32(b[e.Offset:], 0xFFFFFF00)
			all := Profile{Name: "all", Keep: slices.Clone(Groups)}
			out, rep, err := stripBytes(t, b, all)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(rep.Removed, tagLabel("IFD0", tag, false)) {
				t.Errorf("report lacks the pointer: %q", rep.Removed)
			}
			checkAllowed(t, out, all)
			f, _ = tiff.Open(bytes.NewReader(out), int64(len(out)), tiff.DefaultLimits)
			d, _ = f.ReadDir(f.FirstIFD, "IFD0")
			if _, ok := d.Find(tag); ok {
				t.Errorf("pointer to the broken directory kept")
			}
		})
	}
}

func TestStripTIFFCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := synthCamera(t, binary.LittleEndian, false)
	if _, err := Strip(ctx, bytes.NewReader(b), int64(len(b)), TIFF, Default, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled strip: %v", err)
	}
}

// TestStripTIFFBoundedMemory: counts a file declares (entries, tiles, a
// value) are checked before anything is allocated for them.
func TestStripTIFFBoundedMemory(t *testing.T) {
	o := binary.LittleEndian
	base := func() []byte {
		s := &synth{o: o}
		d := &ifdDir{}
		s.rgb(d, 0, 4, 4)
		s.put(d, 0x0140, tiff.Short, make([]uint64, 3*256)...) // ColorMap
		return s.file(t, false, d)
	}
	// poison sets the count of tag in IFD0 (-1: the entry count).
	poison := func(tag int, count uint32) []byte {
		b := base()
		f, _ := tiff.Open(bytes.NewReader(b), int64(len(b)), tiff.DefaultLimits)
		d, err := f.ReadDir(f.FirstIFD, "IFD0")
		if err != nil {
			t.Fatal(err)
		}
		if tag < 0 {
			o.PutUint16(b[d.Offset:], uint16(count))
			return b
		}
		e, _ := d.Find(uint16(tag))
		o.PutUint32(b[e.Pos+4:], count)
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"entries", poison(-1, 0xFFFF)},
		{"strip offsets", poison(tagStripOffsets, 0x0FFFFFFF)},
		{"strip byte counts", poison(tagStripByteCounts, 0x0FFFFFFF)},
		{"colour map", poison(0x0140, 0x3FFFFFFF)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, _, err := stripBytes(t, tc.b, Default)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("poisoned file stripped")
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", n, len(tc.b))
			}
		})
	}
}
