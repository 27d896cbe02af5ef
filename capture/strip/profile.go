package strip

import (
	"fmt"
	"slices"
	"strings"
)

// Group names a set of metadata a Profile may keep. Everything not in a
// kept group is removed.
type Group string

// Groups. None of them ever keeps serial numbers, owner or artist names,
// maker notes, thumbnails, XMP, IPTC or comments.
const (
	// CaptureTime: DateTimeOriginal, DateTimeDigitized, their OffsetTime
	// and SubSecTime companions.
	CaptureTime Group = "capture-time"
	// GPS: the GPS IFD.
	GPS Group = "gps"
	// Camera: Make, Model, LensMake, LensModel (no serial numbers).
	Camera Group = "camera"
	// Orientation: the EXIF Orientation tag, which viewers need to show the
	// image the right way up.
	Orientation Group = "orientation"
	// ColorProfile: an embedded ICC profile (JPEG APP2, PNG iCCP, WebP
	// ICCP, TIFF tag 34675, HEIF colr), which changes how colours display.
	ColorProfile Group = "icc"
	// Georeference: GeoTIFF tags (ModelPixelScale, ModelTiepoint,
	// ModelTransformation, GeoKeyDirectory, GeoDoubleParams,
	// GeoAsciiParams) and GDAL_NODATA. For satellite imagery it is the
	// evidence, so the default profile keeps it.
	Georeference Group = "georeference"
)

// Groups lists every Group, sorted.
var Groups = []Group{Camera, CaptureTime, Georeference, GPS, ColorProfile, Orientation}

// Profile says what a working copy keeps. The zero Profile keeps nothing.
type Profile struct {
	// Name is recorded with the derivative.
	Name string
	// Keep lists the kept groups, sorted, without repeats.
	Keep []Group
}

// Default keeps what is needed to display the image as the original shows
// and, for GeoTIFF, where it is; it drops everything that identifies.
var Default = Profile{Name: "default", Keep: []Group{Georeference, ColorProfile, Orientation}}

// NewProfile returns a Profile keeping the named groups.
func NewProfile(name string, keep []string) (Profile, error) {
	if name == "" {
		return Profile{}, fmt.Errorf("strip profile: empty name")
	}
	p := Profile{Name: name, Keep: []Group{}}
	for _, k := range keep {
		g := Group(strings.TrimSpace(k))
		if !slices.Contains(Groups, g) {
			return Profile{}, fmt.Errorf("strip profile %s: unknown group %q (known: %s)", name, k, groupList())
		}
		if !slices.Contains(p.Keep, g) {
			p.Keep = append(p.Keep, g)
		}
	}
	slices.Sort(p.Keep)
	return p, nil
}

func groupList() string {
	s := make([]string, len(Groups))
	for i, g := range Groups {
		s[i] = string(g)
	}
	return strings.Join(s, ", ")
}

// Keeps reports whether the profile keeps group g.
func (p Profile) Keeps(g Group) bool { return slices.Contains(p.Keep, g) }

// String is the profile's name and kept groups, as recorded with a
// derivative: "default(keep=georeference,icc,orientation)".
func (p Profile) String() string {
	s := make([]string, len(p.Keep))
	for i, g := range p.Keep {
		s[i] = string(g)
	}
	slices.Sort(s)
	return p.Name + "(keep=" + strings.Join(s, ",") + ")"
}
