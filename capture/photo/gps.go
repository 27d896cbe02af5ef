package photo

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// GPS directory tags.
const (
	gpsLatitudeRef  = 0x01
	gpsLatitude     = 0x02
	gpsLongitudeRef = 0x03
	gpsLongitude    = 0x04
	gpsAltitudeRef  = 0x05
	gpsAltitude     = 0x06
	gpsTimeStamp    = 0x07
	gpsMapDatum     = 0x12
	gpsDateStamp    = 0x1D
)

// gps decodes the GPS directory. Coordinates are accepted as the standard
// three rationals (degrees, minutes, seconds) and also as one or two
// rationals, signed rationals, floats, or text ("52,50,34.01",
// "52,00000,50,00000,34,01180" with commas for decimal marks, "-38.4052");
// references are read by their first letter, whatever the case or padding.
// Values that do not decode or lie out of range are left out and reported
// (without the value).
func (d *decoder) gps(dir *tiff.Dir) {
	g := &GPS{}
	ref := func(tag uint16) (string, bool) {
		e, ok := dir.Find(tag)
		if !ok {
			return "", false
		}
		s, err := d.f.ASCII(e)
		if err != nil {
			if v, err := d.f.Uints(e); err == nil && len(v) > 0 { // a number instead of a letter
				return strconv.FormatUint(v[0], 10), true
			}
			return "", false
		}
		return strings.ToUpper(strings.TrimSpace(tiff.TrimNUL([]byte(s)))), true
	}
	coord := func(tag, refTag uint16, limit float64, neg byte, name string) *float64 {
		e, ok := dir.Find(tag)
		if !ok {
			return nil
		}
		v, ok := d.sexagesimal(e)
		if !ok {
			d.st.problem(dir.Path, d.f.Base+e.Pos, "GPS %s not decodable", name)
			return nil
		}
		r, hasRef := ref(refTag)
		switch {
		case hasRef && r != "" && r[0] == neg:
			v = -math.Abs(v)
		case !hasRef || r == "":
			d.st.problem(dir.Path, d.f.Base+e.Pos, "GPS %s reference missing; sign taken as stored", name)
		case r[0] != 'N' && r[0] != 'S' && r[0] != 'E' && r[0] != 'W':
			d.st.problem(dir.Path, d.f.Base+e.Pos, "GPS %s reference not a compass letter; sign taken as stored", name)
		}
		if math.IsNaN(v) || math.Abs(v) > limit {
			d.st.problem(dir.Path, d.f.Base+e.Pos, "GPS %s out of range", name)
			return nil
		}
		return &v
	}
	g.Latitude = coord(gpsLatitude, gpsLatitudeRef, 90, 'S', "latitude")
	g.Longitude = coord(gpsLongitude, gpsLongitudeRef, 180, 'W', "longitude")
	if e, ok := dir.Find(gpsAltitude); ok && e.Count <= 64 {
		v, err := d.f.Floats(e)
		if err != nil && e.Type == tiff.ASCII {
			if s, err2 := d.f.ASCII(e); err2 == nil {
				if x, err3 := strconv.ParseFloat(strings.TrimSpace(strings.ReplaceAll(s, ",", ".")), 64); err3 == nil {
					v, err = []float64{x}, nil
				}
			}
		}
		if err != nil || len(v) < 1 || math.IsNaN(v[0]) || math.IsInf(v[0], 0) || math.Abs(v[0]) > 1e7 {
			d.st.problem(dir.Path, d.f.Base+e.Pos, "GPS altitude not decodable")
		} else {
			alt := v[0]
			if r, ok := ref(gpsAltitudeRef); ok && (r == "1" || r == "\x01") {
				alt = -math.Abs(alt)
			}
			g.Altitude = &alt
		}
	}
	if e, ok := dir.Find(gpsMapDatum); ok {
		if n, _ := e.Size(); n <= 1024 {
			if s, err := d.f.ASCII(e); err == nil {
				g.MapDatum = cleanText(s)
			}
		}
	}
	var date string
	if e, ok := dir.Find(gpsDateStamp); ok {
		if n, _ := e.Size(); n <= 64 {
			if s, err := d.f.ASCII(e); err == nil {
				date = cleanText(s)
				g.Date = date
			}
		}
	}
	if e, ok := dir.Find(gpsTimeStamp); ok {
		if hms, ok := d.hms(e); ok {
			g.Time = hms
		} else {
			d.st.problem(dir.Path, d.f.Base+e.Pos, "GPS time stamp not decodable")
		}
	}
	if date != "" && g.Time != "" {
		if ts, _ := exifTime(date+" "+g.Time[:8], strings.TrimPrefix(g.Time[8:], "."), "Z"); ts != "" {
			g.Timestamp = ts
		}
	}
	if *g != (GPS{}) {
		d.st.m.GPS = g
	}
}

// sexagesimal decodes a coordinate to degrees (unsigned unless the type or
// text carries a sign).
func (d *decoder) sexagesimal(e tiff.Entry) (float64, bool) {
	if e.Count == 0 || e.Count > 64 {
		return 0, false
	}
	if e.Type == tiff.ASCII {
		s, err := d.f.ASCII(e)
		if err != nil {
			return 0, false
		}
		return parseDegreesText(s)
	}
	v, err := d.f.Floats(e)
	if err != nil || len(v) == 0 {
		return 0, false
	}
	if e.Type == tiff.Rational || e.Type == tiff.SRational {
		// Unknown minutes or seconds are often written as 0/0.
		b, err := d.f.Value(e)
		if err != nil {
			return 0, false
		}
		for i := 1; i < len(v) && i < 3; i++ {
			if d.f.Order.Uint32(b[i*8+4:]) == 0 && d.f.Order.Uint32(b[i*8:]) == 0 {
				v[i] = 0
			}
		}
	}
	return dms(v)
}

func dms(v []float64) (float64, bool) {
	var deg float64
	for i, x := range v[:min(3, len(v))] {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, false
		}
		deg += x / math.Pow(60, float64(i))
	}
	return deg, true
}

// parseDegreesText reads coordinates written as text: one decimal number,
// three numbers (d,m,s) separated by commas, semicolons or spaces, or six
// (each number split at a comma used as decimal mark). Degree, minute and
// second signs are ignored.
func parseDegreesText(s string) (float64, bool) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '°', '\'', '"', '′', '″':
			return ' '
		}
		return r
	}, tiff.TrimNUL([]byte(s)))
	s = strings.TrimSpace(strings.ReplaceAll(s, "deg", " "))
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
	var nums []float64
	switch len(parts) {
	case 1, 2, 3:
		for _, p := range parts {
			x, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return 0, false
			}
			nums = append(nums, x)
		}
	case 6:
		for i := 0; i < 6; i += 2 {
			x, err := strconv.ParseFloat(parts[i]+"."+parts[i+1], 64)
			if err != nil {
				return 0, false
			}
			nums = append(nums, x)
		}
	default:
		return 0, false
	}
	neg := nums[0] < 0 || strings.HasPrefix(parts[0], "-")
	for i := range nums {
		nums[i] = math.Abs(nums[i])
	}
	v, ok := dms(nums)
	if neg {
		v = -v
	}
	return v, ok
}

// hms decodes GPSTimeStamp to "15:04:05" with any fraction of a second.
func (d *decoder) hms(e tiff.Entry) (string, bool) {
	var v []float64
	if e.Type == tiff.ASCII {
		if e.Count > 64 {
			return "", false
		}
		s, err := d.f.ASCII(e)
		if err != nil {
			return "", false
		}
		parts := strings.FieldsFunc(tiff.TrimNUL([]byte(s)), func(r rune) bool { return r == ',' || r == ':' || r == ';' || r == ' ' })
		if len(parts) == 6 {
			parts = []string{parts[0] + "." + parts[1], parts[2] + "." + parts[3], parts[4] + "." + parts[5]}
		}
		if len(parts) != 3 {
			return "", false
		}
		for _, p := range parts {
			x, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return "", false
			}
			v = append(v, x)
		}
	} else {
		if e.Count != 3 {
			return "", false
		}
		var err error
		if v, err = d.f.Floats(e); err != nil {
			return "", false
		}
	}
	if len(v) != 3 {
		return "", false
	}
	secs := v[0]*3600 + v[1]*60 + v[2]
	if math.IsNaN(secs) || secs < 0 || secs >= 86400 || v[0] != math.Trunc(v[0]) || v[1] != math.Trunc(v[1]) || v[1] >= 60 || v[2] < 0 || v[2] >= 61 {
		return "", false
	}
	h, m := int(v[0]), int(v[1])
	sec := strconv.FormatFloat(v[2], 'f', -1, 64) // "42.79": the shortest form, no binary noise
	whole, frac, _ := strings.Cut(sec, ".")
	ws, _ := strconv.Atoi(whole)
	out := fmt.Sprintf("%02d:%02d:%02d", h, m, ws)
	if frac = strings.TrimRight(frac, "0"); frac != "" {
		out += "." + frac[:min(len(frac), 9)]
	}
	return out, true
}
