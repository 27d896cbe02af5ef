package geo

import (
	"compress/zlib"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"golang.org/x/image/tiff/lzw"

	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// A preview is decoded from the image level (the full resolution or one of
// its overviews) that is the smallest at least previewMin pixels on its
// longer side; a level longer than previewMax is reduced by a whole factor
// (the mean of each square of pixels). Levels longer than previewDecodeMax
// are not decoded at all.
const (
	previewMin       = 512
	previewMax       = 1024
	previewDecodeMax = 4096
)

// previewPlan is how a preview is made: which level, and by how much it
// is reduced.
type previewPlan struct {
	t      *tiled
	level  string
	bands  int // 1 (grey) or 3 (the first three samples as red, green, blue)
	spp    int
	factor int
	pred   uint64
	comp   uint64
}

// planPreview chooses the level a preview is made from. It returns a
// reason and no plan when the image is not one a preview can be decoded
// from (Exhibit decodes 8-bit grey or RGB tiles, uncompressed, Deflate or
// LZW, with or without a horizontal predictor).
func planPreview(f *tiff.File, dirs []*tiff.Dir) (*previewPlan, string) {
	var best *tiled
	for i, d := range dirs {
		e, _ := d.Find(tagNewSubfileType)
		if v, err := f.Uints(e); i > 0 && (err != nil || len(v) == 0 || v[0]&subfileMask != 0 || v[0]&subfileReduced == 0) {
			continue // not an overview of the image
		}
		t, err := readTiled(f, d)
		if err != nil {
			if i == 0 {
				return nil, "not a tiled image"
			}
			continue
		}
		side := max(t.width, t.height)
		if best == nil || (side >= previewMin && side < max(best.width, best.height)) {
			best = t
		}
	}
	if best == nil {
		return nil, "no image"
	}
	side := max(best.width, best.height)
	if side > previewDecodeMax {
		return nil, fmt.Sprintf("no overview of at most %d pixels to make it from", previewDecodeMax)
	}
	p := &previewPlan{t: best, level: best.d.Path, factor: int((side + previewMax - 1) / previewMax)}
	bad := ""
	// one reads a tag's values: def when the tag is absent; a tag that
	// does not read, or holds nothing, leaves the preview unmade.
	one := func(tag uint16, def uint64) []uint64 {
		e, ok := best.d.Find(tag)
		if !ok {
			return []uint64{def}
		}
		v, err := f.Uints(e)
		if err != nil || len(v) == 0 {
			bad = fmt.Sprintf("tag %d does not read", tag)
			return []uint64{0}
		}
		return v
	}
	spp, photo := one(tagSamplesPerPixel, 1), one(tagPhotometric, 99)
	p.comp, p.pred = one(tagCompression, 1)[0], one(tagPredictor, 1)[0]
	bits, sf := one(tagBitsPerSample, 1), one(tagSampleFormat, 1)
	if bad != "" {
		return nil, bad
	}
	for _, b := range bits {
		if b != 8 {
			return nil, "samples are not 8-bit"
		}
	}
	switch {
	case sf[0] != 1:
		return nil, "samples are not unsigned integers"
	case len(spp) != 1 || spp[0] == 0 || spp[0] > 16:
		return nil, "no valid samples per pixel"
	case photo[0] == 1 && spp[0] >= 1:
		p.bands = 1
	case photo[0] == 2 && spp[0] >= 3:
		p.bands = 3
	default:
		return nil, fmt.Sprintf("photometric interpretation %d is neither grey nor RGB", photo[0])
	}
	p.spp = int(spp[0])
	if per := best.tw * best.th * uint64(p.spp) / best.planes; per > maxTileBytes {
		return nil, fmt.Sprintf("tiles of %d bytes decoded are too large", per)
	}
	switch {
	case p.comp != 1 && p.comp != 5 && p.comp != 8 && p.comp != 32946:
		return nil, fmt.Sprintf("compression %d is not one Exhibit decodes", p.comp)
	case p.pred != 1 && p.pred != 2:
		return nil, fmt.Sprintf("predictor %d is not one Exhibit decodes", p.pred)
	}
	return p, ""
}

// write decodes the level's tiles, reduces them, and writes a PNG.
func (p *previewPlan) write(ctx context.Context, w io.Writer, src io.ReaderAt) error {
	t := p.t
	width, height := int(t.width), int(t.height)
	pix := make([]byte, width*height*p.bands)
	perTile := 1
	if t.planes == 1 {
		perTile = p.spp
	}
	tileLen := int(t.tw) * int(t.th) * perTile
	buf := make([]byte, tileLen)
	for pl := range t.planes {
		if int(pl) >= p.bands && t.planes > 1 {
			break
		}
		for ty := range t.down {
			if err := ctx.Err(); err != nil {
				return err
			}
			for tx := range t.across {
				i := t.index(pl, tx, ty)
				if t.counts[i] == 0 {
					continue // sparse: left black
				}
				if err := p.decode(io.NewSectionReader(src, int64(t.offsets[i]), int64(t.counts[i])), buf, perTile); err != nil {
					return fmt.Errorf("%s tile %d: %w", p.level, i, err)
				}
				p.place(pix, buf, int(pl), int(tx*t.tw), int(ty*t.th), perTile)
			}
		}
	}
	return png.Encode(w, p.reduce(pix, width, height))
}

// decode reads one tile into buf, undoing the compression and predictor.
func (p *previewPlan) decode(r io.Reader, buf []byte, perPixel int) error {
	var dec io.Reader = r
	switch p.comp {
	case 5:
		lr := lzw.NewReader(r, lzw.MSB, 8)
		defer lr.Close()
		dec = lr
	case 8, 32946:
		zr, err := zlib.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		dec = zr
	}
	if _, err := io.ReadFull(dec, buf); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	if p.pred == 2 {
		row := int(p.t.tw) * perPixel
		for y := 0; y+row <= len(buf); y += row {
			line := buf[y : y+row]
			for x := perPixel; x < row; x++ {
				line[x] += line[x-perPixel]
			}
		}
	}
	return nil
}

// place copies a decoded tile's samples into the level's pixels.
func (p *previewPlan) place(pix, tile []byte, plane, x0, y0, perPixel int) {
	t := p.t
	width, height := int(t.width), int(t.height)
	for y := 0; y < int(t.th) && y0+y < height; y++ {
		for x := 0; x < int(t.tw) && x0+x < width; x++ {
			s := tile[(y*int(t.tw)+x)*perPixel:]
			d := pix[((y0+y)*width+x0+x)*p.bands:]
			if t.planes > 1 {
				d[plane] = s[0]
				continue
			}
			copy(d[:p.bands], s[:p.bands])
		}
	}
}

// reduce makes the image, the mean of each factor x factor square (fewer
// at the right and bottom edges), rounded to nearest.
func (p *previewPlan) reduce(pix []byte, width, height int) image.Image {
	k := p.factor
	w, h := (width+k-1)/k, (height+k-1)/k
	var img interface {
		image.Image
		Set(x, y int, c color.Color)
	}
	if p.bands == 1 {
		img = image.NewGray(image.Rect(0, 0, w, h))
	} else {
		img = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	for y := range h {
		for x := range w {
			var sum [3]int
			n := 0
			for yy := y * k; yy < min(y*k+k, height); yy++ {
				for xx := x * k; xx < min(x*k+k, width); xx++ {
					for b := range p.bands {
						sum[b] += int(pix[(yy*width+xx)*p.bands+b])
					}
					n++
				}
			}
			mean := func(b int) uint8 { return uint8((sum[b] + n/2) / n) }
			if p.bands == 1 {
				img.Set(x, y, color.Gray{mean(0)})
			} else {
				img.Set(x, y, color.RGBA{mean(0), mean(1), mean(2), 255})
			}
		}
	}
	return img
}

// params is the preview's recipe, as its record states it.
func (p *previewPlan) params() map[string]string {
	m := map[string]string{
		"source-image": p.level,
		"source-size":  fmt.Sprintf("%dx%d", p.t.width, p.t.height),
		"bands":        map[int]string{1: "1 (grey)", 3: "1,2,3 as red, green, blue"}[p.bands],
	}
	if p.factor > 1 {
		m["reduction"] = fmt.Sprintf("mean of each %dx%d pixels", p.factor, p.factor)
	} else {
		m["reduction"] = "none: the level's pixels as decoded"
	}
	return m
}
