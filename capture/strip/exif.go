package strip

import (
	"bytes"
	"fmt"

	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// Tags that point at the EXIF, GPS and interoperability directories.
const (
	tagExifIFD    = 0x8769
	tagGPSIFD     = 0x8825
	tagInteropIFD = 0xA005
	tagExifVer    = 0x9000
)

// Where a kept EXIF tag is written.
type exifPlace int

const (
	inIFD0 exifPlace = iota
	inExif
	inGPS
)

// exifRule says which group keeps a tag, where it goes and what values it
// may have: text (ASCII) or numbers, and at most max values. Values of
// another kind are dropped: a tag is copied only in the shape the EXIF
// specification gives it.
type exifRule struct {
	group Group
	place exifPlace
	ascii bool
	max   uint64
}

// exifRules is the allowlist for IFD0 and the EXIF directory. Anything not
// here is dropped: serial numbers (0xA431, 0xA435, 0xC62F), owner, artist
// and copyright (0xA430, 0x013B, 0x8298), MakerNote, UserComment,
// ImageDescription, ImageUniqueID, the thumbnail directory (IFD1), the
// interoperability directory and every unknown tag.
var exifRules = map[uint16]exifRule{
	0x0112: {Orientation, inIFD0, false, 1}, // Orientation
	0x010F: {Camera, inIFD0, true, 256},     // Make
	0x0110: {Camera, inIFD0, true, 256},     // Model
	0xA433: {Camera, inExif, true, 256},     // LensMake
	0xA434: {Camera, inExif, true, 256},     // LensModel
	0x9003: {CaptureTime, inExif, true, 32}, // DateTimeOriginal
	0x9004: {CaptureTime, inExif, true, 32}, // DateTimeDigitized
	0x9011: {CaptureTime, inExif, true, 16}, // OffsetTimeOriginal
	0x9012: {CaptureTime, inExif, true, 16}, // OffsetTimeDigitized
	0x9291: {CaptureTime, inExif, true, 16}, // SubSecTimeOriginal
	0x9292: {CaptureTime, inExif, true, 16}, // SubSecTimeDigitized
}

// gpsRules is the allowlist for the GPS directory: its standard tags, with
// two exceptions. GPSProcessingMethod (0x1B) and GPSAreaInformation (0x1C)
// are free text (UNDEFINED with a character-code prefix) that apps fill
// with whatever they like, device and account names included; the
// position, time and accuracy are in the other tags, so nothing a viewer
// or an investigator needs to place the image is lost.
var gpsRules = map[uint16]exifRule{
	0x00: {GPS, inGPS, false, 4}, // GPSVersionID
	0x01: {GPS, inGPS, true, 2},  // GPSLatitudeRef
	0x02: {GPS, inGPS, false, 3}, // GPSLatitude
	0x03: {GPS, inGPS, true, 2},  // GPSLongitudeRef
	0x04: {GPS, inGPS, false, 3}, // GPSLongitude
	0x05: {GPS, inGPS, false, 1}, // GPSAltitudeRef
	0x06: {GPS, inGPS, false, 1}, // GPSAltitude
	0x07: {GPS, inGPS, false, 3}, // GPSTimeStamp
	0x08: {GPS, inGPS, true, 16}, // GPSSatellites
	0x09: {GPS, inGPS, true, 2},  // GPSStatus
	0x0A: {GPS, inGPS, true, 2},  // GPSMeasureMode
	0x0B: {GPS, inGPS, false, 1}, // GPSDOP
	0x0C: {GPS, inGPS, true, 2},  // GPSSpeedRef
	0x0D: {GPS, inGPS, false, 1}, // GPSSpeed
	0x0E: {GPS, inGPS, true, 2},  // GPSTrackRef
	0x0F: {GPS, inGPS, false, 1}, // GPSTrack
	0x10: {GPS, inGPS, true, 2},  // GPSImgDirectionRef
	0x11: {GPS, inGPS, false, 1}, // GPSImgDirection
	0x12: {GPS, inGPS, true, 32}, // GPSMapDatum
	0x13: {GPS, inGPS, true, 2},  // GPSDestLatitudeRef
	0x14: {GPS, inGPS, false, 3}, // GPSDestLatitude
	0x15: {GPS, inGPS, true, 2},  // GPSDestLongitudeRef
	0x16: {GPS, inGPS, false, 3}, // GPSDestLongitude
	0x17: {GPS, inGPS, true, 2},  // GPSDestBearingRef
	0x18: {GPS, inGPS, false, 1}, // GPSDestBearing
	0x19: {GPS, inGPS, true, 2},  // GPSDestDistanceRef
	0x1A: {GPS, inGPS, false, 1}, // GPSDestDistance
	0x1D: {GPS, inGPS, true, 11}, // GPSDateStamp
	0x1E: {GPS, inGPS, false, 1}, // GPSDifferential
	0x1F: {GPS, inGPS, false, 1}, // GPSHPositioningError
}

// exifCompanions are the tags an EXIF directory must have, with their
// shape: ExifVersion, FlashpixVersion, ColorSpace.
var exifCompanions = map[uint16]struct {
	typ   tiff.Type
	count uint64
}{
	tagExifVer: {tiff.Undefined, 4},
	0xA000:     {tiff.Undefined, 4},
	0xA001:     {tiff.Short, 1},
}

// exifOut holds the directories of kept EXIF tags while they are gathered.
type exifOut struct {
	ifd0, exif, gps ifdDir
	// companions are the source's ExifVersion, FlashpixVersion and
	// ColorSpace, copied only when an EXIF directory is written: the
	// specification requires them there, and they identify nothing.
	companions ifdDir
	removed    []string
	had        map[uint16]bool // pointer tags IFD0 had
}

// numericType reports whether t is a type a numeric EXIF value may have.
func numericType(t tiff.Type) bool {
	switch t {
	case tiff.Byte, tiff.Short, tiff.Long, tiff.Rational, tiff.SByte, tiff.SShort, tiff.SLong,
		tiff.SRational, tiff.Float, tiff.Double:
		return true
	}
	return false
}

// gather copies the kept entries of d (IFD0, the EXIF or the GPS directory,
// as gps says) into x and reports the others. Entries for which skip is
// true are left alone (the caller handles or reports them).
func (x *exifOut) gather(f *tiff.File, d *tiff.Dir, gps bool, p Profile, skip func(tag uint16) bool) {
	rules := exifRules
	if gps {
		rules = gpsRules
	}
	for _, e := range d.Entries {
		if skip != nil && skip(e.Tag) {
			continue
		}
		if c, ok := exifCompanions[e.Tag]; ok && !gps {
			if e.Type == c.typ && e.Count == c.count && !x.companions.has(e.Tag) {
				if v, err := f.Value(e); err == nil {
					x.companions.add(e.Tag, e.Type, e.Count, v)
					continue
				}
			}
			if x.companions.has(e.Tag) {
				continue
			}
		}
		r, ok := rules[e.Tag]
		if !ok || !p.Keeps(r.group) {
			x.removed = append(x.removed, tagLabel(d.Path, e.Tag, gps))
			continue
		}
		shapeOK := e.Count >= 1 && e.Count <= r.max && (r.ascii && e.Type == tiff.ASCII || !r.ascii && numericType(e.Type))
		if e.Tag == 0x0112 {
			shapeOK = shapeOK && e.Type == tiff.Short
		}
		var v []byte
		var err error
		if shapeOK {
			v, err = f.Value(e)
		}
		if !shapeOK || err != nil {
			x.removed = append(x.removed, tagLabel(d.Path, e.Tag, gps)+" (malformed)")
			continue
		}
		if e.Tag == 0x0112 {
			if o := f.Order.Uint16(v); o < 1 || o > 8 {
				x.removed = append(x.removed, tagLabel(d.Path, e.Tag, gps)+" (malformed)")
				continue
			}
		}
		dst := &x.ifd0
		switch r.place {
		case inExif:
			dst = &x.exif
		case inGPS:
			dst = &x.gps
		}
		if !dst.has(e.Tag) {
			dst.add(e.Tag, e.Type, e.Count, v)
		}
	}
}

// children returns the EXIF and GPS directories to point at from IFD0,
// nil when empty.
func (x *exifOut) children() (ex, gps *ifdDir) {
	if len(x.exif.fields) > 0 {
		ex = &x.exif
		for _, c := range x.companions.fields {
			if !ex.has(c.tag) {
				ex.fields = append(ex.fields, c)
			}
		}
	}
	if len(x.gps.fields) > 0 {
		gps = &x.gps
	}
	return ex, gps
}

// linkChildren adds the pointers to the EXIF and GPS directories to d.
func linkChildren(d *ifdDir, ex, gps *ifdDir) {
	if ex != nil {
		d.fields = append(d.fields, ifdField{tag: tagExifIFD, typ: tiff.Long, dirs: []*ifdDir{ex}})
	}
	if gps != nil {
		d.fields = append(d.fields, ifdField{tag: tagGPSIFD, typ: tiff.Long, dirs: []*ifdDir{gps}})
	}
}

// childDir reads the directory that IFD0's entry tag points at; nil when
// there is none or it cannot be read (its tags are then not kept, which
// never leaks anything).
func childDir(f *tiff.File, ifd0 *tiff.Dir, tag uint16, path string) *tiff.Dir {
	e, ok := ifd0.Find(tag)
	if !ok || e.Count != 1 {
		return nil
	}
	v, err := f.Uints(e)
	if err != nil || len(v) != 1 || v[0] == uint64(ifd0.Offset) {
		return nil
	}
	d, err := f.ReadDir(v[0], path)
	if err != nil {
		return nil
	}
	return d
}

// gatherEXIF gathers what p keeps from IFD0 and the EXIF and GPS
// directories it points at. ifd0Skip names IFD0 tags the caller handles
// itself (a TIFF file's image tags).
func gatherEXIF(f *tiff.File, ifd0 *tiff.Dir, p Profile, ifd0Skip func(uint16) bool) *exifOut {
	x := &exifOut{}
	isPtr := func(tag uint16) bool { return tag == tagExifIFD || tag == tagGPSIFD }
	// The EXIF directory first: where a tag is in both, its copy is the
	// one the EXIF specification places.
	if ex := childDir(f, ifd0, tagExifIFD, "IFD/Exif"); ex != nil {
		x.gather(f, ex, false, p, func(tag uint16) bool {
			if tag == tagInteropIFD {
				x.removed = append(x.removed, ex.Path+" tag 0xA005 InteropIFD (interoperability directory)")
				return true
			}
			return false
		})
	}
	if gps := childDir(f, ifd0, tagGPSIFD, "IFD/GPSInfo"); gps != nil {
		x.gather(f, gps, true, p, nil)
	}
	x.gather(f, ifd0, false, p, func(tag uint16) bool {
		return isPtr(tag) || ifd0Skip != nil && ifd0Skip(tag)
	})
	x.had = map[uint16]bool{}
	for _, t := range []uint16{tagExifIFD, tagGPSIFD} {
		if _, ok := ifd0.Find(t); ok {
			x.had[t] = true
		}
	}
	return x
}

// reportPointers reports the pointers to the EXIF and GPS directories of
// the source that the copy does not have (children returned nil).
func (x *exifOut) reportPointers(ex, gps *ifdDir) {
	if x.had[tagExifIFD] && ex == nil {
		x.removed = append(x.removed, tagLabel("IFD0", tagExifIFD, false))
	}
	if x.had[tagGPSIFD] && gps == nil {
		x.removed = append(x.removed, tagLabel("IFD0", tagGPSIFD, false))
	}
}

// keptEXIF returns a new TIFF-structured EXIF block (the payload of a JPEG
// APP1 "Exif\0\0" segment after that prefix, a PNG eXIf chunk, a WebP EXIF
// chunk, a HEIF Exif item after its offset field) holding only the tags
// that profile p keeps from the EXIF block b, or nil when nothing is kept.
// It never copies maker notes, thumbnails or unknown tags.
//
// The new block has b's byte order; IFD0 holds Orientation, Make and
// Model, the EXIF directory the other kept tags (with the source's
// ExifVersion, FlashpixVersion and ColorSpace, which it requires),
// the GPS directory the kept GPS tags. There is no IFD1. Only IFD0 and the
// two directories it points at are read; an EXIF or GPS directory that
// cannot be read is left out. It fails when b is not TIFF-structured or
// IFD0 cannot be read; the error names offsets, never values.
func keptEXIF(b []byte, p Profile) ([]byte, error) {
	f, err := tiff.Open(bytes.NewReader(b), int64(len(b)), tiff.DefaultLimits)
	if err != nil {
		return nil, fmt.Errorf("strip: EXIF block: %w", err)
	}
	ifd0, err := f.ReadDir(f.FirstIFD, "IFD0")
	if err != nil {
		return nil, fmt.Errorf("strip: EXIF block: %w", err)
	}
	if len(p.Keep) == 0 {
		return nil, nil
	}
	x := gatherEXIF(f, ifd0, p, nil)
	ex, gps := x.children()
	if len(x.ifd0.fields) == 0 && ex == nil && gps == nil {
		return nil, nil
	}
	d := &x.ifd0
	linkChildren(d, ex, gps)
	l := &tiffLayout{order: f.Order, big: f.Big, chain: []*ifdDir{d}}
	out, err := l.encode()
	if err != nil {
		return nil, fmt.Errorf("strip: EXIF block: %w", err)
	}
	return out, nil
}

// tagLabel names a tag for the Report: "IFD0 tag 0x8825 GPSInfo".
func tagLabel(path string, tag uint16, gps bool) string {
	name := tagNames[tag]
	if gps {
		name = gpsNames[tag]
	}
	if name == "" {
		return fmt.Sprintf("%s tag 0x%04X", path, tag)
	}
	return fmt.Sprintf("%s tag 0x%04X %s", path, tag, name)
}

// gpsNames names the GPS directory's tags for the Report.
var gpsNames = map[uint16]string{
	0x00: "GPSVersionID", 0x01: "GPSLatitudeRef", 0x02: "GPSLatitude", 0x03: "GPSLongitudeRef",
	0x04: "GPSLongitude", 0x05: "GPSAltitudeRef", 0x06: "GPSAltitude", 0x07: "GPSTimeStamp",
	0x08: "GPSSatellites", 0x09: "GPSStatus", 0x0A: "GPSMeasureMode", 0x0B: "GPSDOP",
	0x0C: "GPSSpeedRef", 0x0D: "GPSSpeed", 0x0E: "GPSTrackRef", 0x0F: "GPSTrack",
	0x10: "GPSImgDirectionRef", 0x11: "GPSImgDirection", 0x12: "GPSMapDatum",
	0x13: "GPSDestLatitudeRef", 0x14: "GPSDestLatitude", 0x15: "GPSDestLongitudeRef",
	0x16: "GPSDestLongitude", 0x17: "GPSDestBearingRef", 0x18: "GPSDestBearing",
	0x19: "GPSDestDistanceRef", 0x1A: "GPSDestDistance", 0x1B: "GPSProcessingMethod",
	0x1C: "GPSAreaInformation", 0x1D: "GPSDateStamp", 0x1E: "GPSDifferential",
	0x1F: "GPSHPositioningError",
}
