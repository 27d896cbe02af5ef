package geo

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// GeoKeys of GeoTIFF 1.0/1.1 this package draws meaning from.
const (
	keyModelType        = 1024
	keyRasterType       = 1025
	keyCitation         = 1026
	keyGeographicType   = 2048
	keyGeogCitation     = 2049
	keyGeogAngularUnits = 2054
	keyProjectedCSType  = 3072
	keyPCSCitation      = 3073
	keyProjLinearUnits  = 3076
	keyVerticalCSType   = 4096
)

const (
	maxKeys       = 1024
	maxDoubles    = 4096
	userDefined   = 32767
	unitDegree    = 9102
	unitMetre     = 9001
	rasterIsArea  = 1
	rasterIsPoint = 2
)

var keyNames = map[uint16]string{
	1024: "GTModelTypeGeoKey", 1025: "GTRasterTypeGeoKey", 1026: "GTCitationGeoKey",
	2048: "GeographicTypeGeoKey", 2049: "GeogCitationGeoKey", 2050: "GeogGeodeticDatumGeoKey",
	2051: "GeogPrimeMeridianGeoKey", 2052: "GeogLinearUnitsGeoKey", 2053: "GeogLinearUnitSizeGeoKey",
	2054: "GeogAngularUnitsGeoKey", 2055: "GeogAngularUnitSizeGeoKey", 2056: "GeogEllipsoidGeoKey",
	2057: "GeogSemiMajorAxisGeoKey", 2058: "GeogSemiMinorAxisGeoKey", 2059: "GeogInvFlatteningGeoKey",
	2060: "GeogAzimuthUnitsGeoKey", 2061: "GeogPrimeMeridianLongGeoKey", 2062: "GeogTOWGS84GeoKey",
	3072: "ProjectedCSTypeGeoKey", 3073: "PCSCitationGeoKey", 3074: "ProjectionGeoKey",
	3075: "ProjCoordTransGeoKey", 3076: "ProjLinearUnitsGeoKey", 3077: "ProjLinearUnitSizeGeoKey",
	3078: "ProjStdParallel1GeoKey", 3079: "ProjStdParallel2GeoKey", 3080: "ProjNatOriginLongGeoKey",
	3081: "ProjNatOriginLatGeoKey", 3082: "ProjFalseEastingGeoKey", 3083: "ProjFalseNorthingGeoKey",
	3084: "ProjFalseOriginLongGeoKey", 3085: "ProjFalseOriginLatGeoKey", 3086: "ProjFalseOriginEastingGeoKey",
	3087: "ProjFalseOriginNorthingGeoKey", 3088: "ProjCenterLongGeoKey", 3089: "ProjCenterLatGeoKey",
	3090: "ProjCenterEastingGeoKey", 3091: "ProjCenterNorthingGeoKey", 3092: "ProjScaleAtNatOriginGeoKey",
	3093: "ProjScaleAtCenterGeoKey", 3094: "ProjAzimuthAngleGeoKey", 3095: "ProjStraightVertPoleLongGeoKey",
	4096: "VerticalGeoKey", 4097: "VerticalCitationGeoKey", 4098: "VerticalDatumGeoKey", 4099: "VerticalUnitsGeoKey",
}

var errKeys = errors.New("malformed GeoKey directory")

// DecodeKeys decodes a GeoKey directory (the SHORTs of tag 34735) with its
// double (34736) and ASCII (34737) parameters. Every index and count is
// checked against the arrays given; a malformed entry stops decoding with
// the keys read so far and an error naming the entry's position.
func DecodeKeys(dir []uint64, doubles []float64, ascii string) ([]Key, error) {
	if len(dir) < 4 {
		return nil, fmt.Errorf("header cut short: %w", errKeys)
	}
	if dir[0] != 1 {
		return nil, fmt.Errorf("directory version %d: %w", dir[0], errKeys)
	}
	n := dir[3]
	if n > maxKeys || n > uint64(len(dir)-4)/4 {
		return nil, fmt.Errorf("%d keys declared in %d entries: %w", n, (len(dir)-4)/4, errKeys)
	}
	keys := make([]Key, 0, n)
	for i := uint64(0); i < n; i++ {
		e := dir[4+4*i : 8+4*i]
		id, loc, count, val := uint16(e[0]), e[1], e[2], e[3]
		k := Key{ID: id, Name: keyNames[id]}
		switch loc {
		case 0:
			k.Value = val
		case tagGeoKeyDirectory:
			if val > uint64(len(dir)) || count > uint64(len(dir))-val {
				return keys, fmt.Errorf("key %d (entry %d): values outside the directory: %w", id, i, errKeys)
			}
			k.Value = dir[val : val+count]
		case tagGeoDoubleParams:
			if val > uint64(len(doubles)) || count > uint64(len(doubles))-val {
				return keys, fmt.Errorf("key %d (entry %d): values outside the double parameters: %w", id, i, errKeys)
			}
			v := make([]any, count)
			for j, f := range doubles[val : val+count] {
				v[j] = capture.JSONFloat(f)
			}
			if count == 1 {
				k.Value = v[0]
			} else {
				k.Value = v
			}
		case tagGeoASCIIParams:
			if val > uint64(len(ascii)) || count > uint64(len(ascii))-val {
				return keys, fmt.Errorf("key %d (entry %d): text outside the ASCII parameters: %w", id, i, errKeys)
			}
			s := ascii[val : val+count]
			s = strings.TrimSuffix(s, "|")
			k.Value = strings.ToValidUTF8(strings.TrimRight(s, "\x00"), "\uFFFD")
		default:
			return keys, fmt.Errorf("key %d (entry %d): location tag %d: %w", id, i, loc, errKeys)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func keyInt(keys []Key, id uint16) (int, bool) {
	for _, k := range keys {
		if k.ID == id {
			if v, ok := k.Value.(uint64); ok {
				return int(v), true
			}
		}
	}
	return 0, false
}

func keyText(keys []Key, id uint16) string {
	for _, k := range keys {
		if k.ID == id {
			if v, ok := k.Value.(string); ok {
				return v
			}
		}
	}
	return ""
}

// georeference decodes the GeoKeys and the raster-to-model mapping of IFD0
// and computes the extents.
func (x *extraction) georeference(d *tiff.Dir) {
	m := x.m
	if e, ok := d.Find(tagGeoKeyDirectory); ok {
		dir := x.uints(d, tagGeoKeyDirectory, 4+4*maxKeys)
		doubles := x.doubles(d, tagGeoDoubleParams, maxDoubles, false)
		ascii := x.text(d, tagGeoASCIIParams)
		if e.Type != tiff.Short {
			x.problem(d.Path, e.Pos, "GeoKey directory is not of type SHORT")
		}
		keys, err := DecodeKeys(dir, doubles, ascii)
		if err != nil && dir != nil {
			x.problem(d.Path, e.Pos, err.Error())
		}
		m.GeoKeys = keys
	}
	keys := m.GeoKeys
	if v, ok := keyInt(keys, keyModelType); ok {
		m.ModelType = map[int]string{1: "projected", 2: "geographic", 3: "geocentric"}[v]
		if m.ModelType == "" {
			m.ModelType = fmt.Sprintf("unknown (%d)", v)
		}
	}
	raster := rasterIsArea
	if v, ok := keyInt(keys, keyRasterType); ok {
		raster = v
		switch v {
		case rasterIsArea:
			m.RasterType = "PixelIsArea"
		case rasterIsPoint:
			m.RasterType = "PixelIsPoint"
		default:
			m.RasterType = fmt.Sprintf("unknown (%d)", v)
		}
	}
	crs := &CRS{Citation: keyText(keys, keyCitation), GeogCitation: keyText(keys, keyGeogCitation), PCSCitation: keyText(keys, keyPCSCitation)}
	crs.GeographicEPSG, _ = keyInt(keys, keyGeographicType)
	proj, hasProj := keyInt(keys, keyProjectedCSType)
	crs.VerticalEPSG, _ = keyInt(keys, keyVerticalCSType)
	crs.LinearUnits, _ = keyInt(keys, keyProjLinearUnits)
	crs.AngularUnits, _ = keyInt(keys, keyGeogAngularUnits)
	var utm utmCRS
	isUTM := false
	switch {
	case hasProj && m.ModelType != "geographic":
		crs.EPSG = proj
		if u, ok := utmFromEPSG(proj); ok {
			utm, isUTM = u, true
			crs.Name = fmt.Sprintf(u.name, u.zone)
			if crs.GeographicEPSG == 0 {
				crs.GeographicEPSG = u.geogCRS
			}
		}
	case crs.GeographicEPSG != 0:
		crs.EPSG = crs.GeographicEPSG
		crs.Name = geographicNames[crs.GeographicEPSG]
	}
	if *crs != (CRS{}) {
		m.CRS = crs
	}

	// Raster-to-model mapping.
	tp := x.doubles(d, tagTiepoint, 6*maxTiepoints, true)
	if e, ok := d.Find(tagTiepoint); ok && e.Count > 6*maxTiepoints {
		m.TiepointCount = int(min(e.Count/6, math.MaxInt32))
	}
	for i := 0; i+6 <= len(tp); i += 6 {
		m.Tiepoints = append(m.Tiepoints, [6]float64(tp[i:i+6]))
	}
	m.PixelScale = x.doubles(d, tagPixelScale, 3, true)
	m.Transformation = x.doubles(d, tagTransformation, 16, true)
	var toModel func(i, j float64) (float64, float64)
	switch {
	case len(m.Transformation) == 16:
		t := m.Transformation
		toModel = func(i, j float64) (float64, float64) { return t[0]*i + t[1]*j + t[3], t[4]*i + t[5]*j + t[7] }
	case len(m.Tiepoints) >= 1 && len(m.PixelScale) >= 2:
		if len(m.Tiepoints) > 1 {
			x.problem(d.Path, 0, "several tie points with a pixel scale: the first one is used")
		}
		t, s := m.Tiepoints[0], m.PixelScale
		toModel = func(i, j float64) (float64, float64) { return t[3] + (i-t[0])*s[0], t[4] - (j-t[1])*s[1] }
	case len(m.Tiepoints) > 1:
		x.problem(d.Path, 0, "georeferenced by control points only: no extent computed")
	}
	if toModel == nil || m.Image.Width == 0 || m.Image.Height == 0 {
		return
	}
	// Pixel corners. For PixelIsPoint, raster coordinates name pixel
	// centres, so the image's edges lie half a pixel outside them (as GDAL
	// reads it).
	w, h := float64(m.Image.Width), float64(m.Image.Height)
	i0, j0 := 0.0, 0.0
	if raster == rasterIsPoint {
		i0, j0 = -0.5, -0.5
	}
	corners := [4][2]float64{{i0, j0}, {i0 + w, j0}, {i0 + w, j0 + h}, {i0, j0 + h}}
	var model [4][2]float64
	bb := &BBox{MinX: math.Inf(1), MinY: math.Inf(1), MaxX: math.Inf(-1), MaxY: math.Inf(-1)}
	for k, c := range corners {
		mx, my := toModel(c[0], c[1])
		if math.IsNaN(mx) || math.IsNaN(my) || math.IsInf(mx, 0) || math.IsInf(my, 0) {
			x.problem(d.Path, 0, "raster-to-model mapping gives no finite extent")
			return
		}
		model[k] = [2]float64{mx, my}
		bb.MinX, bb.MaxX = min(bb.MinX, mx), max(bb.MaxX, mx)
		bb.MinY, bb.MaxY = min(bb.MinY, my), max(bb.MaxY, my)
	}
	m.BBox = bb

	switch {
	case m.CRS != nil && m.ModelType != "projected" && !hasProj && crs.GeographicEPSG != 0 && crs.GeographicEPSG != userDefined &&
		(crs.AngularUnits == 0 || crs.AngularUnits == unitDegree):
		if bb.MinX < -540 || bb.MaxX > 540 || bb.MinY < -90.000001 || bb.MaxY > 90.000001 {
			x.problem(d.Path, 0, "geographic extent outside the range of degrees")
			return
		}
		m.Degrees = &Degrees{West: bb.MinX, South: bb.MinY, East: bb.MaxX, North: bb.MaxY, Corners: model,
			GeographicEPSG: crs.GeographicEPSG, Method: "geographic"}
	case isUTM && (crs.LinearUnits == 0 || crs.LinearUnits == unitMetre):
		deg := &Degrees{West: math.Inf(1), South: math.Inf(1), East: math.Inf(-1), North: math.Inf(-1),
			GeographicEPSG: utm.geogCRS, Method: "utm-inverse"}
		for k, c := range model {
			lon, lat := utm.toDegrees(c[0], c[1])
			deg.Corners[k] = [2]float64{lon, lat}
		}
		// The edges of a projected rectangle are curves in degrees: walk
		// them, not just the corners.
		const steps = 16
		for k := 0; k < 4; k++ {
			a, b := corners[k], corners[(k+1)%4]
			for s := 0; s <= steps; s++ {
				t := float64(s) / steps
				mx, my := toModel(a[0]+(b[0]-a[0])*t, a[1]+(b[1]-a[1])*t)
				lon, lat := utm.toDegrees(mx, my)
				deg.West, deg.East = min(deg.West, lon), max(deg.East, lon)
				deg.South, deg.North = min(deg.South, lat), max(deg.North, lat)
			}
		}
		if math.IsNaN(deg.West+deg.East+deg.South+deg.North) || deg.South < -90 || deg.North > 90 || deg.East-deg.West > 90 {
			x.problem(d.Path, 0, "UTM extent does not convert to degrees")
			return
		}
		m.Degrees = deg
	}
}

var geographicNames = map[int]string{
	4326: "WGS 84", 4269: "NAD83", 4267: "NAD27", 4258: "ETRS89", 4322: "WGS 72", 4283: "GDA94",
	4230: "ED50", 4674: "SIRGAS 2000", 4612: "JGD2000", 4490: "China Geodetic Coordinate System 2000",
}
