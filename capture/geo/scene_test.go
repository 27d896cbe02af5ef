package geo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// fileSource is a file as a Reader sees it.
type fileSource struct {
	*os.File
	size int64
}

func (s fileSource) Size() int64       { return s.size }
func (s fileSource) Name() string      { return filepath.Base(s.File.Name()) }
func (s fileSource) MediaType() string { return "image/tiff" }

func openSource(t *testing.T, path string) fileSource {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, _ := f.Stat()
	return fileSource{f, fi.Size()}
}

// patterned writes a PNG whose every pixel differs from its neighbours,
// so that a shifted or misplaced tile cannot go unnoticed.
func patterned(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*7 + y*3), uint8(x ^ y), uint8((x * y) >> 3), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func gdal(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(testenv.Program(t, "gdal-bin", name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// gdalInfo is what gdalinfo -json -checksum says of a file.
type gdalInfo struct {
	Size         []int     `json:"size"`
	GeoTransform []float64 `json:"geoTransform"`
	Bands        []struct {
		Checksum int `json:"checksum"`
	} `json:"bands"`
}

func info(t *testing.T, path string, args ...string) gdalInfo {
	t.Helper()
	var gi gdalInfo
	out := gdal(t, "gdalinfo", append([]string{"-json", "-checksum", path}, args...)...)
	if err := json.Unmarshal(out, &gi); err != nil {
		t.Fatalf("gdalinfo: %v\n%s", err, out)
	}
	return gi
}

func writeDerivative(t *testing.T, d capture.Derivative, path string) {
	t.Helper()
	var b bytes.Buffer
	if err := d.Write(context.Background(), &b); err != nil {
		t.Fatalf("%s: %v", d.Name, err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSceneClip: the clip of a COG made by GDAL is, as GDAL reads it, the
// same pixels and georeference as GDAL's own cut of that window
// (gdal_translate -srcwin), for pixel- and band-interleaved tiles, Deflate
// with a predictor and LZW; its tiles are the original's bytes at the
// places its recipe names; and the preview is GDAL's decoding of the level
// it names.
func TestSceneClip(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "pattern.png")
	patterned(t, src, 2400, 1400)
	u, _ := utmFromEPSG(32636)
	const x0, y0 = 500000.0, 1730000.0 // upper left; 10 m pixels
	// The area of interest: pixels 700..900 x 300..420, in degrees (a box
	// in degrees is a little wider in UTM: the rows 298..422 with the
	// pixel of margin).
	west, north := u.toDegrees(x0+700*10, y0-300*10)
	east, south := u.toDegrees(x0+900*10, y0-420*10)
	aoi := AOI{West: west, South: south, East: east, North: north}

	for _, tc := range []struct {
		name   string
		create []string
		level  string // the preview's source
		window string
	}{
		{"cog-deflate", []string{"-of", "COG", "-co", "BLOCKSIZE=256", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=2"}, "IFD2", "512,256,512,256"},
		// Without overviews the preview is the full resolution reduced.
		{"band-lzw", []string{"-of", "GTiff", "-co", "TILED=YES", "-co", "BLOCKXSIZE=128", "-co", "BLOCKYSIZE=64", "-co", "INTERLEAVE=BAND", "-co", "COMPRESS=LZW"}, "IFD0", "640,256,384,192"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := filepath.Join(dir, tc.name+".tif")
			args := append(append([]string{"-q"}, tc.create...), "-a_srs", "EPSG:32636",
				"-a_ullr", fmt.Sprint(x0), fmt.Sprint(y0), fmt.Sprint(x0+24000), fmt.Sprint(y0-14000), src, orig)
			gdal(t, "gdal_translate", args...)
			s := openSource(t, orig)
			res, err := NewScene(&aoi).Read(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			meta := res.Metadata.(*SceneMetadata)
			byName := map[string]capture.Derivative{}
			for _, d := range res.Derivatives {
				byName[d.Name] = d
			}
			clip, ok := byName["clip.tif"]
			if !ok {
				t.Fatalf("no clip: %+v", meta.Clip)
			}
			p := clip.Transform.Params
			if p["window"] != tc.window || p["crs"] != "EPSG:32636" || p["source-image"] != "IFD0" || p["aoi-window"] != "699,298,203,124" {
				t.Fatalf("recipe %v", p)
			}
			out := filepath.Join(dir, tc.name+"-clip.tif")
			writeDerivative(t, clip, out)
			var c, r, w, h int
			fmt.Sscanf(p["window"], "%d,%d,%d,%d", &c, &r, &w, &h)
			ref := filepath.Join(dir, tc.name+"-ref.tif")
			gdal(t, "gdal_translate", "-q", "-srcwin", fmt.Sprint(c), fmt.Sprint(r), fmt.Sprint(w), fmt.Sprint(h), orig, ref)
			got, want := info(t, out), info(t, ref)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("GDAL reads the clip as %+v, its own cut as %+v", got, want)
			}

			// Every span names the same bytes in the clip and the original.
			spans, err := custody.ParseSpans(p[custody.ParamOriginalSpans])
			if err != nil {
				t.Fatal(err)
			}
			cb, _ := os.ReadFile(out)
			ob, _ := os.ReadFile(orig)
			for _, sp := range spans {
				if !bytes.Equal(cb[sp.DerivativeOffset:sp.DerivativeOffset+sp.Length], ob[sp.OriginalOffset:sp.OriginalOffset+sp.Length]) {
					t.Fatalf("span %+v differs", sp)
				}
			}
			last := spans[len(spans)-1]
			if int64(len(cb)) != last.DerivativeOffset+last.Length {
				t.Errorf("clip of %d bytes, spans end at %d", len(cb), last.DerivativeOffset+last.Length)
			}

			prev, ok := byName["preview.png"]
			if !ok || prev.Transform.Params["source-image"] != tc.level {
				t.Fatalf("preview: %+v %v", meta.Preview, prev.Transform.Params)
			}
			pout := filepath.Join(dir, tc.name+"-preview.png")
			writeDerivative(t, prev, pout)
			pref := filepath.Join(dir, tc.name+"-preview-ref.png")
			if tc.level == "IFD0" {
				gdal(t, "gdal_translate", "-q", "-of", "PNG", orig, pref)
				if r := prev.Transform.Params["reduction"]; r != "mean of each 3x3 pixels" {
					t.Fatalf("reduction %q", r)
				}
				samePixels(t, decodePNG(t, pout), reduce3(decodePNG(t, pref)))
				return
			}
			gdal(t, "gdal_translate", "-q", "-of", "PNG", "-oo", "OVERVIEW_LEVEL=1", orig, pref)
			samePixels(t, decodePNG(t, pout), decodePNG(t, pref))
		})
	}
}

func decodePNG(t *testing.T, p string) image.Image {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return img
}

// reduce3 is the mean of each 3x3 square of img (fewer at the edges),
// rounded to nearest.
func reduce3(img image.Image) image.Image {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, (b.Dx()+2)/3, (b.Dy()+2)/3))
	for y := range out.Bounds().Dy() {
		for x := range out.Bounds().Dx() {
			var s [3]uint32
			n := uint32(0)
			for yy := y * 3; yy < min(y*3+3, b.Dy()); yy++ {
				for xx := x * 3; xx < min(x*3+3, b.Dx()); xx++ {
					r, g, bl, _ := img.At(xx, yy).RGBA()
					s[0], s[1], s[2] = s[0]+r>>8, s[1]+g>>8, s[2]+bl>>8
					n++
				}
			}
			out.Set(x, y, color.RGBA{uint8((s[0] + n/2) / n), uint8((s[1] + n/2) / n), uint8((s[2] + n/2) / n), 255})
		}
	}
	return out
}

func samePixels(t *testing.T, ia, ib image.Image) {
	t.Helper()
	if ia.Bounds() != ib.Bounds() {
		t.Fatalf("preview is %v, want %v", ia.Bounds(), ib.Bounds())
	}
	for y := range ia.Bounds().Dy() {
		for x := range ia.Bounds().Dx() {
			r1, g1, b1, _ := ia.At(x, y).RGBA()
			r2, g2, b2, _ := ib.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				t.Fatalf("pixel %d,%d: %v, GDAL %v", x, y, ia.At(x, y), ib.At(x, y))
			}
		}
	}
}

// TestSceneNotMade: each reason a clip or preview is not made is said,
// and nothing is made of what a clip cannot be.
func TestSceneNotMade(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "pattern.png")
	patterned(t, src, 300, 200)
	cog := filepath.Join(dir, "cog.tif")
	gdal(t, "gdal_translate", "-q", "-of", "COG", "-co", "BLOCKSIZE=128", "-a_srs", "EPSG:4326", "-a_ullr", "30", "10", "30.3", "9.8", src, cog)
	strips := filepath.Join(dir, "strips.tif")
	gdal(t, "gdal_translate", "-q", "-a_srs", "EPSG:4326", "-a_ullr", "30", "10", "30.3", "9.8", src, strips)
	for _, tc := range []struct {
		file    string
		aoi     AOI
		clip    string
		preview string
	}{
		{cog, AOI{40, 10, 41, 11}, "does not overlap", ""},
		{cog, AOI{30.2, 9.9, -170, 10}, "crosses the antimeridian", ""},
		{cog, AOI{29, 9, 31, 11}, "covers the whole image", ""},
		{cog, AOI{30.01, 9.9, 30.02, 9.95}, "", ""},
		{strips, AOI{30.01, 9.9, 30.02, 9.95}, "not a tiled image", "not a tiled image"},
	} {
		res, err := NewScene(&tc.aoi).Read(context.Background(), openSource(t, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		m := res.Metadata.(*SceneMetadata)
		if !contains(m.Clip.NotMade, tc.clip) || (tc.clip == "") != (m.Clip.Derivative != "") {
			t.Errorf("%s %v: clip %+v, want %q", filepath.Base(tc.file), tc.aoi, m.Clip, tc.clip)
		}
		if !contains(m.Preview.NotMade, tc.preview) || (tc.preview == "") != (m.Preview.Derivative != "") {
			t.Errorf("%s: preview %+v, want %q", filepath.Base(tc.file), m.Preview, tc.preview)
		}
	}
	// A TIFF without georeference is not the scene reader's.
	plain := openSource(t, filepath.Join("testdata", "plain.tif"))
	if _, err := NewScene(&AOI{}).Read(context.Background(), plain); err != capture.ErrUnsupported {
		t.Errorf("plain TIFF: %v", err)
	}
}

func contains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }
