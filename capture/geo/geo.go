// Package geo reads the georeference of GeoTIFF and Cloud Optimized GeoTIFF
// files (classic TIFF and BigTIFF): the GeoKey directory with its double and
// ASCII parameters (model and raster type, EPSG codes of the projected and
// geographic coordinate reference systems, citations), tie points, pixel
// scale or model transformation, the bounding box in the image's CRS and, for
// geographic CRSs and UTM zones on common datums, in degrees; with the TIFF
// date, description and software, and GDAL's metadata and no-data tags. It
// implements capture.Reader as "geo/1" and returns capture.ErrUnsupported
// for TIFFs without georeference, so that they get no empty section.
//
// All TIFF structure is read through capture/photo/tiff, which bounds every
// size and offset a file declares. Errors and problems name the structure
// and offset that failed, never the values found there.
//
// geo must not import storage, sign, ingest or cli.
package geo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// ID names the reader and the version of its output.
const ID = "geo/1"

// Reader extracts georeferences. It keeps no state between calls and is
// safe for concurrent use.
type Reader struct{}

// New returns a georeference reader.
func New() *Reader { return &Reader{} }

var _ capture.Reader = (*Reader)(nil)

// ID implements capture.Reader.
func (*Reader) ID() string { return ID }

// MediaTypes implements capture.Reader: TIFF and BigTIFF (by the sniffed
// media type).
func (*Reader) MediaTypes() []string { return []string{"image/tiff"} }

// Read implements capture.Reader.
func (*Reader) Read(ctx context.Context, src capture.Source) (*capture.Result, error) {
	m, err := Extract(ctx, src, src.Size())
	if err != nil {
		return nil, err
	}
	return &capture.Result{Metadata: m}, nil
}

// Metadata is the output of geo/1, stored under "geo/1" in an item's
// metadata document.
type Metadata struct {
	TIFF  TIFF  `json:"tiff"`
	Image Image `json:"image"`
	// Structural is GDAL's structural metadata block, when present: GDAL's
	// COG driver writes it (LAYOUT=IFDS_BEFORE_DATA, BLOCK_ORDER=ROW_MAJOR,
	// …) to declare the Cloud Optimized GeoTIFF layout.
	Structural map[string]string `json:"structural,omitempty"`
	// ModelType is "projected", "geographic" or "geocentric"; RasterType
	// "PixelIsArea" or "PixelIsPoint".
	ModelType  string `json:"modelType,omitempty"`
	RasterType string `json:"rasterType,omitempty"`
	CRS        *CRS   `json:"crs,omitempty"`
	GeoKeys    []Key  `json:"geoKeys,omitempty"`
	// Tiepoints are (I, J, K, X, Y, Z) sextuplets, raster to model space.
	Tiepoints      [][6]float64 `json:"tiepoints,omitempty"`
	TiepointCount  int          `json:"tiepointCount,omitempty"`
	PixelScale     []float64    `json:"pixelScale,omitempty"`
	Transformation []float64    `json:"transformation,omitempty"`
	// BBox is the image's extent in the CRS's units.
	BBox *BBox `json:"bbox,omitempty"`
	// Degrees is the extent in longitude and latitude, when the CRS is
	// geographic or a UTM zone on a known datum.
	Degrees          *Degrees `json:"degrees,omitempty"`
	DateTime         string   `json:"dateTime,omitempty"`
	ImageDescription string   `json:"imageDescription,omitempty"`
	Software         string   `json:"software,omitempty"`
	// GDALMetadata is tag 42112 (XML) as stored. GDAL copies source EXIF,
	// GPS included, into it.
	GDALMetadata string    `json:"gdalMetadata,omitempty"`
	GDALNoData   string    `json:"gdalNoData,omitempty"`
	Problems     []Problem `json:"problems,omitempty"`
}

// TIFF describes the file's TIFF structure.
type TIFF struct {
	ByteOrder string `json:"byteOrder"`
	BigTIFF   bool   `json:"bigTIFF"`
	Version   int    `json:"version"`
	FirstIFD  uint64 `json:"firstIFD"`
	// IFDs counts the directories of the main chain; Overviews and Masks
	// those flagged as reduced-resolution images and transparency masks.
	IFDs      int `json:"ifds"`
	Overviews int `json:"overviews,omitempty"`
	Masks     int `json:"masks,omitempty"`
}

// Image describes the full-resolution image.
type Image struct {
	Width           uint64   `json:"width"`
	Height          uint64   `json:"height"`
	SamplesPerPixel uint64   `json:"samplesPerPixel,omitempty"`
	BitsPerSample   []uint64 `json:"bitsPerSample,omitempty"`
	SampleFormat    []uint64 `json:"sampleFormat,omitempty"`
	Compression     uint64   `json:"compression,omitempty"`
	TileWidth       uint64   `json:"tileWidth,omitempty"`
	TileHeight      uint64   `json:"tileHeight,omitempty"`
}

// CRS is the coordinate reference system the GeoKeys declare.
type CRS struct {
	// EPSG is the projected CRS code for projected models, the geographic
	// CRS code for geographic ones; 32767 means user-defined.
	EPSG           int    `json:"epsg,omitempty"`
	Name           string `json:"name,omitempty"`
	GeographicEPSG int    `json:"geographicEPSG,omitempty"`
	VerticalEPSG   int    `json:"verticalEPSG,omitempty"`
	LinearUnits    int    `json:"linearUnits,omitempty"`
	AngularUnits   int    `json:"angularUnits,omitempty"`
	Citation       string `json:"citation,omitempty"`
	GeogCitation   string `json:"geogCitation,omitempty"`
	PCSCitation    string `json:"pcsCitation,omitempty"`
}

// Key is one GeoKey.
type Key struct {
	ID   uint16 `json:"id"`
	Name string `json:"name,omitempty"`
	// Value is a number (SHORT keys), a list of numbers (double keys) or
	// text (ASCII keys, without the '|' terminator).
	Value any `json:"value"`
}

// BBox is an extent in the CRS's units (x east, y north).
type BBox struct {
	MinX float64 `json:"minX"`
	MinY float64 `json:"minY"`
	MaxX float64 `json:"maxX"`
	MaxY float64 `json:"maxY"`
}

// Degrees is an extent in degrees on the datum of GeographicEPSG.
type Degrees struct {
	West  float64 `json:"west"`
	South float64 `json:"south"`
	East  float64 `json:"east"`
	North float64 `json:"north"`
	// Corners are the image corners as [longitude, latitude]: upper left,
	// upper right, lower right, lower left.
	Corners        [4][2]float64 `json:"corners"`
	GeographicEPSG int           `json:"geographicEPSG"`
	// Method is "geographic" (the CRS is in degrees) or "utm-inverse".
	Method string `json:"method"`
}

// Problem is something malformed or beyond limits.
type Problem struct {
	Where   string `json:"where"`
	Offset  int64  `json:"offset"`
	Problem string `json:"problem"`
}

// TIFF tags.
const (
	tagNewSubfileType   = 254
	tagImageWidth       = 256
	tagImageLength      = 257
	tagBitsPerSample    = 258
	tagCompression      = 259
	tagImageDescription = 270
	tagSamplesPerPixel  = 277
	tagSoftware         = 305
	tagDateTime         = 306
	tagTileWidth        = 322
	tagTileLength       = 323
	tagSampleFormat     = 339
	tagPixelScale       = 33550
	tagTiepoint         = 33922
	tagTransformation   = 34264
	tagGeoKeyDirectory  = 34735
	tagGeoDoubleParams  = 34736
	tagGeoASCIIParams   = 34737
	tagGDALMetadata     = 42112
	tagGDALNoData       = 42113
)

const (
	maxTiepoints = 1024
	maxText      = 4 << 20
	maxProblems  = 128
)

var errNoTIFF = errors.New("not a TIFF file")

// Extract reads the georeference of the TIFF data in r. It returns
// capture.ErrUnsupported when IFD0 has no georeferencing tag.
func Extract(ctx context.Context, r io.ReaderAt, size int64) (*Metadata, error) {
	if size <= 0 {
		return nil, fmt.Errorf("geo: empty file")
	}
	f, err := tiff.Open(r, size, tiff.DefaultLimits)
	if err != nil {
		if errors.Is(err, tiff.ErrNotTIFF) {
			return nil, fmt.Errorf("geo: %w", errNoTIFF)
		}
		return nil, fmt.Errorf("geo: %w", err)
	}
	w, err := f.Walk(nil)
	if err != nil {
		return nil, fmt.Errorf("geo: %w", err)
	}
	ifd0 := w.Dirs[0]
	geo := false
	for _, t := range []uint16{tagPixelScale, tagTiepoint, tagTransformation, tagGeoKeyDirectory} {
		if _, ok := ifd0.Find(t); ok {
			geo = true
		}
	}
	if !geo {
		return nil, capture.ErrUnsupported
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x := &extraction{f: f, m: &Metadata{}}
	m := x.m
	for _, p := range w.Problems {
		x.problem(p.Path, p.Offset, p.Msg)
	}
	m.TIFF = TIFF{ByteOrder: f.ByteOrderName(), BigTIFF: f.Big, Version: f.Version(), FirstIFD: f.FirstIFD, IFDs: len(w.Dirs)}
	for _, d := range w.Dirs[1:] {
		if v := x.uint(d, tagNewSubfileType); v&4 != 0 {
			m.TIFF.Masks++
		} else if v&1 != 0 {
			m.TIFF.Overviews++
		}
	}
	m.Structural = x.structural()
	m.Image = Image{
		Width: x.uint(ifd0, tagImageWidth), Height: x.uint(ifd0, tagImageLength),
		SamplesPerPixel: x.uint(ifd0, tagSamplesPerPixel), BitsPerSample: x.uints(ifd0, tagBitsPerSample, 64),
		SampleFormat: x.uints(ifd0, tagSampleFormat, 64), Compression: x.uint(ifd0, tagCompression),
		TileWidth: x.uint(ifd0, tagTileWidth), TileHeight: x.uint(ifd0, tagTileLength),
	}
	m.DateTime = x.text(ifd0, tagDateTime)
	m.ImageDescription = x.text(ifd0, tagImageDescription)
	m.Software = x.text(ifd0, tagSoftware)
	m.GDALMetadata = x.text(ifd0, tagGDALMetadata)
	m.GDALNoData = x.text(ifd0, tagGDALNoData)
	x.georeference(ifd0)
	return m, nil
}

type extraction struct {
	f *tiff.File
	m *Metadata
}

func (x *extraction) problem(where string, off int64, msg string) {
	if len(x.m.Problems) < maxProblems {
		x.m.Problems = append(x.m.Problems, Problem{Where: where, Offset: off, Problem: msg})
	}
}

func (x *extraction) entryProblem(d *tiff.Dir, e tiff.Entry, what string, err error) {
	msg := what + " unreadable"
	switch {
	case errors.Is(err, tiff.ErrOutOfRange):
		msg = what + " " + tiff.ErrOutOfRange.Error()
	case errors.Is(err, tiff.ErrLimit):
		msg = what + " " + tiff.ErrLimit.Error()
	case errors.Is(err, tiff.ErrType):
		msg = what + ": " + tiff.ErrType.Error()
	}
	x.problem(d.Path, e.Pos, msg)
}

// find returns tag's entry in d when it holds at most limit values, and
// records a problem when it holds more.
func (x *extraction) find(d *tiff.Dir, tag uint16, limit uint64) (tiff.Entry, bool) {
	e, ok := d.Find(tag)
	if !ok {
		return e, false
	}
	if e.Count > limit {
		x.problem(d.Path, e.Pos, fmt.Sprintf("tag %d: %d values, more than the %d read", tag, e.Count, limit))
		return e, false
	}
	return e, true
}

func (x *extraction) uints(d *tiff.Dir, tag uint16, limit uint64) []uint64 {
	e, ok := x.find(d, tag, limit)
	if !ok {
		return nil
	}
	v, err := x.f.Uints(e)
	if err != nil {
		x.entryProblem(d, e, fmt.Sprintf("tag %d", tag), err)
		return nil
	}
	return v
}

func (x *extraction) uint(d *tiff.Dir, tag uint16) uint64 {
	if v := x.uints(d, tag, 1); len(v) == 1 {
		return v[0]
	}
	return 0
}

func (x *extraction) text(d *tiff.Dir, tag uint16) string {
	e, ok := d.Find(tag)
	if !ok {
		return ""
	}
	if n, _ := e.Size(); n > maxText {
		x.problem(d.Path, e.Pos, fmt.Sprintf("tag %d: text larger than %d bytes not read", tag, maxText))
		return ""
	}
	s, err := x.f.ASCII(e)
	if err != nil {
		x.entryProblem(d, e, fmt.Sprintf("tag %d", tag), err)
		return ""
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// doubles reads up to limit floating-point values. With finite set, a NaN
// or infinity is a problem and nothing is returned; GeoDoubleParams, whose
// unused slots may hold any value, is read with finite unset.
func (x *extraction) doubles(d *tiff.Dir, tag uint16, limit uint64, finite bool) []float64 {
	e, ok := x.find(d, tag, limit)
	if !ok {
		return nil
	}
	v, err := x.f.Floats(e)
	if err != nil {
		x.entryProblem(d, e, fmt.Sprintf("tag %d", tag), err)
		return nil
	}
	for _, f := range v {
		if finite && (math.IsNaN(f) || math.IsInf(f, 0)) {
			x.problem(d.Path, e.Pos, fmt.Sprintf("tag %d: not a finite number", tag))
			return nil
		}
	}
	return v
}

// structural reads GDAL's structural metadata, which GDAL writes right
// after the header ("GDAL_STRUCTURAL_METADATA_SIZE=000140 bytes\n…").
func (x *extraction) structural() map[string]string {
	const key = "GDAL_STRUCTURAL_METADATA_SIZE="
	at := int64(8)
	if x.f.Big {
		at = 16
	}
	r, err := x.f.Reader(at, min(int64(len(key))+16, x.f.Size()-at))
	if err != nil {
		return nil
	}
	head := make([]byte, r.Size())
	if n, _ := r.ReadAt(head, 0); n < len(key)+6 || !strings.HasPrefix(string(head), key) {
		return nil
	}
	var size int
	if _, err := fmt.Sscanf(string(head[len(key):len(key)+6]), "%d", &size); err != nil || size <= 0 || size > 4096 {
		return nil
	}
	line := strings.IndexByte(string(head), '\n')
	if line < 0 {
		return nil
	}
	body, err := x.f.Bytes(at+int64(line)+1, min(int64(size), x.f.Size()-at-int64(line)-1))
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(body), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && k != "" && len(out) < 64 {
			out[strings.ToValidUTF8(k, "\uFFFD")] = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
	return out
}
