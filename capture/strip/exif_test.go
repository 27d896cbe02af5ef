package strip

import (
	"github.com/openexhibit/exhibit/internal/testenv"

	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// app1EXIF returns the EXIF block of a JPEG's first APP1 "Exif\0\0"
// segment.
func app1EXIF(t testing.TB, jpg []byte) []byte {
	t.Helper()
	for i := 2; i+4 <= len(jpg) && jpg[i] == 0xFF; {
		m := jpg[i+1]
		n := int(binary.BigEndian.Uint16(jpg[i+2:]))
		if m == 0xE1 && i+4+n-2 <= len(jpg) && bytes.HasPrefix(jpg[i+4:], []byte("Exif\x00\x00")) {
			return jpg[i+10 : i+2+n]
		}
		if m == 0xDA {
			break
		}
		i += 2 + n
	}
	t.Fatal("no APP1 Exif segment")
	return nil
}

// exifSources are real EXIF blocks: a Canon 5D Mark III with body and lens
// serials, owner and artist fields, a maker note, an interoperability
// directory and a thumbnail; a Samsung phone with GPS; an iPhone with lens
// data and GPS; a big-endian block from goexif's samples.
func exifSources(t *testing.T) map[string][]byte {
	t.Helper()
	return map[string][]byte{
		"canon":  testfiles.Read(t, testfiles.GoExif, "assets/NDM_8901.jpg.exif"),
		"gps":    app1EXIF(t, testfiles.Read(t, testfiles.GoExif, "assets/gps.jpg")),
		"iphone": app1EXIF(t, testfiles.Read(t, testfiles.GoExifRW, "exif/samples/has-lens-info.jpg")),
		"raw":    bytes.TrimPrefix(testfiles.Read(t, testfiles.GoExifRW, "exif/samples/raw.exif"), []byte("Exif\x00\x00")),
	}
}

var exifProfiles = map[string]Profile{
	"none":         {Name: "none"},
	"default":      Default,
	"orientation":  {Name: "o", Keep: []Group{Orientation}},
	"camera":       {Name: "c", Keep: []Group{Camera}},
	"capture-time": {Name: "t", Keep: []Group{CaptureTime}},
	"gps":          {Name: "g", Keep: []Group{GPS}},
	"all":          {Name: "all", Keep: slices.Clone(Groups)},
}

// exifTagsOf lists the tags of a block as "IFD0:010F", "Exif:9003",
// "GPS:0002", and returns the value bytes by that key. It fails the test
// on anything but IFD0 with at most an EXIF and a GPS directory.
func exifTagsOf(t *testing.T, b []byte) ([]string, map[string][]byte) {
	t.Helper()
	f, err := tiff.Open(bytes.NewReader(b), int64(len(b)), tiff.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.Walk(tiff.ExifPointers)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	vals := map[string][]byte{}
	for _, d := range w.Dirs {
		kind := map[string]string{"IFD0": "IFD0", "IFD/Exif": "Exif", "IFD/GPSInfo": "GPS"}[d.Path]
		for _, e := range d.Entries {
			k := fmt.Sprintf("%s:%04X", kind, e.Tag)
			v, err := f.Value(e)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			keys = append(keys, k)
			vals[k] = v
		}
	}
	return keys, vals
}

func TestKeptEXIF(t *testing.T) {
	src := exifSources(t)
	// want lists the kept tags of each source by profile ("" when nothing
	// is kept), pointers included, checked against what exiftool reports
	// for the sources.
	want := map[string]map[string]string{
		"canon": {
			"none": "", "gps": "IFD0:8825 GPS:0000",
			"default":      "IFD0:0112",
			"orientation":  "IFD0:0112",
			"camera":       "IFD0:010F IFD0:0110 IFD0:8769 Exif:9000 Exif:A000 Exif:A001 Exif:A434",
			"capture-time": "IFD0:8769 Exif:9000 Exif:9003 Exif:9004 Exif:9291 Exif:9292 Exif:A000 Exif:A001",
			"all":          "IFD0:010F IFD0:0110 IFD0:0112 IFD0:8769 IFD0:8825 Exif:9000 Exif:9003 Exif:9004 Exif:9291 Exif:9292 Exif:A000 Exif:A001 Exif:A434 GPS:0000",
		},
		"gps": {
			"none": "", "default": "IFD0:0112", "orientation": "IFD0:0112",
			"camera":       "IFD0:010F IFD0:0110",
			"capture-time": "IFD0:8769 Exif:9000 Exif:9003 Exif:9004 Exif:A000 Exif:A001",
			"gps":          "IFD0:8825 GPS:0000 GPS:0001 GPS:0002 GPS:0003 GPS:0004 GPS:0005 GPS:0006 GPS:0007 GPS:001D",
			"all":          "IFD0:010F IFD0:0110 IFD0:0112 IFD0:8769 IFD0:8825 Exif:9000 Exif:9003 Exif:9004 Exif:A000 Exif:A001 GPS:0000 GPS:0001 GPS:0002 GPS:0003 GPS:0004 GPS:0005 GPS:0006 GPS:0007 GPS:001D",
		},
	}
	for name, b := range src {
		for pname, p := range exifProfiles {
			t.Run(name+"/"+pname, func(t *testing.T) {
				out, err := keptEXIF(b, p)
				if err != nil {
					t.Fatal(err)
				}
				inKeys, inVals := exifTagsOf(t, b)
				var keys []string
				if out != nil {
					if !bytes.Equal(out[:2], b[:2]) {
						t.Errorf("byte order %q, source %q", out[:2], b[:2])
					}
					var vals map[string][]byte
					keys, vals = exifTagsOf(t, out)
					for _, k := range keys {
						if strings.HasSuffix(k, ":8769") || strings.HasSuffix(k, ":8825") {
							continue
						}
						if !slices.Contains(inKeys, k) && !(strings.HasPrefix(k, "IFD0:") && slices.Contains(inKeys, "Exif:"+k[5:])) &&
							!(strings.HasPrefix(k, "Exif:") && slices.Contains(inKeys, "IFD0:"+k[5:])) {
							t.Errorf("%s not in the source", k)
						}
						if sv, ok := inVals[k]; ok && !bytes.Equal(sv, vals[k]) {
							t.Errorf("%s value changed", k)
						}
					}
					again, err := keptEXIF(out, p)
					if err != nil || !bytes.Equal(again, out) {
						t.Errorf("not idempotent: %v", err)
					}
				}
				for _, k := range keys {
					tag := k[len(k)-4:]
					var group Group
					var id uint16
					fmt.Sscanf(tag, "%X", &id)
					if strings.HasPrefix(k, "GPS:") {
						group = gpsRules[id].group
					} else {
						group = exifRules[id].group
					}
					if _, c := exifCompanions[id]; id == tagExifIFD || id == tagGPSIFD || c && strings.HasPrefix(k, "Exif:") {
						continue
					}
					if group == "" || !p.Keeps(group) {
						t.Errorf("%s kept; profile %s", k, p)
					}
				}
				if w, ok := want[name][pname]; ok {
					if got := strings.Join(keys, " "); got != w {
						t.Errorf("kept\n %s\nwant\n %s", got, w)
					}
				}
				if p.Keeps(GPS) && slices.ContainsFunc(inKeys, func(k string) bool { return strings.HasPrefix(k, "GPS:0002") }) &&
					!slices.Contains(keys, "GPS:0002") {
					t.Errorf("GPSLatitude dropped with gps kept")
				}
			})
		}
	}
}

// TestKeptEXIFExiftool checks the kept blocks with exiftool: none of the
// identifying tags of the sources survives, whatever the profile.
func TestKeptEXIFExiftool(t *testing.T) {
	exiftool := testenv.Program(t, "libimage-exiftool-perl", "exiftool")
	dir := t.TempDir()
	for name, b := range exifSources(t) {
		out, err := keptEXIF(b, exifProfiles["all"])
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".exif")
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		tags := exiftoolTags(t, exiftool, path)
		for k := range tags {
			for _, bad := range append(forbiddenTags, "IFD1:", "GDAL") {
				if strings.Contains(k, bad) {
					t.Errorf("%s: %s survives", name, k)
				}
			}
		}
		if name == "canon" && (tags["IFD0:Model"] == nil || tags["ExifIFD:LensModel"] == nil) {
			t.Errorf("canon: Model/LensModel not kept: %v", tags)
		}
	}
}

// forbiddenTags are parts of exiftool tag names that no stripped output
// may carry.
var forbiddenTags = []string{"Serial", "Owner", "Artist", "Copyright", "MakerNote", "Canon", "Samsung",
	"Apple", "UserComment", "ImageDescription", "ImageUniqueID", "Thumbnail", "InteropIFD",
	"XMP", "IPTC", "GDALMetadata", "Photoshop", "Software", "ProcessingMethod", "AreaInformation", "PrintIM",
	"HostComputer", "DocumentName", "PageName", "Preview", "OriginalRawFileName", "RawDataUniqueID", "DNGPrivateData"}

// exiftoolTags returns exiftool's "-a -G1" tags of a file, without the
// File/System/ExifTool groups.
func exiftoolTags(t testing.TB, exiftool, path string) map[string]any {
	t.Helper()
	out, err := exec.Command(exiftool, "-json", "-a", "-G1", "-n", path).Output()
	if err != nil {
		t.Fatalf("exiftool %s: %v", path, err)
	}
	var v []map[string]any
	if err := json.Unmarshal(out, &v); err != nil || len(v) != 1 {
		t.Fatalf("exiftool output: %v", err)
	}
	for k := range v[0] {
		if k == "SourceFile" || strings.HasPrefix(k, "File:") || strings.HasPrefix(k, "System:") || strings.HasPrefix(k, "ExifTool:") {
			delete(v[0], k)
		}
	}
	return v[0]
}

func TestKeptEXIFErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"not TIFF", []byte("JFIF\x00\x01\x02\x03\x04\x05")},
		{"IFD0 outside", []byte("II*\x00\xff\x00\x00\x00")},
		{"huge entry count", []byte("MM\x00*\x00\x00\x00\x08\xff\xff")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := keptEXIF(tc.b, exifProfiles["all"])
			if err == nil || out != nil {
				t.Fatalf("keptEXIF = %d bytes, %v; want an error", len(out), err)
			}
		})
	}
}
