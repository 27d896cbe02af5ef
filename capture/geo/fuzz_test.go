package geo

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/openexhibit/exhibit/custody"
)

// FuzzGeoKeys decodes GeoKey directories built from the input: the first
// half as SHORTs, the rest as doubles and text.
func FuzzGeoKeys(f *testing.F) {
	le := binary.LittleEndian
	dir := []uint16{1, 1, 0, 3, 1024, 0, 1, 1, 1026, 34737, 6, 0, 3092, 34736, 1, 0}
	var seed []byte
	for _, v := range dir {
		seed = le.AppendUint16(seed, v)
	}
	f.Add(seed, le.AppendUint64(nil, 0x3FEFFD60E94EE393), "WGS 84|")
	f.Fuzz(func(t *testing.T, shorts, dbl []byte, ascii string) {
		var d []uint64
		for i := 0; i+2 <= len(shorts); i += 2 {
			d = append(d, uint64(le.Uint16(shorts[i:])))
		}
		var fl []float64
		for i := 0; i+8 <= len(dbl); i += 8 {
			fl = append(fl, math.Float64frombits(le.Uint64(dbl[i:])))
		}
		keys, _ := DecodeKeys(d, fl, ascii)
		if len(keys) > maxKeys {
			t.Fatalf("%d keys", len(keys))
		}
		if _, err := json.Marshal(keys); err != nil {
			t.Fatalf("keys do not encode: %v", err)
		}
	})
}

// FuzzGeoTIFF runs whole files: GeoTIFF, COG and BigTIFF seeds.
func FuzzGeoTIFF(f *testing.F) {
	addTestdata(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Extract(context.Background(), bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("output does not encode: %v", err)
		}
	})
}

// FuzzScene makes a scene's clip and preview of whole files: the seeds'
// COG has both, with an area of interest in its middle.
func FuzzScene(f *testing.F) {
	addTestdata(f)
	u, _ := utmFromEPSG(32633)
	west, north := u.toDegrees(500200, 5599800)
	east, south := u.toDegrees(500300, 5599700)
	scene := NewScene(&AOI{West: west, South: south, East: east, North: north})
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytesSource{bytes.NewReader(data)}
		res, err := scene.Read(context.Background(), src)
		if err != nil {
			return
		}
		for _, d := range res.Derivatives {
			var b bytes.Buffer
			if err := d.Write(context.Background(), &b); err != nil || d.Name != "clip.tif" {
				continue
			}
			spans, err := custody.ParseSpans(d.Transform.Params[custody.ParamOriginalSpans])
			if err != nil {
				t.Fatalf("the clip's spans do not parse: %v", err)
			}
			for _, sp := range spans {
				if !bytes.Equal(b.Bytes()[sp.DerivativeOffset:sp.DerivativeOffset+sp.Length], data[sp.OriginalOffset:sp.OriginalOffset+sp.Length]) {
					t.Fatalf("span %+v differs", sp)
				}
			}
		}
	})
}

type bytesSource struct{ *bytes.Reader }

func (s bytesSource) Name() string      { return "scene.tif" }
func (s bytesSource) MediaType() string { return "image/tiff" }

// addTestdata adds every test file as a seed.
func addTestdata(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.tif")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}
