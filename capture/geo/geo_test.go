package geo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/photo/testfiles"
)

func extract(t *testing.T, path string) (*Metadata, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	m, err := Extract(context.Background(), f, fi.Size())
	if m != nil {
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("output does not encode: %v", err)
		}
	}
	return m, err
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.10f, want %.10f (±%g)", what, got, want, tol)
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// corner checks a corner in degrees against the value gdaltransform gave
// (GDAL 3.6.2 with PROJ, recorded in testdata/README.md): 1e-7 degrees is
// about a centimetre.
func corner(t *testing.T, m *Metadata, i int, lon, lat float64) {
	t.Helper()
	if m.Degrees == nil {
		t.Fatalf("no extent in degrees")
	}
	near(t, fmt.Sprintf("corner %d longitude", i), m.Degrees.Corners[i][0], lon, 1e-7)
	near(t, fmt.Sprintf("corner %d latitude", i), m.Degrees.Corners[i][1], lat, 1e-7)
}

func TestFiles(t *testing.T) {
	tests := []struct {
		name  string
		path  func(t *testing.T) string
		check func(t *testing.T, m *Metadata)
	}{
		{"NAD83 UTM 18N (go-exif's example)", func(t *testing.T) string {
			return testfiles.Path(t, testfiles.GoExif, "assets/geotiff_example.tif")
		}, func(t *testing.T, m *Metadata) {
			eq(t, "epsg", m.CRS.EPSG, 26918)
			eq(t, "name", m.CRS.Name, "NAD83 / UTM zone 18N")
			eq(t, "geographic", m.CRS.GeographicEPSG, 4269)
			eq(t, "model type", m.ModelType, "projected")
			eq(t, "raster type", m.RasterType, "PixelIsArea")
			eq(t, "width", m.Image.Width, uint64(1491))
			eq(t, "height", m.Image.Height, uint64(1387))
			if !strings.Contains(m.CRS.Citation, "NAD83 / UTM zone 18N") {
				t.Errorf("citation = %q", m.CRS.Citation)
			}
			near(t, "minX", m.BBox.MinX, 223586.236519645637600, 1e-6)
			near(t, "maxY", m.BBox.MaxY, 4217906.977453323081136, 1e-6)
			near(t, "maxX", m.BBox.MaxX, 259261.499, 1e-3)
			near(t, "minY", m.BBox.MinY, 4184720.130, 1e-3)
			corner(t, m, 0, -78.1507894439876, 38.0667234978475)
			corner(t, m, 2, -77.7335036531191, 37.7781488072216)
			eq(t, "method", m.Degrees.Method, "utm-inverse")
			near(t, "west", m.Degrees.West, -78.1507894439876, 1e-7)
		}},
		{"EPSG:4326 GeoTIFF with GDAL tags", local("geo4326.tif"), func(t *testing.T, m *Metadata) {
			eq(t, "epsg", m.CRS.EPSG, 4326)
			eq(t, "model type", m.ModelType, "geographic")
			eq(t, "bbox", *m.BBox, BBox{MinX: 30.5, MinY: 50.4, MaxX: 30.6, MaxY: 50.5})
			eq(t, "degrees", [4]float64{m.Degrees.West, m.Degrees.South, m.Degrees.East, m.Degrees.North}, [4]float64{30.5, 50.4, 30.6, 50.5})
			eq(t, "method", m.Degrees.Method, "geographic")
			eq(t, "date", m.DateTime, "2024:03:01 10:00:00")
			eq(t, "description", m.ImageDescription, "Test scene")
			eq(t, "software", m.Software, "exhibit-fixture")
			eq(t, "nodata", m.GDALNoData, "0")
			if !strings.Contains(m.GDALMetadata, `<Item name="SENSOR">test-sensor</Item>`) {
				t.Errorf("GDAL metadata = %q", m.GDALMetadata)
			}
		}},
		{"COG in UTM 33N", local("cog-utm33n.tif"), func(t *testing.T, m *Metadata) {
			eq(t, "epsg", m.CRS.EPSG, 32633)
			eq(t, "overviews", m.TIFF.Overviews, 2)
			eq(t, "tiled", m.Image.TileWidth, uint64(16))
			eq(t, "layout", m.Structural["LAYOUT"], "IFDS_BEFORE_DATA")
			eq(t, "bbox", *m.BBox, BBox{MinX: 500000, MinY: 5599360, MaxX: 500640, MaxY: 5600000})
			corner(t, m, 0, 15, 50.5519323827038)
			corner(t, m, 2, 15.0090329276803, 50.5461763847662)
		}},
		{"BigTIFF, UTM 37S, PixelIsPoint", local("big-utm37s.tif"), func(t *testing.T, m *Metadata) {
			eq(t, "bigTIFF", m.TIFF.BigTIFF, true)
			eq(t, "version", m.TIFF.Version, 43)
			eq(t, "first IFD", m.TIFF.FirstIFD, uint64(16))
			eq(t, "epsg", m.CRS.EPSG, 32737)
			eq(t, "raster type", m.RasterType, "PixelIsPoint")
			eq(t, "tiepoint X", m.Tiepoints[0][3], 300005.0) // the centre of the first pixel
			eq(t, "bbox", *m.BBox, BBox{MinX: 300000, MinY: 8999680, MaxX: 300320, MaxY: 9000000})
			corner(t, m, 0, 37.1804774912327, -9.04204706640632)
			corner(t, m, 2, 37.183373211866, -9.04495445622)
		}},
		{"NAD27 UTM 18N (Clarke 1866)", local("nad27-utm18n.tif"), func(t *testing.T, m *Metadata) {
			eq(t, "epsg", m.CRS.EPSG, 26718)
			eq(t, "geographic", m.Degrees.GeographicEPSG, 4267)
			corner(t, m, 0, -73.8172983408746, 40.6467026639335)
			corner(t, m, 2, -73.8154318851104, 40.6452421462012)
		}},
		{"rotated (ModelTransformation)", local("rotated4326.tif"), func(t *testing.T, m *Metadata) {
			if len(m.Transformation) != 16 {
				t.Fatalf("transformation = %v", m.Transformation)
			}
			near(t, "minY", m.BBox.MinY, 19.984, 1e-12)
			near(t, "maxY", m.BBox.MaxY, 20.008, 1e-12)
			near(t, "maxX", m.BBox.MaxX, 10.024, 1e-12)
			eq(t, "corner UR", m.Degrees.Corners[1], [2]float64{10.016, 20.008})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := extract(t, tc.path(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Problems) != 0 {
				t.Errorf("problems: %+v", m.Problems)
			}
			tc.check(t, m)
		})
	}
}

func local(name string) func(t *testing.T) string {
	return func(*testing.T) string { return filepath.Join("testdata", name) }
}

func TestReader(t *testing.T) {
	r := New()
	eq(t, "ID", r.ID(), "geo/1")
	eq(t, "media types", fmt.Sprint(r.MediaTypes()), "[image/tiff]")
	if _, err := extract(t, "testdata/plain.tif"); !errors.Is(err, capture.ErrUnsupported) {
		t.Errorf("plain TIFF: error = %v, want ErrUnsupported", err)
	}
	for _, bad := range []string{"", "II*\x00", "not a tiff at all", "II*\x00\x00\x00\x00\x00"} {
		_, err := Extract(context.Background(), strings.NewReader(bad), int64(len(bad)))
		if err == nil || errors.Is(err, capture.ErrUnsupported) {
			t.Errorf("Extract(%q) error = %v, want a failure", bad, err)
		}
	}
	data, err := os.ReadFile("testdata/geo4326.tif")
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Read(context.Background(), src{bytes.NewReader(data)})
	if err != nil || res.Metadata.(*Metadata).CRS.EPSG != 4326 {
		t.Fatalf("Read: %v", err)
	}
}

type src struct{ *bytes.Reader }

func (s src) Size() int64       { return s.Reader.Size() }
func (s src) Name() string      { return "scene.tif" }
func (s src) MediaType() string { return "image/tiff" }

func TestDecodeKeys(t *testing.T) {
	dir := []uint64{1, 1, 0, 4,
		1024, 0, 1, 1,
		1026, 34737, 6, 0,
		3072, 0, 1, 32633,
		3092, 34736, 1, 1}
	keys, err := DecodeKeys(dir, []float64{0, 0.9996}, "WGS 84|")
	if err != nil || len(keys) != 4 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	eq(t, "citation", keys[1].Value, any("WGS 84"))
	eq(t, "scale", keys[3].Value, any(0.9996))
	bad := map[string][]uint64{
		"short header":      {1, 1, 0},
		"version 2":         {2, 1, 0, 0},
		"count beyond data": {1, 1, 0, 9, 1024, 0, 1, 1},
		"double outside":    {1, 1, 0, 1, 3092, 34736, 1, 5},
		"ascii outside":     {1, 1, 0, 1, 1026, 34737, 100, 0},
		"ascii count wraps": {1, 1, 0, 1, 1026, 34737, math.MaxUint64, 2},
		"self outside":      {1, 1, 0, 1, 1024, 34735, 4, 7},
		"unknown location":  {1, 1, 0, 1, 1024, 999, 1, 1},
	}
	for name, d := range bad {
		if _, err := DecodeKeys(d, []float64{1}, "ab"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestHostile truncates and mutates every fixture: no panic, bounded
// allocation, output that encodes, and no value in any message.
func TestHostile(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.tif")
	sensitive := []string{"test-sensor", "Test scene", "exhibit-fixture", "2024:03", "WGS 84", "NAD27"}
	rng := rand.New(rand.NewSource(3))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var inputs [][]byte
		for cut := 0; cut < len(data); cut += max(1, len(data)/300) {
			inputs = append(inputs, data[:cut])
		}
		for i := 0; i < 300; i++ {
			m := append([]byte(nil), data...)
			for k := 0; k < 1+rng.Intn(6); k++ {
				m[rng.Intn(len(m))] = byte(rng.Intn(256))
			}
			inputs = append(inputs, m)
		}
		for i, in := range inputs {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			m, err := func() (m *Metadata, err error) {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s input %d: panic %v", p, i, r)
					}
				}()
				return Extract(context.Background(), bytes.NewReader(in), int64(len(in)))
			}()
			runtime.ReadMemStats(&after)
			if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
				t.Errorf("%s input %d: allocated %d bytes", p, i, d)
			}
			var msgs []string
			if err != nil {
				msgs = append(msgs, err.Error())
			}
			if m != nil {
				if _, err := json.Marshal(m); err != nil {
					t.Fatalf("%s input %d: output does not encode: %v", p, i, err)
				}
				for _, pr := range m.Problems {
					msgs = append(msgs, pr.Problem)
				}
			}
			for _, s := range msgs {
				for _, v := range sensitive {
					if strings.Contains(s, v) {
						t.Fatalf("%s input %d: message %q holds a value", p, i, s)
					}
				}
			}
		}
	}
}

func TestUTMZones(t *testing.T) {
	for _, tc := range []struct {
		code  int
		zone  int
		south bool
		geog  int
	}{
		{32601, 1, false, 4326}, {32760, 60, true, 4326}, {26918, 18, false, 4269},
		{26718, 18, false, 4267}, {25832, 32, false, 4258}, {28355, 55, true, 4283}, {32236, 36, false, 4322},
	} {
		u, ok := utmFromEPSG(tc.code)
		if !ok || u.zone != tc.zone || u.south != tc.south || u.geogCRS != tc.geog {
			t.Errorf("utmFromEPSG(%d) = %+v, %v", tc.code, u, ok)
		}
	}
	for _, code := range []int{4326, 32600, 32661, 3857, 26924} {
		if _, ok := utmFromEPSG(code); ok {
			t.Errorf("utmFromEPSG(%d) recognized", code)
		}
	}
	// The central meridian on the equator maps to itself.
	u, _ := utmFromEPSG(32631)
	lon, lat := u.toDegrees(500000, 0)
	near(t, "lon", lon, 3, 1e-12)
	near(t, "lat", lat, 0, 1e-12)

	// Forward, against gdaltransform (GDAL 3.6.2 with PROJ), to a
	// millimetre, and back.
	for _, tc := range []struct {
		code     int
		lon, lat float64
		e, n     float64
	}{
		{32636, 33.123456, 15.654321, 513231.23062985, 1730702.74865559},
		{32719, -70.5, -33.4, 360505.619896876, 6303362.28812365},
	} {
		u, _ := utmFromEPSG(tc.code)
		e, n := u.fromDegrees(tc.lon, tc.lat)
		near(t, "easting", e, tc.e, 1e-3)
		near(t, "northing", n, tc.n, 1e-3)
		lon, lat := u.toDegrees(e, n)
		near(t, "lon", lon, tc.lon, 1e-9)
		near(t, "lat", lat, tc.lat, 1e-9)
	}
}
