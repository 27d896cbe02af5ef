package geo

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	"github.com/openexhibit/exhibit/capture/photo/tiff"
	"github.com/openexhibit/exhibit/custody"
)

// AOI is an area of interest: a box in degrees of longitude and latitude
// on WGS 84, as GeoJSON states coordinates.
type AOI struct{ West, South, East, North float64 }

func (a AOI) String() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return f(a.West) + "," + f(a.South) + "," + f(a.East) + "," + f(a.North)
}

// Window is a rectangle of pixels of the full-resolution image.
type Window struct{ Col, Row, Width, Height uint64 }

func (w Window) String() string { return fmt.Sprintf("%d,%d,%d,%d", w.Col, w.Row, w.Width, w.Height) }

// Tags a clip copies from the source image as they are: what decoding its
// tiles needs, and the georeference that does not change with the window.
// Everything else (descriptions, GDAL's statistics of the whole image,
// times, software) is left out.
var clipCopied = map[uint16]bool{
	tagBitsPerSample: true, tagCompression: true, tagPhotometric: true, tagSamplesPerPixel: true,
	tagPlanarConfig: true, tagPredictor: true, tagColorMap: true, tagTileWidth: true, tagTileLength: true,
	tagExtraSamples: true, tagSampleFormat: true, tagJPEGTables: true, tagYCbCrCoeffs: true,
	tagYCbCrSubSamp: true, tagYCbCrPosition: true, tagRefBlackWhite: true, tagLercParameters: true,
	tagPixelScale: true, tagGeoKeyDirectory: true, tagGeoDoubleParams: true, tagGeoASCIIParams: true,
	tagGDALNoData: true,
}

const (
	maxClipBytes = 2 << 30 // a clip is a classic TIFF with 32-bit offsets
	// maxClipHead bounds the header and directory before the first tile,
	// which verify reads whole (it keeps up to 16 MiB).
	maxClipHead = 8 << 20
)

// clipPlan is a clip of a tiled image's full resolution: the whole tiles
// that cover an area of interest, copied byte for byte into a TIFF of
// their own.
type clipPlan struct {
	order  binary.ByteOrder
	aoi    AOI
	crs    int
	window Window // tile-aligned, within the image
	asked  Window // the area of interest's pixels, before alignment
	grid   string
	head   []byte // header and directory
	spans  []custody.Span
	size   int64
}

// planClip plans the clip of m's image (IFD0 of f) that covers aoi. It
// returns a reason and no plan when there is nothing to clip.
func planClip(f *tiff.File, ifd0 *tiff.Dir, m *Metadata, aoi AOI) (*clipPlan, string) {
	if f.Big {
		return nil, "a BigTIFF: clips are made of classic TIFFs"
	}
	t, err := readTiled(f, ifd0)
	if err != nil {
		return nil, "not a tiled image: " + err.Error()
	}
	asked, why := aoiWindow(m, aoi)
	if why != "" {
		return nil, why
	}
	w := Window{Col: asked.Col / t.tw * t.tw, Row: asked.Row / t.th * t.th}
	w.Width = min(ceilTo(asked.Col+asked.Width, t.tw), t.width) - w.Col
	w.Height = min(ceilTo(asked.Row+asked.Height, t.th), t.height) - w.Row
	if w.Width == t.width && w.Height == t.height {
		return nil, "the area of interest covers the whole image: the original is the clip"
	}
	p := &clipPlan{order: f.Order, aoi: aoi, crs: m.CRS.EPSG, window: w, asked: asked,
		grid: fmt.Sprintf("%dx%d", t.tw, t.th)}
	if err := p.layout(f, t, m); err != nil {
		return nil, err.Error()
	}
	return p, ""
}

func ceilTo(v, step uint64) uint64 { return (v + step - 1) / step * step }

// aoiWindow finds the pixels of the full-resolution image that aoi covers,
// widened by one pixel on each side (a datum's difference from WGS 84, for
// the datums accepted, is well under a pixel of the imagery they carry).
func aoiWindow(m *Metadata, aoi AOI) (Window, string) {
	if m.CRS == nil || m.Degrees == nil || m.Image.Width == 0 || m.Image.Height == 0 {
		return Window{}, "no georeference that maps to degrees"
	}
	if aoi.West > aoi.East || aoi.East-aoi.West > 180 {
		return Window{}, "the area crosses the antimeridian (or spans more than 180 degrees of longitude): clip each side apart"
	}
	// Only the part of the area over the image is projected: points far
	// from a UTM zone do not project.
	d := m.Degrees
	aoi = AOI{West: max(aoi.West, d.West), South: max(aoi.South, d.South), East: min(aoi.East, d.East), North: min(aoi.North, d.North)}
	if aoi.West > aoi.East || aoi.South > aoi.North {
		return Window{}, "the area of interest does not overlap the image"
	}
	var toModel func(lon, lat float64) (float64, float64)
	switch m.Degrees.Method {
	case "geographic":
		toModel = func(lon, lat float64) (float64, float64) { return lon, lat }
	case "utm-inverse":
		u, _ := utmFromEPSG(m.CRS.EPSG)
		toModel = u.fromDegrees
	}
	if toModel == nil || !nearWGS84[m.Degrees.GeographicEPSG] {
		return Window{}, fmt.Sprintf("the image's CRS (EPSG:%d) is not one a clip maps degrees to", m.CRS.EPSG)
	}
	var sx, sy, x0, y0 float64 // pixel (i, j) corner is at (x0 + i*sx, y0 - j*sy)
	switch {
	case len(m.Transformation) == 16:
		t := m.Transformation
		if t[1] != 0 || t[4] != 0 || t[0] <= 0 || t[5] >= 0 {
			return Window{}, "the image is rotated or flipped"
		}
		sx, sy, x0, y0 = t[0], -t[5], t[3], t[7]
	case len(m.Tiepoints) >= 1 && len(m.PixelScale) >= 2 && m.PixelScale[0] > 0 && m.PixelScale[1] > 0:
		tp, s := m.Tiepoints[0], m.PixelScale
		sx, sy, x0, y0 = s[0], s[1], tp[3]-tp[0]*s[0], tp[4]+tp[1]*s[1]
	default:
		return Window{}, "no raster-to-model mapping a clip can invert"
	}
	if m.RasterType == "PixelIsPoint" {
		x0, y0 = x0-sx/2, y0+sy/2
	}
	// The box's edges, densified: a box in degrees is curved in UTM (a
	// parallel is furthest south or north on the central meridian, which
	// is sampled too).
	const steps = 64
	lons := []float64{}
	for k := 0; k <= steps; k++ {
		lons = append(lons, aoi.West+float64(k)/steps*(aoi.East-aoi.West))
	}
	if u, ok := utmFromEPSG(m.CRS.EPSG); ok {
		if cm := float64(6*u.zone - 183); cm > aoi.West && cm < aoi.East {
			lons = append(lons, cm)
		}
	}
	minI, minJ, maxI, maxJ := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for k, lon := range lons {
		lat := aoi.South + float64(min(k, steps))/steps*(aoi.North-aoi.South)
		for _, pt := range [][2]float64{{lon, aoi.South}, {lon, aoi.North}, {aoi.West, lat}, {aoi.East, lat}} {
			x, y := toModel(pt[0], pt[1])
			i, j := (x-x0)/sx, (y0-y)/sy
			minI, maxI, minJ, maxJ = min(minI, i), max(maxI, i), min(minJ, j), max(maxJ, j)
		}
	}
	w, h := float64(m.Image.Width), float64(m.Image.Height)
	if math.IsNaN(minI+maxI+minJ+maxJ) || maxI < 0 || maxJ < 0 || minI > w || minJ > h {
		return Window{}, "the area of interest does not overlap the image"
	}
	c0, r0 := max(math.Floor(minI)-1, 0), max(math.Floor(minJ)-1, 0)
	c1, r1 := min(math.Ceil(maxI)+1, w), min(math.Ceil(maxJ)+1, h)
	return Window{Col: uint64(c0), Row: uint64(r0), Width: uint64(c1 - c0), Height: uint64(r1 - r0)}, ""
}

// nearWGS84 are the geographic CRSs whose degrees are WGS 84's within a
// couple of metres.
var nearWGS84 = map[int]bool{4326: true, 4269: true, 4258: true, 4283: true}

// field is one entry of the clip's directory, its value in the source's
// byte order.
type field struct {
	tag   uint16
	typ   tiff.Type
	count uint64
	value []byte
}

// layout builds the clip's header and directory and the spans its tiles
// are copied from: header, directory, out-of-line values, then the tiles
// in the order the source stores planes, rows and columns.
func (p *clipPlan) layout(f *tiff.File, t *tiled, m *Metadata) error {
	var fields []field
	seen := map[uint16]bool{}
	for _, e := range t.d.Entries {
		if !clipCopied[e.Tag] || seen[e.Tag] {
			continue
		}
		seen[e.Tag] = true
		v, err := f.Value(e)
		if err != nil {
			return fmt.Errorf("tag %d: %v", e.Tag, err)
		}
		fields = append(fields, field{e.Tag, e.Type, e.Count, v})
	}
	o := p.order
	longs := func(v []uint64) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			o.PutUint32(b[4*i:], uint32(x))
		}
		return b
	}
	doubles := func(v []float64) []byte {
		b := make([]byte, 8*len(v))
		for i, x := range v {
			o.PutUint64(b[8*i:], math.Float64bits(x))
		}
		return b
	}
	w := p.window
	col, row := float64(w.Col), float64(w.Row)
	switch {
	case len(m.Transformation) == 16:
		tr := append([]float64(nil), m.Transformation...)
		tr[3] += tr[0]*col + tr[1]*row
		tr[7] += tr[4]*col + tr[5]*row
		fields = append(fields, field{tagTransformation, tiff.Double, 16, doubles(tr)})
	default:
		tp, s := m.Tiepoints[0], m.PixelScale
		fields = append(fields, field{tagTiepoint, tiff.Double, 6,
			doubles([]float64{0, 0, tp[2], tp[3] + (col-tp[0])*s[0], tp[4] - (row-tp[1])*s[1], tp[5]})})
	}
	fields = append(fields, field{tagImageWidth, tiff.Long, 1, longs([]uint64{w.Width})},
		field{tagImageLength, tiff.Long, 1, longs([]uint64{w.Height})})

	// The tiles, in the source's order.
	tx0, ty0 := w.Col/t.tw, w.Row/t.th
	across, down := (w.Width+t.tw-1)/t.tw, (w.Height+t.th-1)/t.th
	var src, counts []uint64
	for pl := range t.planes {
		for ty := ty0; ty < ty0+down; ty++ {
			for tx := tx0; tx < tx0+across; tx++ {
				i := t.index(pl, tx, ty)
				src, counts = append(src, t.offsets[i]), append(counts, t.counts[i])
			}
		}
	}
	n := uint64(len(src))
	fields = append(fields, field{tagTileOffsets, tiff.Long, n, nil}, field{tagTileByteCounts, tiff.Long, n, longs(counts)})
	sort.Slice(fields, func(i, j int) bool { return fields[i].tag < fields[j].tag })

	// Sizes: the header, the directory, then each value longer than four
	// bytes at an even offset.
	dirLen := int64(2 + 12*len(fields) + 4)
	pos := 8 + dirLen
	valueAt := make([]int64, len(fields))
	for i, fl := range fields {
		size := int64(4 * n)
		if fl.value != nil {
			size = int64(len(fl.value))
		}
		if size > 4 {
			pos += pos & 1
			valueAt[i] = pos
			pos += size
		}
	}
	pos += pos & 1
	if pos > maxClipHead {
		return fmt.Errorf("the clip's directory would take %d bytes, more than %d", pos, maxClipHead)
	}
	dst := make([]uint64, n)
	for i, c := range counts {
		if c > 0 {
			dst[i] = uint64(pos)
			p.spans = append(p.spans, custody.Span{DerivativeOffset: pos, OriginalOffset: int64(src[i]), Length: int64(c)})
		}
		pos += int64(c)
		if pos > maxClipBytes {
			return fmt.Errorf("the clip would be larger than %d bytes", int64(maxClipBytes))
		}
	}
	p.size = pos
	if len(p.spans) == 0 {
		return fmt.Errorf("every tile of the window is empty (sparse)")
	}
	for i := range fields {
		if fields[i].tag == tagTileOffsets {
			fields[i].value = longs(dst)
		}
	}

	// Encode.
	head := make([]byte, p.spans[0].DerivativeOffset)
	if o == binary.LittleEndian {
		copy(head, "II*\x00")
	} else {
		copy(head, "MM\x00*")
	}
	o.PutUint32(head[4:], 8)
	o.PutUint16(head[8:], uint16(len(fields)))
	for i, fl := range fields {
		e := head[10+12*i:]
		o.PutUint16(e, fl.tag)
		o.PutUint16(e[2:], uint16(fl.typ))
		o.PutUint32(e[4:], uint32(fl.count))
		if valueAt[i] == 0 {
			copy(e[8:12], fl.value)
		} else {
			o.PutUint32(e[8:], uint32(valueAt[i]))
			copy(head[valueAt[i]:], fl.value)
		}
	}
	p.head = head
	return nil
}

// write writes the clip: its header and directory, then each tile's
// bytes as the original holds them.
func (p *clipPlan) write(ctx context.Context, w io.Writer, src io.ReaderAt) error {
	if _, err := w.Write(p.head); err != nil {
		return err
	}
	at := int64(len(p.head))
	for _, s := range p.spans {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.DerivativeOffset > at { // padding to an even offset
			if _, err := w.Write(make([]byte, s.DerivativeOffset-at)); err != nil {
				return err
			}
		}
		n, err := io.Copy(w, io.NewSectionReader(src, s.OriginalOffset, s.Length))
		if err == nil && n < s.Length {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return fmt.Errorf("tile at offset %d: %w", s.OriginalOffset, err)
		}
		at = s.DerivativeOffset + s.Length
	}
	if at < p.size {
		_, err := w.Write(make([]byte, p.size-at))
		return err
	}
	return nil
}

// params is the clip's recipe, as its record states it.
func (p *clipPlan) params() map[string]string {
	return map[string]string{
		"aoi":                      p.aoi.String(),
		"crs":                      fmt.Sprintf("EPSG:%d", p.crs),
		"aoi-window":               p.asked.String(),
		"window":                   p.window.String(),
		"source-image":             "IFD0",
		"tile-size":                p.grid,
		custody.ParamOriginalSpans: custody.FormatSpans(p.spans),
	}
}
