// Package readers is the registry of every format reader Exhibit ships,
// in the order they run: photo/1 (photo metadata), geo/1 (GeoTIFF
// georeference), strip/1 (stripped working copies), wacz/1 (web
// archives: checked, and a capture's page attachments as derivatives) and
// social-export/1 (X archives and Telegram exports: their posts);
// WithScene adds geo-scene/1 for satellite acquisitions. A new
// reader is added here, and its package implements capture.Reader (and
// capture.Summarizer for what exhibit show prints of it).
package readers

import (
	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/geo"
	"github.com/openexhibit/exhibit/capture/photo"
	"github.com/openexhibit/exhibit/capture/social"
	"github.com/openexhibit/exhibit/capture/strip"
	"github.com/openexhibit/exhibit/capture/wacz"
)

// Default is the registry of every reader, with working copies stripped by
// profile.
func Default(profile strip.Profile) (*capture.Registry, error) {
	return capture.NewRegistry(photo.New(), geo.New(), strip.NewReader(profile), wacz.New(), social.New())
}

// WithScene is base (nil: no readers) with the satellite scene reader
// added (geo-scene/1: each COG's preview, and with aoi its clip), as a
// STAC acquisition reads its assets.
func WithScene(base *capture.Registry, aoi *geo.AOI) (*capture.Registry, error) {
	var rs []capture.Reader
	if base != nil {
		rs = base.Readers()
	}
	return capture.NewRegistry(append(rs, geo.NewScene(aoi))...)
}
