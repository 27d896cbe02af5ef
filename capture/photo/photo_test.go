package photo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/photo/testfiles"
)

// source is a capture.Source over bytes.
type source struct {
	*bytes.Reader
	name, mediaType string
}

func (s source) Size() int64       { return s.Reader.Size() }
func (s source) Name() string      { return s.name }
func (s source) MediaType() string { return s.mediaType }

func extractFile(t *testing.T, path string) *Metadata {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Extract(context.Background(), f, fi.Size())
	if err != nil {
		t.Fatalf("Extract(%s): %v", filepath.Base(path), err)
	}
	if _, err := json.Marshal(m); err != nil {
		t.Fatalf("Extract(%s): output does not encode: %v", filepath.Base(path), err)
	}
	return m
}

func near(t *testing.T, what string, got *float64, want, tol float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s missing, want %v", what, want)
		return
	}
	if math.Abs(*got-want) > tol {
		t.Errorf("%s = %.9f, want %.9f (±%g)", what, *got, want, tol)
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// tag returns the value of the first tag with the IFD path and ID.
func tag(m *Metadata, ifd string, id uint16) (Tag, bool) {
	if m.EXIF == nil {
		return Tag{}, false
	}
	for _, t := range m.EXIF.Tags {
		if t.IFD == ifd && t.ID == id {
			return t, true
		}
	}
	return Tag{}, false
}

func hasPart(m *Metadata, typ string) bool {
	for _, p := range m.Structure {
		if p.Type == typ {
			return true
		}
	}
	return false
}

func iptcValues(m *Metadata, rec, ds uint8) []any {
	var out []any
	for _, d := range m.IPTC {
		if d.Record == rec && d.Dataset == ds {
			out = append(out, d.Value)
		}
	}
	return out
}

const deg = 1e-6 // tolerance for decimal degrees

func TestRealFiles(t *testing.T) {
	tests := []struct {
		name  string
		path  func(t *testing.T) string
		check func(t *testing.T, m *Metadata)
	}{
		{"Canon EOS 5D Mark III JPEG", mod(testfiles.GoExif, "assets/NDM_8901.jpg"), func(t *testing.T, m *Metadata) {
			eq(t, "container", m.Container, "jpeg")
			eq(t, "make", m.Summary.Make, "Canon")
			eq(t, "model", m.Summary.Model, "Canon EOS 5D Mark III")
			eq(t, "lens", m.Summary.Lens, "EF16-35mm f/4L IS USM")
			eq(t, "body serial", m.Camera.BodySerialNumber, "063024020097")
			eq(t, "lens serial", m.Camera.LensSerialNumber, "2400001068")
			eq(t, "summary body serial", m.Summary.BodySerial, true)
			eq(t, "summary lens serial", m.Summary.LensSerial, true)
			eq(t, "capture time", m.Summary.CaptureTime, "2017-12-02T08:18:50.00")
			eq(t, "capture time source", m.Summary.CaptureTimeSource, "DateTimeOriginal")
			eq(t, "owner", m.Summary.Owner, false) // Artist, Copyright, OwnerName are blank
			eq(t, "width", m.Image.Width, uint64(3840))
			eq(t, "xmp", m.Summary.XMP, true)
			if m.GPS != nil {
				t.Errorf("GPS = %+v, want none (the GPS IFD holds only the version)", m.GPS)
			}
			tg, ok := tag(m, "IFD/Exif", 0xA431)
			if !ok || tg.Name != "BodySerialNumber" || tg.Value != "063024020097" || tg.Type != "ASCII" || tg.Count != 13 {
				t.Errorf("BodySerialNumber tag = %+v", tg)
			}
			mn, ok := tag(m, "IFD/Exif", 0x927C)
			if !ok || mn.Blob == nil || mn.Blob.Length != 8152 || len(mn.Blob.SHA256) != 64 || mn.Value != nil {
				t.Errorf("MakerNote = %+v, want a blob of 8152 bytes", mn)
			}
			if tg, _ := tag(m, "IFD/Exif", 0x9000); tg.Value != "0230" {
				t.Errorf("ExifVersion = %v, want 0230", tg.Value)
			}
			if tg, _ := tag(m, "IFD/Exif", 0x829A); tg.Value != "1/640" {
				t.Errorf("ExposureTime = %v, want 1/640", tg.Value)
			}
			if tg, _ := tag(m, "IFD/Exif/Iop", 0x0001); tg.Value != "R98" {
				t.Errorf("InteroperabilityIndex = %v", tg.Value)
			}
			if tg, _ := tag(m, "IFD/GPSInfo", 0x0000); len(tg.Value.([]any)) != 4 {
				t.Errorf("GPSVersionID = %v", tg.Value)
			}
			if len(m.EXIF.Thumbnails) != 1 || m.EXIF.Thumbnails[0].Length != 21491 || m.EXIF.Thumbnails[0].Offset != 12+11444 {
				t.Errorf("thumbnails = %+v", m.EXIF.Thumbnails)
			}
			eq(t, "exif offset", m.EXIF.Offset, int64(12))
			eq(t, "byte order", m.EXIF.ByteOrder, "little-endian")
			if len(m.Problems) != 0 {
				t.Errorf("problems: %+v", m.Problems)
			}
		}},
		{"Samsung JPEG with GPS", mod(testfiles.GoExif, "assets/gps.jpg"), func(t *testing.T, m *Metadata) {
			near(t, "latitude", m.Summary.Latitude, 26.5866666666667, deg)
			near(t, "longitude", m.Summary.Longitude, -80.0536111111111, deg)
			near(t, "altitude", m.GPS.Altitude, 0, 1e-9)
			eq(t, "gps timestamp", m.GPS.Timestamp, "2018-04-29T01:22:57Z")
			eq(t, "make", m.Summary.Make, "samsung")
			eq(t, "model", m.Summary.Model, "SM-N920T")
			eq(t, "capture time", m.Summary.CaptureTime, "2018-04-28T21:23:12")
			if !hasPart(m, "EOI") || hasPart(m, "trailing data") {
				t.Errorf("structure = %+v", m.Structure)
			}
		}},
		{"southern hemisphere GPS", mod(testfiles.GoExif, "assets/gps-2000-scaled.jpg"), func(t *testing.T, m *Metadata) {
			near(t, "latitude", m.Summary.Latitude, -38.4051947833333, deg)
			near(t, "longitude", m.Summary.Longitude, 144.188958, deg)
			eq(t, "datum", m.GPS.MapDatum, "WGS-84")
		}},
		{"GPS written as text", mod(testfiles.GoExifRW, "exif/samples/geodegrees_as_string.jpg"), func(t *testing.T, m *Metadata) {
			near(t, "latitude", m.Summary.Latitude, 52.842781055556, deg)
			near(t, "longitude", m.Summary.Longitude, 11.0+10.0/60+58.2836/3600, deg)
			eq(t, "gps time", m.GPS.Time, "17:08:29")
			eq(t, "make", m.Summary.Make, "HTC") // only in the Exif IFD
		}},
		{"iPhone with lens info and sub-second GPS time", mod(testfiles.GoExifRW, "exif/samples/has-lens-info.jpg"), func(t *testing.T, m *Metadata) {
			near(t, "latitude", m.Summary.Latitude, 59.3325472222222, deg)
			near(t, "longitude", m.Summary.Longitude, 18.0649416666667, deg)
			near(t, "altitude", m.Summary.Altitude, 29, 1e-9)
			eq(t, "gps time", m.GPS.Time, "13:03:42.79")
			eq(t, "lens", m.Summary.Lens, "iPhone 4S back camera 4.28mm f/2.4")
			eq(t, "lens make", m.Camera.LensMake, "Apple")
			eq(t, "capture time", m.Summary.CaptureTime, "2014-09-01T15:03:47.880")
		}},
		{"IPTC, XMP and a serial number", mod(testfiles.IPTC, "assets/photo-4iptc-heads.jpg"), func(t *testing.T, m *Metadata) {
			eq(t, "serial", m.Camera.BodySerialNumber, "XFR1506160115")
			eq(t, "iptc", m.Summary.IPTC, true)
			eq(t, "owner", m.Summary.Owner, true)
			if v := iptcValues(m, 2, 90); len(v) != 1 || v[0] != "Athens" {
				t.Errorf("City = %v", v)
			}
			if v := iptcValues(m, 2, 80); len(v) != 1 || v[0] != "IPTC Photo Metadata WorkingGroup" {
				t.Errorf("By-line = %v", v)
			}
			if v := iptcValues(m, 2, 0); len(v) != 1 || v[0] != uint16(4) {
				t.Errorf("RecordVersion = %v", v)
			}
			eq(t, "xmp source", m.XMP[0].Source, "APP1")
			if !strings.Contains(m.XMP[0].XML, "x:xmpmeta") {
				t.Errorf("XMP = %.80q", m.XMP[0].XML)
			}
			eq(t, "DateTime offset", m.Times[2].Time, "2019-11-23T15:52:48+01:00")
		}},
		{"multi-picture previews after EOI", mod(testfiles.JPEGStructure, "assets/IMG_6691_Multiple_EOIs.jpg"), func(t *testing.T, m *Metadata) {
			eq(t, "model", m.Summary.Model, "Canon PowerShot SX720 HS")
			if !hasPart(m, "trailing data") {
				t.Errorf("no trailing data in %+v", m.Structure)
			}
		}},
		{"PNG with eXIf and text", mod(testfiles.PNGStructure, "assets/exif.png"), func(t *testing.T, m *Metadata) {
			eq(t, "container", m.Container, "png")
			if tg, ok := tag(m, "IFD0", 0x0100); !ok || tg.Value != uint64(11) {
				t.Errorf("ImageWidth tag = %+v", tg)
			}
			found := false
			for _, x := range m.Text {
				if x.Keyword == "Title" && x.Text == "PNG" && x.Source == "tEXt" {
					found = true
				}
			}
			if !found {
				t.Errorf("no Title text in %+v", m.Text)
			}
			eq(t, "width", m.Image.Width, uint64(91))
		}},
		{"HEIC made by heif-enc", local("lens.heic"), func(t *testing.T, m *Metadata) {
			eq(t, "container", m.Container, "heif")
			near(t, "latitude", m.Summary.Latitude, 59.3325472222222, deg)
			near(t, "longitude", m.Summary.Longitude, 18.0649416666667, deg)
			eq(t, "lens", m.Summary.Lens, "iPhone 4S back camera 4.28mm f/2.4")
			eq(t, "xmp source", m.XMP[0].Source, "item")
			if len(m.Problems) != 0 {
				t.Errorf("problems: %+v", m.Problems)
			}
		}},
		{"WebP made by cwebp", local("lens.webp"), func(t *testing.T, m *Metadata) {
			eq(t, "container", m.Container, "webp")
			near(t, "latitude", m.Summary.Latitude, 59.3325472222222, deg)
			eq(t, "model", m.Summary.Model, "iPhone 4S")
			eq(t, "xmp source", m.XMP[0].Source, "XMP chunk")
			eq(t, "width", m.Image.Width, uint64(205))
		}},
		{"PNG with eXIf, XMP and tEXt by exiftool", local("lens.png"), func(t *testing.T, m *Metadata) {
			near(t, "longitude", m.Summary.Longitude, 18.0649416666667, deg)
			eq(t, "xmp source", m.XMP[0].Source, "iTXt")
			found := false
			for _, x := range m.Text {
				found = found || (x.Keyword == "Author" && x.Text == "Field Team 3")
			}
			if !found {
				t.Errorf("no Author text in %+v", m.Text)
			}
		}},
		{"TIFF with EXIF, IPTC, XMP and offset time", local("lens.tif"), func(t *testing.T, m *Metadata) {
			eq(t, "container", m.Container, "tiff")
			eq(t, "capture time", m.Summary.CaptureTime, "2014-09-01T15:03:47.880+02:00")
			eq(t, "body serial", m.Camera.BodySerialNumber, "SN-4S-0042")
			eq(t, "lens serial", m.Camera.LensSerialNumber, "L-77")
			eq(t, "owner name", m.Camera.OwnerName, "Example Owner")
			near(t, "latitude", m.Summary.Latitude, 59.3325472222222, deg)
			if v := iptcValues(m, 2, 25); len(v) != 2 || v[0] != "checkpoint" || v[1] != "bridge" {
				t.Errorf("Keywords = %v", v)
			}
			eq(t, "xmp source", m.XMP[0].Source, "tag 700")
			if tg, ok := tag(m, "IFD0", 0xA480); !ok || tg.Name != "GDALMetadata" {
				t.Errorf("GDAL_METADATA tag = %+v", tg)
			}
		}},
		{"GeoTIFF read as a photo", mod(testfiles.GoExif, "assets/geotiff_example.tif"), func(t *testing.T, m *Metadata) {
			eq(t, "container", m.Container, "tiff")
			if tg, ok := tag(m, "IFD0", 0x87AF); !ok || tg.Name != "GeoKeyDirectoryTag" || tg.Count != 24 {
				t.Errorf("GeoKeyDirectory tag = %+v", tg)
			}
			if tg, _ := tag(m, "IFD0", 0x0111); tg.Blob == nil || tg.Blob.Length != 1387*4 {
				t.Errorf("StripOffsets = %+v, want a blob of 1387 LONGs", tg)
			}
			eq(t, "width", m.Image.Width, uint64(1491))
		}},
		{"BigTIFF", local("../../geo/testdata/big-utm37s.tif"), func(t *testing.T, m *Metadata) {
			eq(t, "container", m.Container, "bigtiff")
			eq(t, "bigTIFF", m.EXIF.BigTIFF, true)
			if tg, ok := tag(m, "IFD0", 0x0100); !ok || tg.Value != uint64(32) {
				t.Errorf("ImageWidth = %+v", tg)
			}
			if tg, ok := tag(m, "IFD0", 0x87AF); !ok || tg.Type != "SHORT" {
				t.Errorf("GeoKeyDirectory = %+v", tg)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, extractFile(t, tc.path(t)))
		})
	}
}

func mod(module, name string) func(t *testing.T) string {
	return func(t *testing.T) string { return testfiles.Path(t, module, name) }
}

func local(name string) func(t *testing.T) string {
	return func(*testing.T) string { return filepath.Join("testdata", name) }
}

func TestReader(t *testing.T) {
	r := New()
	eq(t, "ID", r.ID(), "photo/1")
	eq(t, "MediaTypes", fmt.Sprint(r.MediaTypes()), "[image/jpeg image/png image/tiff image/heic image/heif image/avif image/webp]")
	data, err := os.ReadFile("testdata/lens.webp")
	if err != nil {
		t.Fatal(err)
	}
	// The name lies; the bytes decide.
	res, err := r.Read(context.Background(), source{bytes.NewReader(data), "IMG_0001.JPG", "image/webp"})
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Metadata.(*Metadata); m.Container != "webp" {
		t.Errorf("container = %q", m.Container)
	}
	for _, bad := range []string{"", "plain text, not a photo", "\xff\xd8"} {
		_, err := r.Read(context.Background(), source{bytes.NewReader([]byte(bad)), "a.jpg", "image/jpeg"})
		if err == nil || errors.Is(err, capture.ErrUnsupported) {
			t.Errorf("Read(%q) error = %v, want a failure", bad, err)
		}
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data, err := os.ReadFile("testdata/lens.png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Extract(ctx, bytes.NewReader(data), int64(len(data))); !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}

func TestExifTime(t *testing.T) {
	tests := []struct{ raw, sub, off, want string }{
		{"2017:12:02 08:18:50", "", "", "2017-12-02T08:18:50"},
		{"2017:12:02 08:18:50", "00", "", "2017-12-02T08:18:50.00"},
		{"2017:12:02 08:18:50", "123", "+02:00", "2017-12-02T08:18:50.123+02:00"},
		{"2017:12:02 08:18:50", "", "-05:30", "2017-12-02T08:18:50-05:30"},
		{"2017-12-02T08:18:50", "", "", "2017-12-02T08:18:50"},
		{"2017:12:02 08:18:50.5+01:00", "", "", "2017-12-02T08:18:50.5+01:00"},
		{"2017:12:02 08:18:50", "", "+2:00", "2017-12-02T08:18:50"}, // malformed offset: dropped
		{"0000:00:00 00:00:00", "", "", ""},
		{"    :  :     :  :  ", "", "", ""},
		{"2017:02:30 08:18:50", "", "", ""},
		{"2017:12:02 24:00:00", "", "", ""},
		{"garbage", "", "", ""},
	}
	for _, tc := range tests {
		if got, _ := exifTime(tc.raw, tc.sub, tc.off); got != tc.want {
			t.Errorf("exifTime(%q, %q, %q) = %q, want %q", tc.raw, tc.sub, tc.off, got, tc.want)
		}
	}
}

func TestParseDegreesText(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"52,00000,50,00000,34,01180", 52.842781055556, true},
		{"52,00000;50,00000;34,01180", 52.842781055556, true},
		{"52.0,50.0,34.01180", 52.842781055556, true},
		{"52 50 34.0118", 52.842781055556, true},
		{"52°50'34.0118\"", 52.842781055556, true},
		{"-38.4051948", -38.4051948, true},
		{"", 0, false},
		{"north", 0, false},
		{"1,2,3,4", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseDegreesText(tc.in)
		if ok != tc.ok || (ok && math.Abs(got-tc.want) > 1e-9) {
			t.Errorf("parseDegreesText(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
