// Package testfiles finds the real camera and GeoTIFF files that the tests
// of photo, tiff and geo run on. They ship inside the zips of a few public
// Go modules (pinned below by exact version); `go mod download` puts them in
// the module cache, so they are located there at test time instead of being
// copied into this repository. Downloading needs the Go module proxy: without
// it the tests that need these files skip, except under CI=true, where they
// fail.
//
// It is imported only by tests and by the photo benchmark
// (internal/cmd/exhibit-bench), and must not import other packages of this
// module.
package testfiles

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Modules whose zips hold test images, at the versions the tests pin
// values for.
const (
	// GoExif holds assets/NDM_8901.jpg (Canon EOS 5D Mark III with body
	// and lens serial numbers), assets/gps.jpg (Samsung SM-N920T with
	// GPS), assets/gps-2000-scaled.jpg and assets/geotiff_example.tif
	// (NAD83 / UTM zone 18N). MIT licence.
	GoExif = "github.com/dsoprea/go-exif/v3@v3.0.1"
	// JPEGStructure holds assets/IMG_6691_Multiple_EOIs.jpg (a Canon
	// PowerShot with multi-picture previews after the first EOI) and
	// assets/20180428_212314.jpg. MIT licence.
	JPEGStructure = "github.com/dsoprea/go-jpeg-image-structure/v2@v2.0.0-20221012074422-4f3f7e934102"
	// PNGStructure holds assets/exif.png (eXIf chunk), assets/libpng.png
	// and assets/Selection_058.png. MIT licence.
	PNGStructure = "github.com/dsoprea/go-png-image-structure/v2@v2.0.0-20210512210324-29b889a6093d"
	// IPTC holds assets/*.jpg from the IPTC Photo Metadata working group,
	// with IPTC-IIM, XMP and EXIF. MIT licence (images © IPTC, published
	// as test files).
	IPTC = "github.com/dsoprea/go-iptc@v0.0.0-20200609062250-162ae6b44feb"
	// GoExifRW holds exif/samples (57 camera JPEGs cut short after their
	// metadata, among them geodegrees_as_string.jpg and has-lens-info.jpg),
	// exif/corrupt (hostile EXIF) and tiff/sample1.tif. BSD 2-clause.
	GoExifRW = "github.com/rwcarlsen/goexif@v0.0.0-20190401172101-9e8deecbddbd"
)

var (
	mu   sync.Mutex
	dirs = map[string]string{}
)

// Dir returns the module cache directory of module (module@version),
// downloading it if needed. It is run outside this module, so go.mod and
// go.sum are never touched.
func Dir(t testing.TB, module string) string {
	t.Helper()
	d, err := ModuleDir(module)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return d
}

// ModuleDir is Dir for programs that are not tests (the photo benchmark
// builds its corpus from these files): it returns an error instead of
// skipping.
func ModuleDir(module string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if d, ok := dirs[module]; ok {
		return d, nil
	}
	tmp, err := os.MkdirTemp("", "testfiles-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = tmp // outside any module
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &info)
	}
	if err != nil || info.Dir == "" {
		msg := "cannot download " + module + " (needs the Go module proxy): "
		if err != nil {
			msg += err.Error()
		} else {
			msg += info.Error
		}
		return "", errors.New(msg)
	}
	dirs[module] = info.Dir
	return info.Dir, nil
}

// Path returns the path of name (slash-separated) inside module.
func Path(t testing.TB, module, name string) string {
	t.Helper()
	return filepath.Join(Dir(t, module), filepath.FromSlash(name))
}

// Read returns the bytes of name inside module.
func Read(t testing.TB, module, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, module, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Glob returns the files of module matching pattern (slash-separated).
func Glob(t testing.TB, module, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(Dir(t, module), filepath.FromSlash(pattern)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Set is a group of real camera files in a module: Pattern is
// slash-separated, relative to the module's folder.
type Set struct{ Module, Pattern string }

// CameraSets are the real camera files (JPEG, TIFF, PNG) of the module
// zips, in a fixed order: the extraction benchmark and the photo corpus of
// the ingest benchmark use them.
var CameraSets = []Set{
	{GoExif, "assets/*.jpg"},
	{GoExif, "assets/*.tif"},
	{JPEGStructure, "assets/*.jpg"},
	{PNGStructure, "assets/*.png"},
	{IPTC, "assets/*.jpg"},
	{GoExifRW, "exif/*.jpg"},
	{GoExifRW, "exif/samples/*.jpg"},
}
