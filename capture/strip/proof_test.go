package strip_test

// The proof: stripping checked the way a user would check it, on files that
// are not in this repository and with programs that are not ours.
//
// A corpus is built in a temporary folder from real camera files (the Go
// module cache holds them, see capture/photo/testfiles) and from files made
// with Debian's tools: GeoTIFF, COG and BigTIFF by gdal_translate, HEIC by
// heif-enc, WebP by cwebp, and copies made rich by exiftool (GPS, serial
// numbers, owner and artist names, XMP, IPTC, comments, ICC). Every file
// is stripped with the default profile, the empty profile and each
// single-group profile; then, for every copy:
//
//   - exiftool -json -a -G1 -n lists every tag left; each must be on the
//     allowlist of its format and profile (allowed below), and the tags of
//     the groups the profile keeps must still be there, with their values;
//   - none of the canary values written into the rich files (a serial
//     number, an owner name, ...) is anywhere in the copy's bytes;
//   - the decoded pixels equal the original's (Go's decoders for JPEG and
//     PNG, dwebp and x/image/webp for WebP, heif-dec to Y4M for HEIC,
//     gdalinfo -checksum per band and overview for TIFF);
//   - for TIFF, gdalinfo -json shows the same georeference as the original
//     when the profile keeps it and none when it does not, and no GDAL
//     metadata item outside the allowlist;
//   - for HEIF, heif-info shows no thumbnail and no XMP;
//   - no canary is in Strip's report or error.
//
// Failures name the file, the profile, and the tag or item: never a value.
// The test also logs what `exiftool -all=` leaves in the same files (per
// TIFF, tag by tag), the baseline docs/stripping.md compares against.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/image/webp"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
	"github.com/openexhibit/exhibit/capture/strip"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// programs are the outside programs the proof runs, all from Debian
// packages that scripts/tools.sh installs.
type programs struct {
	exiftool, gdalinfo, gdalTranslate string
	heifEnc, heifDec, heifInfo        string
	cwebp, dwebp                      string
}

func findPrograms(t *testing.T) programs {
	t.Helper()
	return programs{
		exiftool:      testenv.Program(t, "libimage-exiftool-perl", "exiftool"),
		gdalinfo:      testenv.Program(t, "gdal-bin", "gdalinfo"),
		gdalTranslate: testenv.Program(t, "gdal-bin", "gdal_translate"),
		heifEnc:       testenv.Program(t, "libheif-examples", "heif-enc"),
		heifDec:       testenv.Program(t, "libheif-examples", "heif-dec", "heif-convert"),
		heifInfo:      testenv.Program(t, "libheif-examples", "heif-info"),
		cwebp:         testenv.Program(t, "webp", "cwebp"),
		dwebp:         testenv.Program(t, "webp", "dwebp"),
	}
}

// run runs a program and returns its standard output. GDAL is told not to
// write .aux.xml side files, which would hold metadata beside a copy.
func run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "GDAL_PAM_ENABLED=NO", "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := stderr.String()
		if len(msg) > 500 {
			msg = msg[:500] + "..."
		}
		return out, fmt.Errorf("%s: %w: %s", filepath.Base(name), err, strings.TrimSpace(msg))
	}
	return out, nil
}

// mustRun is run for building the corpus, whose inputs are public sample
// files and this test's own canaries, so their messages may be shown.
func mustRun(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := run(name, args...)
	if err != nil {
		t.Fatalf("build corpus: %s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out
}

// A sample is one file of the corpus.
type sample struct {
	name   string // unique file name in the corpus, with its extension
	path   string
	format strip.Format
	origin string // where it came from
	size   int64
}

// canaries are values this test writes into the rich files for metadata no
// profile keeps: none of them may be found in any copy's bytes.
var canaries = []struct{ name, value string }{
	{"serial number", "PROOF-SERIAL-7731"},
	{"lens serial number", "PROOF-LENS-5520"},
	{"owner name", "Proof Owner Name"},
	{"artist", "Proof Artist Name"},
	{"copyright", "Proof Copyright Holder"},
	{"image description", "Proof Image Description"},
	{"user comment", "Proof User Comment"},
	{"XMP creator", "Proof XMP Creator"},
	{"XMP location", "Proof XMP Sublocation"},
	{"IPTC by-line", "Proof IPTC Byline"},
	{"comment", "Proof Comment Text"},
	{"document name", "Proof Document Name"},
	{"host computer", "Proof Host Computer"},
	{"GDAL metadata item", "Proof Case Note"},
	{"software", "ProofSoft 1.0"},
}

// richArgs make exiftool write the canaries and a value for every group a
// profile can keep.
func richArgs(icc string) []string {
	a := []string{
		"-ExifIFD:SerialNumber=PROOF-SERIAL-7731",
		"-ExifIFD:LensSerialNumber=PROOF-LENS-5520",
		"-ExifIFD:OwnerName=Proof Owner Name",
		"-IFD0:Artist=Proof Artist Name",
		"-IFD0:Copyright=Proof Copyright Holder",
		"-IFD0:ImageDescription=Proof Image Description",
		"-IFD0:Software=ProofSoft 1.0",
		"-ExifIFD:UserComment=Proof User Comment",
		"-XMP-dc:Creator=Proof XMP Creator",
		"-XMP-iptcCore:Location=Proof XMP Sublocation",
		"-IPTC:By-line=Proof IPTC Byline",
		"-Comment=Proof Comment Text",
		// Kept by some profile: present so the proof can see them kept.
		"-GPS:GPSLatitude=59.3293", "-GPS:GPSLatitudeRef=N",
		"-GPS:GPSLongitude=18.0686", "-GPS:GPSLongitudeRef=E",
		"-IFD0:Make=ProofCam", "-IFD0:Model=ProofCam One",
		"-ExifIFD:LensModel=Proof Lens 35mm",
		"-ExifIFD:DateTimeOriginal=2024:05:06 07:08:09",
		"-ExifIFD:OffsetTimeOriginal=+02:00",
		"-IFD0:Orientation#=6",
	}
	if icc != "" {
		a = append(a, "-ICC_Profile<="+icc)
	}
	return a
}

// gdalMo are gdal_translate -mo items: TIFF tags GDAL writes as such, and
// one plain item it writes into GDAL_METADATA.
var gdalMo = []string{
	"-mo", "TIFFTAG_ARTIST=Proof Artist Name",
	"-mo", "TIFFTAG_COPYRIGHT=Proof Copyright Holder",
	"-mo", "TIFFTAG_IMAGEDESCRIPTION=Proof Image Description",
	"-mo", "TIFFTAG_DOCUMENTNAME=Proof Document Name",
	"-mo", "TIFFTAG_HOSTCOMPUTER=Proof Host Computer",
	"-mo", "TIFFTAG_SOFTWARE=ProofSoft 1.0",
	"-mo", "TIFFTAG_DATETIME=2024:05:06 07:08:09",
	"-mo", "CASE_NOTE=Proof Case Note",
}

// georef4326 and georefUTM give a made-up georeference.
var (
	georef4326 = []string{"-a_srs", "EPSG:4326", "-a_ullr", "18.00", "59.40", "18.10", "59.30"}
	georefUTM  = []string{"-a_srs", "EPSG:32633", "-a_ullr", "500000", "6580000", "509200", "6574300", "-a_nodata", "0"}
)

// buildCorpus makes the corpus in dir and returns its samples.
func buildCorpus(t *testing.T, pr programs, dir string) []sample {
	t.Helper()
	var (
		samples []sample
		seen    = map[[32]byte]string{}
	)
	add := func(name, path string, f strip.Format, origin string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256(b)
		if other, ok := seen[d]; ok {
			t.Logf("corpus: %s is the same file as %s; kept once", name, other)
			return
		}
		seen[d] = name
		dst := filepath.Join(dir, name)
		if dst != path {
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		samples = append(samples, sample{name: name, path: dst, format: f, origin: origin, size: int64(len(b))})
	}
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}

	// Real camera files, as they are.
	type glob struct {
		module, pattern, prefix string
		format                  strip.Format
	}
	for _, g := range []glob{
		{testfiles.GoExif, "assets/*.jpg", "goexif-", strip.JPEG},
		{testfiles.GoExif, "assets/*.tif", "goexif-", strip.TIFF},
		{testfiles.JPEGStructure, "assets/*.jpg", "jpegstructure-", strip.JPEG},
		{testfiles.IPTC, "assets/*.jpg", "iptc-", strip.JPEG},
		{testfiles.PNGStructure, "assets/*.png", "pngstructure-", strip.PNG},
		{testfiles.GoExifRW, "exif/sample1.jpg", "goexifrw-", strip.JPEG},
		{testfiles.GoExifRW, "exif/samples/*.jpg", "goexifrw-", strip.JPEG},
		{testfiles.GoExifRW, "tiff/sample1.tif", "goexifrw-", strip.TIFF},
	} {
		files := testfiles.Glob(t, g.module, g.pattern)
		if len(files) == 0 {
			t.Fatalf("build corpus: no %s in %s", g.pattern, g.module)
		}
		for _, p := range files {
			add(g.prefix+filepath.Base(p), p, g.format, g.module)
		}
	}
	for _, n := range []string{"lens.heic", "lens.png", "lens.tif", "lens.webp"} {
		f, _ := formatOfName(n)
		add("testdata-"+n, filepath.Join("..", "photo", "testdata", n), f, "capture/photo/testdata")
	}
	gpsJPEG := testfiles.Path(t, testfiles.GoExif, "assets/gps.jpg")
	canonJPEG := testfiles.Path(t, testfiles.GoExif, "assets/NDM_8901.jpg")
	iccJPEG := testfiles.Path(t, testfiles.IPTC, "assets/photo-4iptc-heads.jpg")

	// An ICC profile to write into rich files: the sRGB one of an IPTC sample.
	icc := filepath.Join(work, "srgb.icc")
	if err := os.WriteFile(icc, mustRun(t, pr.exiftool, "-b", "-ICC_Profile", iccJPEG), 0o644); err != nil {
		t.Fatal(err)
	}

	// Small images of our own to carry metadata.
	base := filepath.Join(work, "base.jpg")
	writeImage(t, base, gradient(96, 64, false), "jpeg")
	rgbaPNG := filepath.Join(work, "rgba.png")
	writeImage(t, rgbaPNG, gradient(64, 48, true), "png")
	palPNG := filepath.Join(work, "palette.png")
	writeImage(t, palPNG, paletted(40, 30), "png")
	gray16PNG := filepath.Join(work, "gray16.png")
	writeImage(t, gray16PNG, gray16(33, 17), "png")

	// The cut-down camera files of goexif carry real metadata from many
	// cameras but no whole image (exiftool refuses to copy from them):
	// move their metadata segments, byte for byte, in front of a whole
	// small image.
	baseBytes, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	transplant := filepath.Join(dir, "transplant")
	if err := os.MkdirAll(transplant, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, src := range append(testfiles.Glob(t, testfiles.GoExifRW, "exif/samples/*.jpg"), testfiles.Glob(t, testfiles.IPTC, "assets/*.jpg")...) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		whole, ok := transplantSegments(b, baseBytes)
		if !ok {
			continue // no metadata segment before the cut
		}
		p := filepath.Join(transplant, filepath.Base(src))
		if err := os.WriteFile(p, whole, 0o644); err != nil {
			t.Fatal(err)
		}
		add("transplant-"+filepath.Base(src), p, strip.JPEG, "metadata segments of "+filepath.Base(src)+" on a whole image")
	}

	// Rich files: canaries and a value for every group.
	rich := func(name, from string, f strip.Format, withICC bool) string {
		t.Helper()
		p := filepath.Join(work, name)
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		iccPath := ""
		if withICC {
			iccPath = icc
		}
		args := append([]string{"-q", "-q", "-m", "-overwrite_original"}, richArgs(iccPath)...)
		mustRun(t, pr.exiftool, append(args, p)...)
		add(name, p, f, "made rich by exiftool from "+filepath.Base(from))
		return p
	}
	richJPEG := rich("rich.jpg", base, strip.JPEG, true)
	richGPS := rich("rich-gps.jpg", gpsJPEG, strip.JPEG, false)
	progressive := filepath.Join(work, "progressive.jpg")
	mustRun(t, pr.gdalTranslate, "-q", "-of", "JPEG", "-co", "PROGRESSIVE=ON", "-outsize", "25%", "25%", gpsJPEG, progressive)
	rich("rich-progressive.jpg", progressive, strip.JPEG, true)
	rich("rich.png", rgbaPNG, strip.PNG, true)
	rich("rich-palette.png", palPNG, strip.PNG, false)
	rich("rich-gray16.png", gray16PNG, strip.PNG, true)

	// WebP by cwebp, which copies EXIF, ICC and XMP from a JPEG.
	webp := func(name, from string, richer bool, args ...string) {
		t.Helper()
		p := filepath.Join(work, name)
		mustRun(t, pr.cwebp, append(append([]string{"-quiet", "-metadata", "all"}, args...), from, "-o", p)...)
		if richer {
			rich("rich-"+name, p, strip.WebP, true)
			return
		}
		add(name, p, strip.WebP, "cwebp from "+filepath.Base(from))
	}
	webp("gps.webp", gpsJPEG, false, "-q", "30")
	webp("rich-jpeg.webp", richJPEG, false, "-q", "50")
	webp("iptc-icc.webp", filepath.Join(transplant, "photo-4iptc-heads.jpg"), false, "-q", "50")
	webp("simple.webp", rgbaPNG, false, "-q", "50", "-noalpha")
	webp("alpha-lossless.webp", rgbaPNG, true, "-lossless")
	webp("alpha-lossy.webp", rgbaPNG, true, "-q", "60")

	// HEIC by heif-enc, which copies EXIF and XMP from a JPEG; -t adds a
	// thumbnail.
	heic := func(name, from string, args ...string) {
		t.Helper()
		p := filepath.Join(work, name)
		mustRun(t, pr.heifEnc, append(append([]string{"-q", "30"}, args...), "-o", p, from)...)
		add(name, p, strip.HEIF, "heif-enc from "+filepath.Base(from))
	}
	heic("gps-thumb.heic", gpsJPEG, "-t", "64")
	heic("rich-thumb.heic", richJPEG, "-t", "32")
	heic("rich-gps.heic", richGPS)
	heic("iptc-icc.heic", filepath.Join(transplant, "photo-4iptc-heads.jpg"), "-t", "48")
	heic("orientation6.heic", filepath.Join(transplant, "f6-exif.jpg"))
	// From a PNG with alpha: an auxiliary alpha image, then made rich.
	alphaHEIC := filepath.Join(work, "alpha.heic")
	mustRun(t, pr.heifEnc, "-q", "30", "-o", alphaHEIC, rgbaPNG)
	rich("rich-alpha.heic", alphaHEIC, strip.HEIF, false)

	// GeoTIFF, COG and BigTIFF by gdal_translate, which copies the source's
	// EXIF, GPS included, and XMP into GDAL_METADATA and tag 700.
	tiff := func(name, from string, args ...string) string {
		t.Helper()
		p := filepath.Join(work, name)
		mustRun(t, pr.gdalTranslate, append(append([]string{"-q"}, args...), from, p)...)
		add(name, p, strip.TIFF, "gdal_translate from "+filepath.Base(from))
		return p
	}
	withMo := func(a ...string) []string { return append(a, gdalMo...) }
	tiff("gps-geo-strips.tif", gpsJPEG, withMo(georef4326...)...)
	tiff("gps-geo-tiled-deflate.tif", gpsJPEG, withMo(append([]string{"-co", "TILED=YES", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=2"}, georefUTM...)...)...)
	tiff("gps-cog.tif", gpsJPEG, withMo(append([]string{"-of", "COG", "-co", "COMPRESS=LZW"}, georef4326...)...)...)
	tiff("gps-bigtiff.tif", gpsJPEG, withMo(append([]string{"-co", "BIGTIFF=YES", "-co", "TILED=YES"}, georef4326...)...)...)
	tiff("gps-ycbcr-jpeg.tif", gpsJPEG, withMo(append([]string{"-co", "COMPRESS=JPEG", "-co", "PHOTOMETRIC=YCBCR", "-co", "TILED=YES"}, georefUTM...)...)...)
	tiff("canon-geo.tif", canonJPEG, withMo(append([]string{"-outsize", "10%", "10%"}, georefUTM...)...)...)
	tiff("canon-bigtiff-cog.tif", canonJPEG, withMo(append([]string{"-of", "COG", "-co", "BIGTIFF=YES", "-outsize", "10%", "10%"}, georef4326...)...)...)
	tiff("iptc-band-interleaved.tif", iccJPEG, withMo(append([]string{"-outsize", "20%", "20%", "-co", "INTERLEAVE=BAND"}, georef4326...)...)...)
	plain := filepath.Join(work, "plain.tif")
	mustRun(t, pr.gdalTranslate, "-q", "-outsize", "25%", "25%", richGPS, plain)
	rich("rich-plain.tif", plain, strip.TIFF, true)
	geo := filepath.Join(work, "geo.tif")
	mustRun(t, pr.gdalTranslate, append(append([]string{"-q", "-outsize", "25%", "25%"}, withMo(georefUTM...)...), richGPS, geo)...)
	rich("rich-geo.tif", geo, strip.TIFF, true)

	return samples
}

// transplantSegments returns base (a whole JPEG) with the metadata
// segments of src (APPn but APP14, whose colour transform would change how
// base decodes, and COM) inserted after its SOI, and whether src had any.
func transplantSegments(src, base []byte) ([]byte, bool) {
	if len(src) < 4 || src[0] != 0xFF || src[1] != 0xD8 || len(base) < 2 {
		return nil, false
	}
	out := []byte{0xFF, 0xD8}
	n := 0
	for i := 2; i+4 <= len(src) && src[i] == 0xFF; {
		m := src[i+1]
		l := int(src[i+2])<<8 | int(src[i+3])
		if l < 2 || i+2+l > len(src) {
			break // cut short
		}
		if m >= 0xE0 && m <= 0xEF && m != 0xEE || m == 0xFE {
			out = append(out, src[i:i+2+l]...)
			n++
		} else if m == 0xDA {
			break
		}
		i += 2 + l
	}
	return append(out, base[2:]...), n > 0
}

func formatOfName(name string) (strip.Format, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg":
		return strip.JPEG, true
	case ".png":
		return strip.PNG, true
	case ".webp":
		return strip.WebP, true
	case ".tif", ".tiff":
		return strip.TIFF, true
	case ".heic", ".heif":
		return strip.HEIF, true
	}
	return "", false
}

func gradient(w, h int, alpha bool) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint8(255)
			if alpha {
				a = uint8(128 + x*127/w)
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) * 3), a})
		}
	}
	return img
}

func paletted(w, h int) image.Image {
	pal := color.Palette{color.NRGBA{0, 0, 0, 0}, color.NRGBA{200, 30, 30, 255}, color.NRGBA{30, 200, 30, 255}, color.NRGBA{30, 30, 200, 128}}
	img := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetColorIndex(x, y, uint8((x/5+y/5)%len(pal)))
		}
	}
	return img
}

func gray16(w, h int) image.Image {
	img := image.NewGray16(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetGray16(x, y, color.Gray16{uint16(x*1987 + y*613)})
		}
	}
	return img
}

func writeImage(t *testing.T, path string, img image.Image, format string) {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if format == "jpeg" {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	} else {
		err = png.Encode(&buf, img)
	}
	if err == nil {
		err = os.WriteFile(path, buf.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// proofProfiles are the default profile, the empty one, and one profile per
// group keeping only that group.
func proofProfiles(t *testing.T) []strip.Profile {
	t.Helper()
	ps := []strip.Profile{strip.Default, {Name: "none"}}
	for _, g := range strip.Groups {
		p, err := strip.NewProfile("only-"+string(g), []string{string(g)})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// exifGroups are the groups whose tags live in an EXIF block.
var exifGroups = []strip.Group{strip.CaptureTime, strip.GPS, strip.Camera, strip.Orientation}

// Tags that may stay whatever the profile, by exiftool group.
var (
	harmlessFile = set("FileType", "FileTypeExtension", "MIMEType", "ImageWidth", "ImageHeight",
		"EncodingProcess", "BitsPerSample", "ColorComponents", "YCbCrSubSampling")
	harmlessJPEG = map[string]map[string]bool{
		"JFIF":  set("JFIFVersion", "ResolutionUnit", "XResolution", "YResolution"),
		"Adobe": set("DCTEncodeVersion", "APP14Flags0", "APP14Flags1", "ColorTransform"),
	}
	harmlessPNG = map[string]map[string]bool{
		"PNG": set("ImageWidth", "ImageHeight", "BitDepth", "ColorType", "Compression", "Filter",
			"Interlace", "Palette", "Transparency", "Gamma", "WhitePointX", "WhitePointY", "RedX", "RedY",
			"GreenX", "GreenY", "BlueX", "BlueY", "SRGBRendering", "BackgroundColor", "SignificantBits",
			"AnimationFrames", "AnimationPlays"),
		"PNG-pHYs": set("PixelsPerUnitX", "PixelsPerUnitY", "PixelUnits"),
	}
	harmlessWebP = map[string]map[string]bool{
		"RIFF": set("WebP_Flags", "ImageWidth", "ImageHeight", "VP8Version", "HorizontalScale",
			"VerticalScale", "AlphaPreprocessing", "AlphaFiltering", "AlphaCompression",
			"BackgroundColor", "AnimationLoopCount"),
	}
	harmlessHEIF = map[string]map[string]bool{
		"QuickTime": set("MajorBrand", "MinorVersion", "CompatibleBrands", "HandlerType",
			"HEVCConfigurationVersion", "GeneralProfileSpace", "GeneralTierFlag", "GeneralProfileIDC",
			"GenProfileCompatibilityFlags", "ConstraintIndicatorFlags", "GeneralLevelIDC",
			"MinSpatialSegmentationIDC", "ParallelismType", "ChromaFormat", "BitDepthLuma",
			"BitDepthChroma", "AverageFrameRate", "ConstantFrameRate", "NumTemporalLayers",
			"TemporalIDNested", "ImageSpatialExtent", "ImagePixelDepth", "MediaDataSize",
			"MediaDataOffset", "Rotation", "ColorProfiles", "ColorPrimaries",
			"TransferCharacteristics", "MatrixCoefficients", "VideoFullRangeFlag"),
		"Meta": set("PrimaryItemReference", "MetaImageSize"),
	}
	// tiffDecoding are the tags a TIFF decoder needs, in any image
	// directory (overviews and pages included).
	tiffDecoding = set("SubfileType", "OldSubfileType", "ImageWidth", "ImageHeight", "BitsPerSample",
		"Compression", "PhotometricInterpretation", "FillOrder", "StripOffsets", "SamplesPerPixel",
		"RowsPerStrip", "StripByteCounts", "PlanarConfiguration", "Predictor", "TileWidth",
		"TileLength", "TileOffsets", "TileByteCounts", "ExtraSamples", "SampleFormat", "JPEGTables",
		"YCbCrCoefficients", "YCbCrSubSampling", "YCbCrPositioning", "ReferenceBlackWhite", "ColorMap",
		"TransferFunction", "WhitePoint", "PrimaryChromaticities", "XResolution", "YResolution",
		"ResolutionUnit")
	tiffDirectory = regexp.MustCompile(`^(IFD\d+|SubIFD\d*)$`)
	// alphaAux matches the auxiliary image types of alpha planes (HEVC and
	// MPEG-B), as exiftool gives them in JSON.
	alphaAux = regexp.MustCompile(`^"(urn:mpeg:hevc:2015:auxid:1|urn:mpeg:mpegB:cicp:systems:auxiliary:alpha)(\\u0000)?"$`)
	// harmlessEXIF may stay in an EXIF block that is kept for another tag.
	harmlessEXIF = map[string]map[string]bool{
		"IFD0":    set("XResolution", "YResolution", "ResolutionUnit", "YCbCrPositioning"),
		"ExifIFD": set("ExifVersion", "FlashpixVersion", "ColorSpace"),
	}
	// groupTags are the tags each group keeps.
	groupTags = map[strip.Group]map[string]map[string]bool{
		strip.CaptureTime: {"ExifIFD": set("DateTimeOriginal", "CreateDate", "OffsetTimeOriginal",
			"OffsetTimeDigitized", "SubSecTimeOriginal", "SubSecTimeDigitized"),
			"Composite": set("SubSecDateTimeOriginal", "SubSecCreateDate")},
		strip.Camera: {"IFD0": set("Make", "Model"), "ExifIFD": set("LensMake", "LensModel"),
			"Composite": set("LensID", "Lens")},
		strip.Orientation: {"IFD0": set("Orientation")},
		// exiftool decodes GeoKeys into the GeoTiff group, except in a
		// BigTIFF, where it shows the raw tags.
		strip.Georeference: {"IFD0": set("PixelScale", "ModelTiePoint", "ModelTransform", "GDALNoData",
			"GeoTiffDirectory", "GeoTiffDoubleParams", "GeoTiffAsciiParams")},
		strip.GPS: {"Composite": set("GPSPosition", "GPSLatitude", "GPSLongitude", "GPSAltitude",
			"GPSDateTime")},
	}
	// probes are tags that, when the original has them, a copy keeping
	// their group must still have, with the same value.
	probes = map[strip.Group][]string{
		strip.GPS:          {"GPS:GPSLatitude", "GPS:GPSLongitude"},
		strip.Orientation:  {"IFD0:Orientation"},
		strip.CaptureTime:  {"ExifIFD:DateTimeOriginal"},
		strip.Camera:       {"IFD0:Make", "IFD0:Model"},
		strip.ColorProfile: {"ICC-header:ProfileClass", "ICC_Profile:ProfileDescription"},
		strip.Georeference: {"IFD0:ModelTiePoint", "IFD0:PixelScale", "GeoTiff:GTModelType"},
	}
)

// malformed are samples whose EXIF breaks the specification in a way that
// makes a kept group lose a tag by design: keptEXIF copies a tag only in
// the shape the EXIF specification gives it. The allowlist and every other
// check still apply to them.
var malformed = map[string]string{
	"geodegrees_as_string.jpg": "GPSLatitude and GPSLongitude stored as text, Make twice",
}

func isMalformed(name string) (string, bool) {
	for k, why := range malformed {
		if strings.HasSuffix(name, k) {
			return why, true
		}
	}
	return "", false
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// allowed reports whether the exiftool tag group:name may stay in a copy of
// format f made with profile p. It is an allowlist: a tag not named here
// fails the proof.
func allowed(f strip.Format, p strip.Profile, group, name string) bool {
	switch {
	case group == "ExifTool":
		return name == "ExifToolVersion" // not Warning, not Error
	case group == "System": // the file system's name, size and dates of the copy
		return true
	case group == "File":
		if name == "ExifByteOrder" {
			return f == strip.TIFF || slices.ContainsFunc(exifGroups, p.Keeps)
		}
		return harmlessFile[name]
	case group == "GPS":
		return p.Keeps(strip.GPS)
	case group == "GeoTiff":
		return p.Keeps(strip.Georeference)
	case strings.HasPrefix(group, "ICC"):
		return p.Keeps(strip.ColorProfile)
	case group == "PNG" && name == "ProfileName": // the name of an iCCP profile
		return p.Keeps(strip.ColorProfile)
	case group == "Composite" && (name == "ImageSize" || name == "Megapixels"):
		return true
	}
	for g, tags := range groupTags {
		if tags[group][name] && p.Keeps(g) {
			return true
		}
	}
	if slices.ContainsFunc(exifGroups, p.Keeps) && harmlessEXIF[group][name] {
		return true
	}
	var harmless map[string]map[string]bool
	switch f {
	case strip.JPEG:
		harmless = harmlessJPEG
	case strip.PNG:
		harmless = harmlessPNG
	case strip.WebP:
		harmless = harmlessWebP
	case strip.HEIF:
		harmless = harmlessHEIF
	case strip.TIFF:
		return tiffDirectory.MatchString(group) && tiffDecoding[name]
	}
	return harmless[group][name]
}

// exifTags are the tags exiftool found in one file, by "Group:Name".
type exifTags map[string]json.RawMessage

// exiftoolAll runs one exiftool over all paths (one process is ~15x faster
// than one per file) and returns the tags of each path.
func exiftoolAll(t *testing.T, exiftool, scratch string, paths []string) map[string]exifTags {
	t.Helper()
	list := filepath.Join(scratch, fmt.Sprintf("exiftool-args-%d.txt", time.Now().UnixNano()))
	if err := os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exiftool, "-json", "-a", "-G1", "-n", "-charset", "filename=UTF8", "-@", list)
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) { // exit status 1 only means some file had an error, which is in the JSON
		t.Fatalf("exiftool: %v", err)
	}
	var recs []exifTags
	if err := json.Unmarshal(out, &recs); err != nil {
		t.Fatalf("exiftool -json: %v", err)
	}
	byPath := make(map[string]exifTags, len(recs))
	for _, r := range recs {
		var src string
		if err := json.Unmarshal(r["SourceFile"], &src); err != nil {
			t.Fatalf("exiftool -json: record without SourceFile: %v", err)
		}
		delete(r, "SourceFile")
		byPath[src] = r
	}
	for _, p := range paths {
		if _, ok := byPath[p]; !ok {
			t.Fatalf("exiftool -json: no record for %s", p)
		}
	}
	return byPath
}

// notAllowed returns the tags of tags that may not stay in a copy of format
// f made with profile p, sorted. An exiftool warning is allowed only when
// the original (origTags, nil when unknown) has the same one: the copy then
// keeps a quirk of the original's structure, which is not metadata.
func notAllowed(f strip.Format, p strip.Profile, tags, origTags exifTags) []string {
	var bad []string
	for k, v := range tags {
		if k == "ExifTool:Warning" && origTags != nil && bytes.Equal(v, origTags[k]) {
			continue
		}
		if k == "QuickTime:AuxiliaryImageType" && f == strip.HEIF && alphaAux.Match(v) {
			continue // an alpha plane, which the image needs
		}
		group, name, _ := strings.Cut(k, ":")
		if !allowed(f, p, group, name) {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return bad
}

// gdalInfo is what the proof reads from gdalinfo -json -checksum.
type gdalInfo struct {
	CoordinateSystem *struct {
		WKT string `json:"wkt"`
	} `json:"coordinateSystem"`
	GeoTransform      json.RawMessage            `json:"geoTransform"`
	CornerCoordinates json.RawMessage            `json:"cornerCoordinates"`
	Metadata          map[string]json.RawMessage `json:"metadata"`
	Size              []int                      `json:"size"`
	Bands             []struct {
		Type      string `json:"type"`
		Checksum  int    `json:"checksum"`
		Overviews []struct {
			Size     []int `json:"size"`
			Checksum int   `json:"checksum"`
		} `json:"overviews"`
	} `json:"bands"`
}

func (g *gdalInfo) wkt() string {
	if g.CoordinateSystem == nil {
		return ""
	}
	return g.CoordinateSystem.WKT
}

// pixels is a digest of GDAL's checksums of the full-resolution bands.
func (g *gdalInfo) pixels() string {
	h := sha256.New()
	fmt.Fprintf(h, "size %v\n", g.Size)
	for i, b := range g.Bands {
		fmt.Fprintf(h, "band %d %s %d\n", i+1, b.Type, b.Checksum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// overviews is a digest of GDAL's checksums of the overviews, "" when
// there are none.
func (g *gdalInfo) overviews() string {
	h := sha256.New()
	n := 0
	for i, b := range g.Bands {
		for _, o := range b.Overviews {
			fmt.Fprintf(h, "band %d overview %v %d\n", i+1, o.Size, o.Checksum)
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// gdalEXIFAllowed reports whether GDAL's EXIF-domain item k may stay in a
// copy made with profile p.
func gdalEXIFAllowed(p strip.Profile, k string) bool {
	switch k {
	case "EXIF_ExifVersion", "EXIF_FlashpixVersion", "EXIF_ColorSpace":
		return slices.ContainsFunc(exifGroups, p.Keeps)
	case "EXIF_DateTimeOriginal", "EXIF_DateTimeDigitized", "EXIF_OffsetTimeOriginal",
		"EXIF_OffsetTimeDigitized", "EXIF_SubSecTime_Original", "EXIF_SubSecTime_Digitized":
		return p.Keeps(strip.CaptureTime)
	case "EXIF_LensMake", "EXIF_LensModel":
		return p.Keeps(strip.Camera)
	}
	return strings.HasPrefix(k, "EXIF_GPS") && p.Keeps(strip.GPS)
}

// gdalHarmless are GDAL metadata items of the default domain that may stay.
var gdalHarmless = set("TIFFTAG_XRESOLUTION", "TIFFTAG_YRESOLUTION", "TIFFTAG_RESOLUTIONUNIT")

// checker decodes files at most once per content.
type checker struct {
	pr      programs
	scratch string
	mu      sync.Mutex
	pix     map[string]decoded // by sha256 of the file
	// undecodable names the samples whose original does not decode.
	undecodable map[string]bool
}

type decoded struct {
	digest string
	info   *gdalInfo
	err    error
}

func fileDigest(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:]), nil
}

// decode returns a digest of the decoded pixels of path, which is in
// format f; for TIFF also what gdalinfo says of it.
func (c *checker) decode(f strip.Format, path string) decoded {
	key, err := fileDigest(path)
	if err != nil {
		return decoded{err: err}
	}
	c.mu.Lock()
	d, ok := c.pix[key]
	c.mu.Unlock()
	if ok {
		return d
	}
	d = c.decodeUncached(f, path, key)
	c.mu.Lock()
	c.pix[key] = d
	c.mu.Unlock()
	return d
}

func (c *checker) decodeUncached(f strip.Format, path, key string) decoded {
	switch f {
	case strip.JPEG, strip.PNG:
		fh, err := os.Open(path)
		if err != nil {
			return decoded{err: err}
		}
		defer fh.Close()
		var img image.Image
		if f == strip.JPEG {
			img, err = jpeg.Decode(bufio.NewReader(fh))
		} else {
			img, err = png.Decode(bufio.NewReader(fh))
		}
		if err != nil {
			return decoded{err: err}
		}
		return decoded{digest: imageDigest(img)}
	case strip.WebP:
		// Two decoders: libwebp's reference dwebp, and Go's x/image/webp
		// (which knows no animation: then dwebp alone).
		out := filepath.Join(c.scratch, key+".pam")
		defer os.Remove(out)
		if _, err := run(c.pr.dwebp, "-quiet", "-pam", path, "-o", out); err != nil {
			return decoded{err: err}
		}
		d, err := fileDigest(out)
		if err != nil {
			return decoded{err: err}
		}
		fh, err := os.Open(path)
		if err != nil {
			return decoded{err: err}
		}
		defer fh.Close()
		if img, err := webp.Decode(bufio.NewReader(fh)); err == nil {
			d += " " + imageDigest(img)
		}
		return decoded{digest: d}
	case strip.HEIF:
		// Y4M holds the decoded planes as they are: PNG would add a colour
		// conversion, and libpng refuses some ICC profiles.
		out := filepath.Join(c.scratch, key+".y4m")
		if _, err := run(c.pr.heifDec, path, out); err != nil {
			return decoded{err: err}
		}
		// heif-dec writes one file per top-level image: name-1.y4m, ...
		// when there are several.
		outs, _ := filepath.Glob(filepath.Join(c.scratch, key+"*.y4m"))
		sort.Strings(outs)
		if len(outs) == 0 {
			return decoded{err: errors.New("heif-dec wrote no image")}
		}
		h := sha256.New()
		for _, o := range outs {
			d, err := fileDigest(o)
			os.Remove(o)
			if err != nil {
				return decoded{err: err}
			}
			fmt.Fprintf(h, "%s %s\n", strings.TrimPrefix(filepath.Base(o), key), d)
		}
		return decoded{digest: hex.EncodeToString(h.Sum(nil))}
	case strip.TIFF:
		out, err := run(c.pr.gdalinfo, "-json", "-checksum", "-mdd", "all", path)
		if err != nil {
			return decoded{err: err}
		}
		var g gdalInfo
		if err := json.Unmarshal(out, &g); err != nil {
			return decoded{err: fmt.Errorf("gdalinfo -json: %w", err)}
		}
		return decoded{digest: g.pixels(), info: &g}
	}
	return decoded{err: fmt.Errorf("no decoder for %s", f)}
}

// imageDigest hashes an image's type, bounds and samples.
func imageDigest(img image.Image) string {
	h := sha256.New()
	fmt.Fprintf(h, "%T %v\n", img, img.Bounds())
	switch m := img.(type) {
	case *image.YCbCr:
		h.Write(m.Y)
		h.Write(m.Cb)
		h.Write(m.Cr)
	case *image.CMYK:
		h.Write(m.Pix)
	case *image.Gray:
		h.Write(m.Pix)
	case *image.Gray16:
		h.Write(m.Pix)
	case *image.NRGBA:
		h.Write(m.Pix)
	case *image.NRGBA64:
		h.Write(m.Pix)
	case *image.RGBA:
		h.Write(m.Pix)
	case *image.RGBA64:
		h.Write(m.Pix)
	case *image.Paletted:
		h.Write(m.Pix)
		fmt.Fprintf(h, "%v", m.Palette)
	default:
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, b, a := img.At(x, y).RGBA()
				fmt.Fprintf(h, "%d %d %d %d,", r, g, b, a)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// heifInfo lists what heif-info says a HEIF file holds besides its image:
// "thumbnail" and the metadata kinds ("Exif", "XMP", ...).
func heifInfo(heifInfoProg, path string) ([]string, error) {
	out, err := run(heifInfoProg, path)
	if err != nil {
		return nil, err
	}
	var found []string
	inMeta := false
	for _, line := range strings.Split(string(out), "\n") {
		trim := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trim, "thumbnail:"):
			found = append(found, "thumbnail")
		case trim == "metadata:":
			inMeta = true
		case inMeta && strings.HasPrefix(line, "  ") && strings.Contains(trim, ":"):
			kind, _, _ := strings.Cut(trim, ":")
			found = append(found, kind)
		case inMeta && !strings.HasPrefix(line, "  "):
			inMeta = false
		}
	}
	return found, nil
}

// A copy is one Strip output.
type copyResult struct {
	s      *sample
	p      strip.Profile
	path   string // empty when Strip failed
	report *strip.Report
	err    error
}

// tally counts what the proof checked, per format.
type tally struct {
	files, copies, failedStrips, tags, canaryHits, pixelProofs, undecodable, georef int
	overviewsDropped, keptCompared                                                  int
}

func TestProof(t *testing.T) {
	if testing.Short() {
		t.Skip("the stripping proof builds a corpus with outside programs; not in -short")
	}
	pr := findPrograms(t)
	root := t.TempDir()
	corpusDir := filepath.Join(root, "corpus")
	scratch := filepath.Join(root, "scratch")
	for _, d := range []string{corpusDir, scratch} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	samples := buildCorpus(t, pr, corpusDir)
	t.Logf("corpus: %d files built in %v", len(samples), time.Since(start).Round(time.Millisecond))
	profiles := proofProfiles(t)

	// Strip every sample with every profile.
	start = time.Now()
	ctx := context.Background()
	var copies []*copyResult
	for _, p := range profiles {
		dir := filepath.Join(root, "copies", p.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range samples {
			s := &samples[i]
			c := &copyResult{s: s, p: p}
			c.path, c.report, c.err = stripFile(ctx, s, p, filepath.Join(dir, s.name))
			copies = append(copies, c)
		}
	}
	t.Logf("strip: %d copies in %v", len(copies), time.Since(start).Round(time.Millisecond))

	// exiftool over every original and every copy, in one run.
	start = time.Now()
	paths := make([]string, 0, len(samples)+len(copies))
	for _, s := range samples {
		paths = append(paths, s.path)
	}
	for _, c := range copies {
		if c.path != "" {
			paths = append(paths, c.path)
		}
	}
	tags := exiftoolAll(t, pr.exiftool, scratch, paths)
	t.Logf("exiftool: %d files read in %v", len(paths), time.Since(start).Round(time.Millisecond))

	ck := &checker{pr: pr, scratch: scratch, pix: map[string]decoded{}, undecodable: map[string]bool{}}
	byFormat := map[strip.Format][]*copyResult{}
	for _, c := range copies {
		byFormat[c.s.format] = append(byFormat[c.s.format], c)
	}
	counts := map[strip.Format]*tally{}
	var mu sync.Mutex
	for _, f := range []strip.Format{strip.JPEG, strip.PNG, strip.WebP, strip.TIFF, strip.HEIF} {
		cs := byFormat[f]
		tl := &tally{}
		counts[f] = tl
		t.Run(string(f), func(t *testing.T) {
			if len(cs) == 0 {
				t.Fatalf("the corpus has no %s file", f)
			}
			unsupported := 0
			for _, c := range cs {
				if errors.Is(c.err, strip.ErrUnsupported) {
					unsupported++
				}
			}
			if unsupported == len(cs) {
				msg := fmt.Sprintf("strip returns ErrUnsupported for all %d %s copies: the format is not implemented", len(cs), f)
				if testenv.InCI() {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			bySample := map[*sample][]*copyResult{}
			var order []*sample
			for _, c := range cs {
				if bySample[c.s] == nil {
					order = append(order, c.s)
				}
				bySample[c.s] = append(bySample[c.s], c)
			}
			tl.files = len(order)
			// Two samples at a time: decoders are outside processes.
			sem := make(chan struct{}, 2)
			var wg sync.WaitGroup
			for _, s := range order {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					n := proveSample(t, ck, s, bySample[s], tags)
					mu.Lock()
					tl.add(n)
					mu.Unlock()
				}()
			}
			wg.Wait()
		})
	}
	for _, f := range []strip.Format{strip.JPEG, strip.PNG, strip.WebP, strip.TIFF, strip.HEIF} {
		n := counts[f]
		t.Logf("%-4s: %d files, %d copies (%d not made), %d tags checked, %d kept tags compared, %d pixel proofs, %d undecodable originals, %d georeference proofs, %d canaries searched for, %d copies without the original's overviews",
			f, n.files, n.copies, n.failedStrips, n.tags, n.keptCompared, n.pixelProofs, n.undecodable, n.georef, n.canaryHits, n.overviewsDropped)
	}

	t.Run("exiftool-all-baseline", func(t *testing.T) {
		var whole []sample
		for _, s := range samples {
			if !ck.undecodable[s.name] {
				whole = append(whole, s)
			}
		}
		exiftoolBaseline(t, pr, whole, tags, filepath.Join(root, "baseline"), scratch)
	})
}

func (t *tally) add(n tally) {
	t.copies += n.copies
	t.failedStrips += n.failedStrips
	t.tags += n.tags
	t.canaryHits += n.canaryHits
	t.pixelProofs += n.pixelProofs
	t.undecodable += n.undecodable
	t.georef += n.georef
	t.overviewsDropped += n.overviewsDropped
	t.keptCompared += n.keptCompared
}

// stripFile strips sample s with profile p into dst. On error it removes
// dst and returns an empty path.
func stripFile(ctx context.Context, s *sample, p strip.Profile, dst string) (string, *strip.Report, error) {
	in, err := os.Open(s.path)
	if err != nil {
		return "", nil, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return "", nil, err
	}
	w := bufio.NewWriter(out)
	rep, err := strip.Strip(ctx, in, s.size, s.format, p, w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return "", nil, err
	}
	if rep == nil {
		os.Remove(dst)
		return "", nil, errors.New("strip returned no report")
	}
	return dst, rep, nil
}

// proveSample checks every copy of sample s and returns what it counted.
// It may run on several goroutines: it reports through t.Errorf only.
func proveSample(t *testing.T, ck *checker, s *sample, cs []*copyResult, tags map[string]exifTags) tally {
	var n tally
	orig := tags[s.path]
	origPix := ck.decode(s.format, s.path)
	origBytes, err := os.ReadFile(s.path)
	if err != nil {
		t.Errorf("%s: %v", s.name, err)
		return n
	}
	var origCanaries []string
	for _, cn := range canaries {
		if bytes.Contains(origBytes, []byte(cn.value)) {
			origCanaries = append(origCanaries, cn.name)
		}
	}
	if origPix.err != nil {
		n.undecodable++
		ck.mu.Lock()
		ck.undecodable[s.name] = true
		ck.mu.Unlock()
		t.Logf("%s: the original does not decode, so no pixel proof: %v", s.name, origPix.err)
	}
	if why, ok := isMalformed(s.name); ok {
		t.Logf("%s: malformed EXIF (%s): kept groups are not compared", s.name, why)
	}
	var heifOrig []string
	if s.format == strip.HEIF {
		heifOrig, _ = heifInfo(ck.pr.heifInfo, s.path)
	}
	for _, c := range cs {
		n.copies++
		what := fmt.Sprintf("%s (from %s), profile %s", s.name, s.origin, c.p)
		// The report and the error name what was removed or wrong, never
		// a value.
		var said []string
		if c.err != nil {
			said = append(said, c.err.Error())
		}
		if c.report != nil {
			said = append(said, c.report.Removed...)
			said = append(said, c.report.Kept...)
		}
		for _, cn := range canaries {
			if slices.Contains(origCanaries, cn.name) && slices.ContainsFunc(said, func(x string) bool { return strings.Contains(x, cn.value) }) {
				t.Errorf("%s: the %s canary is in Strip's report or error", what, cn.name)
			}
		}
		if c.err != nil {
			n.failedStrips++
			// A file that its own decoder rejects may be refused; a
			// whole file must get a working copy.
			if origPix.err == nil {
				t.Errorf("%s: no working copy: %v", what, c.err)
			}
			continue
		}
		got := tags[c.path]

		// Every tag left must be allowed.
		n.tags += len(got)
		if bad := notAllowed(s.format, c.p, got, orig); len(bad) > 0 {
			t.Errorf("%s: %d tags not allowed by the profile: %s", what, len(bad), describe(bad))
		}
		// Kept groups must really be kept, with the same values.
		for _, g := range c.p.Keep {
			if _, ok := isMalformed(s.name); ok {
				break
			}
			for _, probe := range probes[g] {
				want, ok := orig[probe]
				if !ok {
					continue
				}
				n.keptCompared++
				if have, ok := got[probe]; !ok {
					t.Errorf("%s: group %s is kept, but %s is gone", what, g, probe)
				} else if !bytes.Equal(want, have) {
					t.Errorf("%s: group %s is kept, but the value of %s changed", what, g, probe)
				}
			}
		}
		// No canary may survive, whatever exiftool can or cannot read.
		copyBytes, err := os.ReadFile(c.path)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		for _, cn := range canaries {
			if !slices.Contains(origCanaries, cn.name) {
				continue
			}
			n.canaryHits++
			if bytes.Contains(copyBytes, []byte(cn.value)) {
				t.Errorf("%s: the %s canary is still in the copy's bytes", what, cn.name)
			}
		}
		// The same pixels.
		if origPix.err == nil {
			d := ck.decode(s.format, c.path)
			switch {
			case d.err != nil:
				t.Errorf("%s: the copy does not decode: %v", what, d.err)
			case d.digest != origPix.digest:
				t.Errorf("%s: the decoded pixels differ from the original's", what)
			default:
				n.pixelProofs++
			}
			if s.format == strip.TIFF && d.info != nil && origPix.info != nil {
				// Overviews stay as they are, except that a copy without
				// its georeference is an ordinary TIFF, whose reduced-
				// resolution images strip drops as previews (by design,
				// see stripTIFF).
				ov, origOv := d.info.overviews(), origPix.info.overviews()
				switch {
				case ov == origOv:
				case ov == "" && len(origPix.info.GeoTransform) != 0 && !c.p.Keeps(strip.Georeference):
					n.overviewsDropped++
				default:
					t.Errorf("%s: the overviews differ from the original's", what)
				}
				if proveGeoreference(t, what, c.p, origPix.info, d.info) {
					n.georef++
				}
			}
		}
		if s.format == strip.HEIF {
			items, err := heifInfo(ck.pr.heifInfo, c.path)
			if err != nil {
				t.Errorf("%s: heif-info: %v", what, err)
			}
			for _, it := range items {
				switch {
				case it == "Exif" && slices.ContainsFunc(exifGroups, c.p.Keeps):
				case it == "Exif" && slices.Contains(heifOrig, "Exif"):
					t.Errorf("%s: heif-info shows an Exif item though the profile keeps no EXIF group", what)
				default:
					t.Errorf("%s: heif-info shows %s", what, it)
				}
			}
		}
	}
	return n
}

// proveGeoreference compares what gdalinfo says of an original TIFF and of
// its copy: the same georeference when the profile keeps it, none when it
// does not, and no GDAL metadata item outside the allowlist. It reports
// whether the original had a georeference to compare.
func proveGeoreference(t *testing.T, what string, p strip.Profile, orig, cp *gdalInfo) bool {
	for domain, raw := range cp.Metadata {
		var items map[string]string
		if json.Unmarshal(raw, &items) != nil {
			// xml: domains are a list of documents: one item named for the domain.
			items = map[string]string{domain: ""}
		}
		for k := range items {
			ok := false
			switch domain {
			case "":
				ok = gdalHarmless[k] || k == "AREA_OR_POINT" && p.Keeps(strip.Georeference)
			case "IMAGE_STRUCTURE", "DERIVED_SUBDATASETS":
				ok = true
			case "COLOR_PROFILE":
				ok = p.Keeps(strip.ColorProfile)
			case "EXIF": // GDAL's view of the EXIF and GPS directories
				ok = gdalEXIFAllowed(p, k)
			}
			if !ok {
				t.Errorf("%s: gdalinfo shows metadata item %q in domain %q", what, k, domain)
			}
		}
	}
	if len(orig.GeoTransform) == 0 {
		if len(cp.GeoTransform) != 0 || cp.wkt() != "" {
			t.Errorf("%s: gdalinfo shows a georeference the original did not have", what)
		}
		return false
	}
	if p.Keeps(strip.Georeference) {
		if cp.wkt() != orig.wkt() {
			t.Errorf("%s: georeference kept, but gdalinfo's coordinateSystem.wkt differs", what)
		}
		if !bytes.Equal(compactJSON(cp.GeoTransform), compactJSON(orig.GeoTransform)) {
			t.Errorf("%s: georeference kept, but gdalinfo's geoTransform differs", what)
		}
		if !bytes.Equal(compactJSON(cp.CornerCoordinates), compactJSON(orig.CornerCoordinates)) {
			t.Errorf("%s: georeference kept, but gdalinfo's cornerCoordinates differ", what)
		}
	} else if len(cp.GeoTransform) != 0 || cp.wkt() != "" {
		t.Errorf("%s: georeference not kept, but gdalinfo still shows a geoTransform or coordinate system", what)
	}
	return true
}

func compactJSON(b json.RawMessage) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// describe lists tag names, at most 25 of them.
func describe(names []string) string {
	if len(names) > 25 {
		return strings.Join(names[:25], ", ") + fmt.Sprintf(", and %d more", len(names)-25)
	}
	return strings.Join(names, ", ")
}

// exiftoolBaseline logs what `exiftool -all=` leaves in the corpus, judged
// by the default profile's allowlist, and what it loses that the default
// profile keeps (orientation, ICC profile, georeference): the comparison in
// docs/stripping.md. It runs on the samples that decode (strip refuses the
// others). It is a measurement, not a check of this package; it fails only
// when exiftool stripped nothing at all.
func exiftoolBaseline(t *testing.T, pr programs, samples []sample, origTags map[string]exifTags, dir, scratch string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var all []string
	orig := map[string]*sample{}
	for i, s := range samples {
		p := filepath.Join(dir, s.name)
		b, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		all = append(all, p)
		orig[p] = &samples[i]
	}
	list := filepath.Join(scratch, "exiftool-all-args.txt")
	if err := os.WriteFile(list, []byte(strings.Join(all, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _ = run(pr.exiftool, "-q", "-q", "-m", "-all=", "-overwrite_original", "-@", list) // files it refuses stay unchanged
	type stat struct {
		files, unchanged, leaky, tags, lostOrientation, lostICC, lostGeo int
		names                                                            map[string]int
	}
	stats := map[strip.Format]*stat{}
	unchanged := map[string]bool{}
	for _, p := range all {
		s := orig[p]
		st := stats[s.format]
		if st == nil {
			st = &stat{names: map[string]int{}}
			stats[s.format] = st
		}
		st.files++
		a, errA := os.ReadFile(p)
		b, errB := os.ReadFile(s.path)
		if errA != nil || errB != nil {
			t.Fatalf("exiftool -all= baseline: %v %v", errA, errB)
		}
		if bytes.Equal(a, b) {
			// Refused (BigTIFF, a damaged file), or nothing it would remove.
			st.unchanged++
			unchanged[p] = true
		}
	}
	if len(unchanged) == len(all) {
		t.Fatal("exiftool -all= changed no file of the corpus")
	}
	tags := exiftoolAll(t, pr.exiftool, scratch, all)
	for _, p := range all {
		s := orig[p]
		st := stats[s.format]
		bad := notAllowed(s.format, strip.Default, tags[p], nil)
		if len(bad) > 0 {
			st.leaky++
		}
		st.tags += len(bad)
		for _, b := range bad {
			st.names[b]++
		}
		if s.format == strip.TIFF {
			how := "changed"
			if unchanged[p] {
				how = "unchanged"
			}
			t.Logf("exiftool -all= left %d tags outside the default allowlist in %s (%s, file %s): %s", len(bad), s.name, origTags[s.path]["File:FileType"], how, describe(bad))
		}
		o := origTags[s.path]
		if _, ok := o["IFD0:Orientation"]; ok {
			if _, ok := tags[p]["IFD0:Orientation"]; !ok {
				st.lostOrientation++
			}
		}
		if _, ok := o["ICC-header:ProfileClass"]; ok {
			if _, ok := tags[p]["ICC-header:ProfileClass"]; !ok {
				st.lostICC++
			}
		}
		if _, ok := o["GeoTiff:GTModelType"]; ok {
			if _, ok := tags[p]["GeoTiff:GTModelType"]; !ok {
				st.lostGeo++
			}
		}
	}
	for _, f := range []strip.Format{strip.JPEG, strip.PNG, strip.WebP, strip.TIFF, strip.HEIF} {
		st := stats[f]
		if st == nil {
			continue
		}
		var names []string
		for k, v := range st.names {
			names = append(names, fmt.Sprintf("%s (%d)", k, v))
		}
		sort.Strings(names)
		t.Logf("exiftool -all= on %d %s files: %d unchanged (refused, or nothing it removes); %d still hold %d tags outside the default allowlist: %s; lost what the default profile keeps: orientation in %d, ICC profile in %d, georeference in %d",
			st.files, f, st.unchanged, st.leaky, st.tags, strings.Join(names, ", "), st.lostOrientation, st.lostICC, st.lostGeo)
	}
}
