package geo

import "math"

// ellipsoid is a reference ellipsoid: semi-major axis a (metres) and
// flattening f.
type ellipsoid struct {
	name string
	a, f float64
}

var (
	wgs84      = ellipsoid{"WGS 84", 6378137, 1 / 298.257223563}
	grs80      = ellipsoid{"GRS 1980", 6378137, 1 / 298.257222101}
	wgs72      = ellipsoid{"WGS 72", 6378135, 1 / 298.26}
	clarke1866 = ellipsoid{"Clarke 1866", 6378206.4, (6378206.4 - 6356583.8) / 6378206.4}
)

// k0 is UTM's scale on the central meridian.
const k0 = 0.9996

// series gives the third flattening n and the rectifying radius A that the
// Krüger series use.
func (e ellipsoid) series() (n, A float64) {
	n = e.f / (2 - e.f)
	return n, e.a / (1 + n) * (1 + n*n/4 + n*n*n*n/64)
}

// utmCRS is a projected CRS that is a UTM zone on a known datum.
type utmCRS struct {
	zone    int
	south   bool
	ell     ellipsoid
	geogCRS int // EPSG code of the geographic CRS the degrees are on
	name    string
}

// utmFromEPSG recognizes the EPSG codes of UTM zones on common datums. The
// codes are arithmetic (prefix + zone), so no table of parameters is
// needed: UTM is transverse Mercator with scale 0.9996, false easting
// 500 000 m, false northing 0 (north) or 10 000 000 m (south), central
// meridian 6 × zone − 183°.
func utmFromEPSG(code int) (utmCRS, bool) {
	in := func(lo, hi int) bool { return code >= lo && code <= hi }
	switch {
	case in(32601, 32660):
		return utmCRS{code - 32600, false, wgs84, 4326, "WGS 84 / UTM zone %dN"}, true
	case in(32701, 32760):
		return utmCRS{code - 32700, true, wgs84, 4326, "WGS 84 / UTM zone %dS"}, true
	case in(32201, 32260):
		return utmCRS{code - 32200, false, wgs72, 4322, "WGS 72 / UTM zone %dN"}, true
	case in(32301, 32360):
		return utmCRS{code - 32300, true, wgs72, 4322, "WGS 72 / UTM zone %dS"}, true
	case in(26901, 26923):
		return utmCRS{code - 26900, false, grs80, 4269, "NAD83 / UTM zone %dN"}, true
	case in(26701, 26722):
		return utmCRS{code - 26700, false, clarke1866, 4267, "NAD27 / UTM zone %dN"}, true
	case in(25828, 25838):
		return utmCRS{code - 25800, false, grs80, 4258, "ETRS89 / UTM zone %dN"}, true
	case in(28348, 28358):
		return utmCRS{code - 28300, true, grs80, 4283, "GDA94 / MGA zone %d"}, true
	}
	return utmCRS{}, false
}

// toDegrees converts UTM easting and northing (metres) to longitude and
// latitude in degrees on the zone's datum, with the Krüger series to fourth
// order in n (Karney 2011), accurate to well under a millimetre within a
// zone and its usual overlap.
func (u utmCRS) toDegrees(easting, northing float64) (lon, lat float64) {
	n, A := u.ell.series()
	n2, n3, n4 := n*n, n*n*n, n*n*n*n
	beta := [4]float64{
		n/2 - 2*n2/3 + 37*n3/96 - n4/360,
		n2/48 + n3/15 - 437*n4/1440,
		17*n3/480 - 37*n4/840,
		4397 * n4 / 161280,
	}
	delta := [4]float64{
		2*n - 2*n2/3 - 2*n3 + 116*n4/45,
		7*n2/3 - 8*n3/5 - 227*n4/45,
		56*n3/15 - 136*n4/35,
		4279 * n4 / 630,
	}
	y := northing
	if u.south {
		y -= 10000000
	}
	xi := y / (k0 * A)
	eta := (easting - 500000) / (k0 * A)
	xiP, etaP := xi, eta
	for j := 1; j <= 4; j++ {
		b := beta[j-1]
		xiP -= b * math.Sin(2*float64(j)*xi) * math.Cosh(2*float64(j)*eta)
		etaP -= b * math.Cos(2*float64(j)*xi) * math.Sinh(2*float64(j)*eta)
	}
	chi := math.Asin(math.Sin(xiP) / math.Cosh(etaP))
	phi := chi
	for j := 1; j <= 4; j++ {
		phi += delta[j-1] * math.Sin(2*float64(j)*chi)
	}
	lambda0 := float64(6*u.zone-183) * math.Pi / 180
	lam := lambda0 + math.Atan2(math.Sinh(etaP), math.Cos(xiP))
	return normLon(lam * 180 / math.Pi), phi * 180 / math.Pi
}

func normLon(l float64) float64 {
	for l > 180 {
		l -= 360
	}
	for l < -180 {
		l += 360
	}
	return l
}

// fromDegrees converts longitude and latitude in degrees on the zone's
// datum to UTM easting and northing (metres), with the Krüger series to
// fourth order in n (Karney 2011), the inverse of toDegrees.
func (u utmCRS) fromDegrees(lon, lat float64) (easting, northing float64) {
	n, A := u.ell.series()
	n2, n3, n4 := n*n, n*n*n, n*n*n*n
	alpha := [4]float64{
		n/2 - 2*n2/3 + 5*n3/16 + 41*n4/180,
		13*n2/48 - 3*n3/5 + 557*n4/1440,
		61*n3/240 - 103*n4/140,
		49561 * n4 / 161280,
	}
	phi := lat * math.Pi / 180
	lam := normLon(lon-float64(6*u.zone-183)) * math.Pi / 180
	c := 2 * math.Sqrt(n) / (1 + n)
	t := math.Sinh(math.Atanh(math.Sin(phi)) - c*math.Atanh(c*math.Sin(phi)))
	xiP := math.Atan2(t, math.Cos(lam))
	etaP := math.Atanh(math.Sin(lam) / math.Sqrt(1+t*t))
	xi, eta := xiP, etaP
	for j := 1; j <= 4; j++ {
		a := alpha[j-1]
		xi += a * math.Sin(2*float64(j)*xiP) * math.Cosh(2*float64(j)*etaP)
		eta += a * math.Cos(2*float64(j)*xiP) * math.Sinh(2*float64(j)*etaP)
	}
	easting = 500000 + k0*A*eta
	northing = k0 * A * xi
	if u.south {
		northing += 10000000
	}
	return easting, northing
}
