package geo

import (
	"fmt"

	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// More TIFF tags: the structure of tiled images and what decoding them
// needs.
const (
	tagPhotometric    = 262
	tagPlanarConfig   = 284
	tagPredictor      = 317
	tagTileOffsets    = 324
	tagTileByteCounts = 325
	tagExtraSamples   = 338
	tagJPEGTables     = 347
	tagColorMap       = 320
	tagYCbCrCoeffs    = 529
	tagYCbCrSubSamp   = 530
	tagYCbCrPosition  = 531
	tagRefBlackWhite  = 532
	tagLercParameters = 50674
	subfileReduced    = 1
	subfileMask       = 4
	maxTiles          = 1 << 20 // tiles of one image read
	maxTileBytes      = 64 << 20
)

// tiledLimits let a File read the tile arrays of the largest grid
// (maxTiles offsets and counts of 8 bytes).
var tiledLimits = tiff.Limits{MaxDirs: 64, MaxEntries: 4096, MaxValue: 8 * maxTiles, MaxTotal: 64 << 20}

// tiled is one tiled image of a TIFF file: its grid and where its tiles
// are.
type tiled struct {
	d             *tiff.Dir
	width, height uint64
	tw, th        uint64
	// across and down count the tiles of one plane; planes is 1 for
	// interleaved samples and the samples per pixel when each is stored
	// apart (PlanarConfiguration 2).
	across, down, planes uint64
	offsets, counts      []uint64
}

// readTiled reads the tile grid of directory d, checking that every tile
// lies within the file.
func readTiled(f *tiff.File, d *tiff.Dir) (*tiled, error) {
	u := func(tag uint16) (uint64, error) {
		e, ok := d.Find(tag)
		if !ok {
			return 0, nil
		}
		v, err := f.Uints(e)
		if err != nil || len(v) == 0 {
			return 0, fmt.Errorf("tag %d: %v", tag, err)
		}
		return v[0], nil
	}
	t := &tiled{d: d, planes: 1}
	var err error
	for _, x := range []struct {
		tag uint16
		v   *uint64
	}{{tagImageWidth, &t.width}, {tagImageLength, &t.height}, {tagTileWidth, &t.tw}, {tagTileLength, &t.th}} {
		if *x.v, err = u(x.tag); err != nil {
			return nil, err
		}
	}
	if t.tw == 0 || t.th == 0 {
		return nil, fmt.Errorf("%s is not tiled", d.Path)
	}
	if t.width == 0 || t.height == 0 || t.width > 1<<31 || t.height > 1<<31 || t.tw > 1<<16 || t.th > 1<<16 {
		return nil, fmt.Errorf("%s: image %dx%d in tiles of %dx%d is out of range", d.Path, t.width, t.height, t.tw, t.th)
	}
	t.across, t.down = (t.width+t.tw-1)/t.tw, (t.height+t.th-1)/t.th
	if pc, _ := u(tagPlanarConfig); pc == 2 {
		if t.planes, err = u(tagSamplesPerPixel); err != nil || t.planes == 0 || t.planes > 1024 {
			return nil, fmt.Errorf("%s: planar image without a valid sample count", d.Path)
		}
	}
	if t.across > maxTiles || t.down > maxTiles/t.across || t.planes > maxTiles/(t.across*t.down) {
		return nil, fmt.Errorf("%s has more than %d tiles", d.Path, maxTiles)
	}
	n := t.across * t.down * t.planes
	for _, x := range []struct {
		tag uint16
		v   *[]uint64
	}{{tagTileOffsets, &t.offsets}, {tagTileByteCounts, &t.counts}} {
		e, ok := d.Find(x.tag)
		if !ok {
			return nil, fmt.Errorf("%s has no tag %d", d.Path, x.tag)
		}
		if *x.v, err = f.Uints(e); err != nil {
			return nil, fmt.Errorf("%s tag %d: %v", d.Path, x.tag, err)
		}
		if uint64(len(*x.v)) != n {
			return nil, fmt.Errorf("%s: tag %d lists %d tiles, the grid has %d", d.Path, x.tag, len(*x.v), n)
		}
	}
	size := uint64(f.Size())
	for i, off := range t.offsets {
		if c := t.counts[i]; c > maxTileBytes || (c > 0 && (off > size || c > size-off)) {
			return nil, fmt.Errorf("%s: tile %d (%d bytes at offset %d) lies outside the file of %d bytes", d.Path, i, c, off, size)
		}
	}
	return t, nil
}

// index is the position in the tile arrays of the tile at column tx, row
// ty of plane p.
func (t *tiled) index(p, tx, ty uint64) uint64 { return p*t.across*t.down + ty*t.across + tx }
