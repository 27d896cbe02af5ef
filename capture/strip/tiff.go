package strip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// TIFF tags stripTIFF treats specially.
const (
	tagNewSubfileType  = 0x00FE
	tagSubfileType     = 0x00FF
	tagCompression     = 0x0103
	tagStripOffsets    = 0x0111
	tagStripByteCounts = 0x0117
	tagTileOffsets     = 0x0144
	tagTileByteCounts  = 0x0145
	tagSubIFDs         = 0x014A
	tagJPEGIF          = 0x0201
	tagGeoKeyDirectory = 0x87AF
	tagDNGVersion      = 0xC612
)

// tiffLimits bound what stripTIFF reads: directories (a COG has a few per
// overview level, a multi-page scan one per page) and values, the largest
// being the offset and byte-count arrays of tiled images. maxBlocks caps
// the strips and tiles of all kept images together (a million 256×256
// tiles is 68 gigapixels).
var tiffLimits = tiff.Limits{MaxDirs: 256, MaxEntries: 1024, MaxValue: 16 << 20, MaxTotal: 48 << 20}

const maxBlocks = 1 << 20

// tiffChildren are the directories stripTIFF follows: the EXIF and GPS
// directories (to keep what a profile asks and report the rest) and
// SubIFDs (where DNG keeps its raw image).
var tiffChildren = map[uint16]string{tagExifIFD: "Exif", tagGPSIFD: "GPSInfo", tagSubIFDs: "SubIFD"}

var chainPath = regexp.MustCompile(`^IFD[0-9]+$`)

// tiffStrip is one stripping of a TIFF file.
type tiffStrip struct {
	f    *tiff.File
	p    Profile
	size int64
	rep  *tally
	// blocks are the strips and tiles of the kept images, in the order
	// found (with repeats) until finishBlocks sorts them.
	blocks []dataBlock
	// copied holds the positions of the entries whose values the copy
	// carries as they are (kept tags, kept images' byte counts and
	// offsets); checkPrivate lets blocks share bytes with only those.
	copied map[int64]bool
}

// stripTIFF writes a copy of the TIFF, BigTIFF, GeoTIFF, COG or DNG file
// r with only allowlisted tags (tifftags.go) and the images a decoder of
// the file needs:
//
//   - georeferenced files (a GeoKeyDirectory in IFD0) keep every image of
//     the main chain: the full-resolution image, its reduced-resolution
//     overviews and masks, as a COG has them. When the profile drops the
//     georeference, the copy is an ordinary TIFF and is treated as one
//     (overviews dropped), so that stripping it again changes nothing;
//   - DNG keeps its raw image (the directory with NewSubfileType 0, often a
//     SubIFD of a preview IFD0), written as the main image with the
//     camera-level tags of IFD0;
//   - other files keep the full-resolution images of the main chain (one
//     per page) and drop thumbnails and reduced-resolution previews.
//
// Strips and tiles are copied byte for byte; only their offsets change.
// The EXIF and GPS directories are rebuilt with what the profile keeps.
// A BigTIFF stays BigTIFF; a classic TIFF whose copy would pass 4 GiB
// becomes BigTIFF.
func stripTIFF(ctx context.Context, r io.ReaderAt, size int64, p Profile, w io.Writer) (*Report, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := tiff.Open(r, size, tiffLimits)
	if err != nil {
		return nil, tiffError(0, "header", err)
	}
	walk, err := f.Walk(tiffChildren)
	if err != nil {
		return nil, tiffError(int64(f.FirstIFD), "IFD0", err)
	}
	for _, pr := range walk.Problems {
		if isExifPath(pr.Path) || strings.HasPrefix(pr.Msg, fmt.Sprintf("tag %d:", tagExifIFD)) ||
			strings.HasPrefix(pr.Msg, fmt.Sprintf("tag %d:", tagGPSIFD)) {
			continue // EXIF and GPS are rebuilt from what can be read, or dropped
		}
		return nil, &FormatError{Format: TIFF, Offset: pr.Offset, Reason: pr.Path + ": " + pr.Msg}
	}
	for _, d := range walk.Dirs {
		if d.Truncated && !isExifPath(d.Path) {
			return nil, &FormatError{Format: TIFF, Offset: d.Offset, Reason: d.Path + ": directory cut short by the end of the file"}
		}
	}
	s := &tiffStrip{f: f, p: p, size: size, rep: &tally{unit: "entries"}, copied: map[int64]bool{}}
	keep, fileDir, err := s.choose(walk.Dirs)
	if err != nil {
		return nil, err
	}
	ifd0 := walk.Dirs[0]
	var chain []*ifdDir
	for i, d := range keep {
		merge := (*tiff.Dir)(nil)
		if i == 0 && fileDir != nil && fileDir != d {
			merge = fileDir
		}
		out, err := s.image(d, merge, d == ifd0 || merge == ifd0)
		if err != nil {
			return nil, err
		}
		chain = append(chain, out)
	}
	if ifd0 != keep[0] && fileDir != ifd0 {
		// IFD0 is dropped as a whole; its identifying tags still get named.
		s.reportDropped(ifd0, nil)
	}
	x := gatherEXIF(f, ifd0, p, func(tag uint16) bool {
		_, isExif := exifRules[tag]
		return !isExif || tiffTags[tag].keep != ""
	})
	ex, gps := x.children()
	x.reportPointers(ex, gps)
	for _, name := range x.removed {
		s.rep.remove(name)
	}
	for _, fl := range x.ifd0.fields {
		if !chain[0].has(fl.tag) {
			chain[0].fields = append(chain[0].fields, fl)
			s.rep.keep(tagLabel("IFD0", fl.tag, false))
		}
	}
	linkChildren(chain[0], ex, gps)
	if ex != nil {
		s.rep.keep("IFD/Exif (rebuilt with kept tags only)")
	}
	if gps != nil {
		s.rep.keep("IFD/GPSInfo (rebuilt with kept tags only)")
	}
	if err := s.finishBlocks(chain); err != nil {
		return nil, err
	}
	if err := s.checkPrivate(walk.Dirs); err != nil {
		return nil, err
	}
	l := &tiffLayout{order: f.Order, big: f.Big, chain: chain, blocks: s.blocks}
	if err := l.layoutFit(); err != nil {
		return nil, fmt.Errorf("strip tiff: %w: %w", ErrUnsupported, err)
	}
	if l.big && !f.Big {
		s.rep.keep("written as BigTIFF: the copy exceeds 4 GiB")
	}
	if _, err := l.writeTo(ctx, w, r); err != nil {
		return nil, fmt.Errorf("strip tiff: write: %w", err)
	}
	return s.rep.report(TIFF), nil
}

var exifPath = regexp.MustCompile(`/(Exif|GPSInfo)(/|$)`)

// isExifPath reports whether a directory path is an EXIF or GPS directory
// or below one.
func isExifPath(path string) bool { return exifPath.MatchString(path) }

// tiffError turns an error of the TIFF reader into a FormatError or, for
// limits, ErrUnsupported.
func tiffError(off int64, where string, err error) error {
	switch {
	case errors.Is(err, tiff.ErrLimit):
		return fmt.Errorf("strip tiff: %s at offset %d: %w: %w", where, off, ErrUnsupported, err)
	case errors.Is(err, tiff.ErrNotTIFF), errors.Is(err, tiff.ErrOutOfRange), errors.Is(err, tiff.ErrType),
		errors.Is(err, io.ErrUnexpectedEOF):
		return &FormatError{Format: TIFF, Offset: off, Reason: where + ": " + err.Error()}
	}
	return fmt.Errorf("strip tiff: %s: %w", where, err)
}

// subfileType is a directory's NewSubfileType (bit 0: reduced resolution,
// bit 2: mask), from the old SubfileType when only that is present.
func (s *tiffStrip) subfileType(d *tiff.Dir) uint64 {
	if e, ok := d.Find(tagNewSubfileType); ok {
		if v, err := s.f.Uints(e); err == nil && len(v) == 1 {
			return v[0]
		}
	}
	if e, ok := d.Find(tagSubfileType); ok {
		if v, err := s.f.Uints(e); err == nil && len(v) == 1 && v[0] == 2 {
			return 1
		}
	}
	return 0
}

// choose picks the directories to keep, in output order, and for DNG the
// directory holding the camera-level tags (IFD0). It reports the others.
func (s *tiffStrip) choose(dirs []*tiff.Dir) (keep []*tiff.Dir, fileDir *tiff.Dir, err error) {
	ifd0 := dirs[0]
	_, geo := ifd0.Find(tagGeoKeyDirectory)
	_, dng := ifd0.Find(tagDNGVersion)
	var chain, subs []*tiff.Dir
	for _, d := range dirs {
		switch {
		case chainPath.MatchString(d.Path):
			chain = append(chain, d)
		case !isExifPath(d.Path):
			subs = append(subs, d)
		}
	}
	label := func(d *tiff.Dir) string {
		nst := s.subfileType(d)
		_, thumb := d.Find(tagJPEGIF)
		switch {
		case nst&4 != 0:
			return d.Path + " (mask)"
		case geo && chainPath.MatchString(d.Path) && nst&1 != 0:
			return d.Path + " (overview)"
		case thumb || chainPath.MatchString(d.Path) && nst&1 != 0:
			return d.Path + " (thumbnail)"
		case nst&1 != 0:
			return d.Path + " (preview)"
		}
		return d.Path + " (image)"
	}
	if !dng {
		for _, d := range subs {
			if s.subfileType(d) == 0 && hasImageData(d) {
				// A vendor raw format or an unknown layout: which image
				// is the main one cannot be told, so no copy is made.
				return nil, nil, fmt.Errorf("strip tiff: full-resolution image in %s of a file that is not DNG: %w", d.Path, ErrUnsupported)
			}
		}
	}
	switch {
	case dng:
		fileDir = ifd0
		for _, d := range append([]*tiff.Dir{ifd0}, subs...) {
			if len(keep) == 0 && s.subfileType(d) == 0 && hasImageData(d) {
				keep = append(keep, d)
			}
		}
		if len(keep) == 0 {
			return nil, nil, fmt.Errorf("strip tiff: DNG without a full-resolution raw image: %w", ErrUnsupported)
		}
	case geo && s.p.Keeps(Georeference):
		keep = chain
	default:
		for _, d := range chain {
			_, thumb := d.Find(tagJPEGIF)
			if s.subfileType(d)&1 == 0 && !thumb {
				keep = append(keep, d)
			}
		}
		if len(keep) == 0 {
			return nil, nil, fmt.Errorf("strip tiff: no full-resolution image: %w", ErrUnsupported)
		}
	}
	for _, d := range dirs {
		if !slices.Contains(keep, d) && !isExifPath(d.Path) {
			if d == ifd0 && dng {
				s.rep.remove("IFD0 (preview)")
				continue
			}
			s.rep.remove(label(d))
		}
	}
	return keep, fileDir, nil
}

func hasImageData(d *tiff.Dir) bool {
	_, so := d.Find(tagStripOffsets)
	_, to := d.Find(tagTileOffsets)
	return so || to
}

// keeps reports whether an allowlisted tag is kept under profile p.
func (s *tiffStrip) keeps(t tiffTag) bool {
	return t.keep == decoding || t.keep != "" && s.p.Keeps(t.keep)
}

// image builds the output directory of the image d. merge, when not nil,
// is the DNG IFD0 whose camera-level tags join the raw image's. exifIFD0
// says that d or merge is the input's IFD0, whose Make, Model and date are
// handled by gatherEXIF.
func (s *tiffStrip) image(d, merge *tiff.Dir, exifIFD0 bool) (*ifdDir, error) {
	out := &ifdDir{}
	if e, ok := d.Find(tagCompression); ok {
		if v, err := s.f.Uints(e); err == nil && len(v) == 1 && v[0] == 6 {
			// Old-style JPEG keeps parts of its stream outside the strips.
			return nil, fmt.Errorf("strip tiff: %s: old-style JPEG compression: %w", d.Path, ErrUnsupported)
		}
	}
	if err := s.imageData(d, out); err != nil {
		return nil, err
	}
	for _, e := range d.Entries {
		switch e.Tag {
		case tagStripOffsets, tagStripByteCounts, tagTileOffsets, tagTileByteCounts:
			continue
		}
		if err := s.entry(d, e, out, exifIFD0 && merge == nil); err != nil {
			return nil, err
		}
	}
	if merge != nil {
		for _, e := range merge.Entries {
			t, ok := tiffTags[e.Tag]
			if ok && t.keep != "" && t.image {
				continue // the preview's own description: dropped with it
			}
			if ok && s.keeps(t) && out.has(e.Tag) {
				continue // the raw image's own value wins
			}
			if err := s.entry(merge, e, out, true); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// entry copies the entry e of d to out when the allowlist and the profile
// keep it, and reports it otherwise. Tags of IFD0 that the EXIF rules
// handle are left to gatherEXIF when exifIFD0 is set.
func (s *tiffStrip) entry(d *tiff.Dir, e tiff.Entry, out *ifdDir, exifIFD0 bool) error {
	t, ok := tiffTags[e.Tag]
	if exifIFD0 && (!ok || t.keep == "") {
		if _, isExif := exifRules[e.Tag]; isExif || e.Tag == tagExifIFD || e.Tag == tagGPSIFD {
			return nil
		}
	}
	if !ok || !s.keeps(t) {
		s.rep.remove(tagLabel(d.Path, e.Tag, false))
		return nil
	}
	if out.has(e.Tag) {
		return nil
	}
	v, err := s.f.Value(e)
	if err != nil {
		return tiffError(e.Pos, fmt.Sprintf("%s tag 0x%04X", d.Path, e.Tag), err)
	}
	out.add(e.Tag, e.Type, e.Count, v)
	s.copied[e.Pos] = true
	if t.keep != decoding {
		s.rep.keep(tagLabel(d.Path, e.Tag, false))
	}
	return nil
}

// reportDropped names the non-allowlisted tags of a directory dropped as a
// whole, except those skip says are reported elsewhere.
func (s *tiffStrip) reportDropped(d *tiff.Dir, skip func(uint16) bool) {
	for _, e := range d.Entries {
		if t, ok := tiffTags[e.Tag]; (!ok || t.keep == "") && (skip == nil || !skip(e.Tag)) {
			if _, isExif := exifRules[e.Tag]; isExif || e.Tag == tagExifIFD || e.Tag == tagGPSIFD {
				continue // reported by gatherEXIF
			}
			s.rep.remove(tagLabel(d.Path, e.Tag, false))
		}
	}
}

// imageData adds d's strip or tile offsets and byte counts to out, the
// offsets as references to data blocks.
func (s *tiffStrip) imageData(d *tiff.Dir, out *ifdDir) error {
	offTag, cntTag := uint16(tagStripOffsets), uint16(tagStripByteCounts)
	oe, strips := d.Find(tagStripOffsets)
	te, tiles := d.Find(tagTileOffsets)
	switch {
	case strips && tiles:
		return fmt.Errorf("strip tiff: %s has both strips and tiles: %w", d.Path, ErrUnsupported)
	case tiles:
		oe, offTag, cntTag = te, tagTileOffsets, tagTileByteCounts
	case !strips:
		return &FormatError{Format: TIFF, Offset: d.Offset, Reason: d.Path + ": image without strips or tiles"}
	}
	ce, ok := d.Find(cntTag)
	if !ok {
		return &FormatError{Format: TIFF, Offset: d.Offset, Reason: fmt.Sprintf("%s: tag 0x%04X without byte counts", d.Path, offTag)}
	}
	if oe.Count != ce.Count || oe.Count == 0 {
		return &FormatError{Format: TIFF, Offset: oe.Pos, Reason: fmt.Sprintf("%s: %d offsets for %d byte counts", d.Path, oe.Count, ce.Count)}
	}
	if oe.Count > uint64(maxBlocks-len(s.blocks)) {
		return fmt.Errorf("strip tiff: %s: %d strips or tiles, more than %d in all: %w", d.Path, oe.Count, maxBlocks, ErrUnsupported)
	}
	offs, err := s.f.Uints(oe)
	if err != nil {
		return tiffError(oe.Pos, d.Path+" offsets", err)
	}
	cb, err := s.f.Value(ce)
	if err != nil {
		return tiffError(ce.Pos, d.Path+" byte counts", err)
	}
	counts := tiff.DecodeUints(s.f.Order, ce.Type, cb)
	if len(counts) != len(offs) {
		return &FormatError{Format: TIFF, Offset: ce.Pos, Reason: d.Path + ": byte counts are not integers"}
	}
	idx := make([]int32, len(offs))
	for i, off := range offs {
		n := counts[i]
		switch {
		case n == 0:
			idx[i] = -1 // sparse: no data, written as offset 0
			continue
		case off == 0 || off > uint64(s.size) || n > uint64(s.size)-off:
			return &FormatError{Format: TIFF, Offset: oe.Pos, Reason: fmt.Sprintf("%s: block %d (%d bytes at offset %d) outside the file", d.Path, i, n, off)}
		}
		idx[i] = int32(len(s.blocks))
		s.blocks = append(s.blocks, dataBlock{src: int64(off), n: int64(n)})
	}
	out.fields = append(out.fields,
		ifdField{tag: offTag, blocks: idx},
		ifdField{tag: cntTag, typ: ce.Type, count: ce.Count, data: cb})
	s.copied[oe.Pos], s.copied[ce.Pos] = true, true
	return nil
}

// finishBlocks sorts the data blocks by source offset, so that they are
// read and written front to back in the source's order, merges blocks
// that several entries point at (they are written once), and rejects
// blocks that overlap without being identical: no copy of those would be
// faithful to one layout.
func (s *tiffStrip) finishBlocks(chain []*ifdDir) error {
	order := make([]int32, len(s.blocks))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		return cmp.Or(cmp.Compare(s.blocks[a].src, s.blocks[b].src), cmp.Compare(s.blocks[a].n, s.blocks[b].n))
	})
	remap := make([]int32, len(s.blocks))
	var sorted []dataBlock
	for _, old := range order {
		b := s.blocks[old]
		if n := len(sorted); n > 0 {
			last := sorted[n-1]
			if b == last {
				remap[old] = int32(n - 1)
				continue
			}
			if b.src < last.src+last.n {
				return fmt.Errorf("strip tiff: strips or tiles overlap at offset %d: %w", b.src, ErrUnsupported)
			}
		}
		remap[old] = int32(len(sorted))
		sorted = append(sorted, b)
	}
	for _, d := range chain {
		for i := range d.fields {
			for j, b := range d.fields[i].blocks {
				if b >= 0 {
					d.fields[i].blocks[j] = remap[b]
				}
			}
		}
	}
	s.blocks = sorted
	return nil
}

// checkPrivate refuses a kept strip or tile that shares bytes with a
// directory of the source (kept or not: its entries hold short values
// inline, those of dropped tags too) or with the out-of-line value of an
// entry the copy does not carry as it is (a dropped ImageDescription, a
// serial number, a maker note, the EXIF and GPS values, which are
// rebuilt). Copying such a block would put the dropped bytes into the copy
// while the report says they were removed, so no copy is made. It runs
// after finishBlocks, on sorted blocks that do not overlap.
func (s *tiffStrip) checkPrivate(dirs []*tiff.Dir) error {
	countLen, entryLen, nextLen := int64(2), int64(12), int64(4)
	if s.f.Big {
		countLen, entryLen, nextLen = 8, 20, 8
	}
	type span struct {
		off, end int64
		what     string
	}
	var spans []span
	add := func(off, n int64, what string) {
		if off < 0 || n <= 0 || off >= s.size {
			return
		}
		spans = append(spans, span{off, off + min(n, s.size-off), what})
	}
	for _, d := range dirs {
		add(d.Offset, countLen+int64(len(d.Entries))*entryLen+nextLen, d.Path)
		for _, e := range d.Entries {
			n, ok := e.Size()
			if !ok || s.copied[e.Pos] || e.Offset >= d.Offset && e.Offset < d.Offset+countLen+int64(len(d.Entries))*entryLen {
				continue // unknown size, carried as it is, or inline
			}
			add(e.Offset, n, fmt.Sprintf("%s tag 0x%04X", d.Path, e.Tag))
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.off, b.off) })
	// Both lists are sorted by start and the blocks do not overlap: for
	// each span, the first block ending after its start decides.
	i := 0
	for _, sp := range spans {
		for i < len(s.blocks) && s.blocks[i].src+s.blocks[i].n <= sp.off {
			i++
		}
		if i == len(s.blocks) {
			break
		}
		if b := s.blocks[i]; b.src < sp.end {
			return fmt.Errorf("strip tiff: the strip or tile at offset %d (%d bytes) overlaps %s, which the copy drops or rebuilds; keep the original: %w",
				b.src, b.n, sp.what, ErrUnsupported)
		}
	}
	return nil
}
