package geo

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// SceneID names the scene reader and its output version.
const SceneID = "geo-scene/1"

// Scene makes the derivatives of a satellite scene's georeferenced tiled
// TIFF (a cloud-optimized GeoTIFF): "clip.tif", the whole tiles of the
// full-resolution image that cover an area of interest, copied byte for
// byte with their georeference, so that the clip is provably the
// provider's pixels without decoding them (its record lists where each
// tile is in the original, and verify compares them); and "preview.png",
// a small picture decoded from the smallest overview that is large
// enough. Its metadata says why either was not made.
type Scene struct{ aoi *AOI }

// NewScene returns the scene reader; aoi nil makes no clip.
func NewScene(aoi *AOI) *Scene { return &Scene{aoi: aoi} }

// ID implements capture.Reader.
func (*Scene) ID() string { return SceneID }

// MediaTypes implements capture.Reader.
func (*Scene) MediaTypes() []string { return []string{"image/tiff"} }

// SceneMetadata is geo-scene/1's output: what was made, or why not.
type SceneMetadata struct {
	Clip    *Made `json:"clip,omitempty"`
	Preview *Made `json:"preview,omitempty"`
}

// Made names a derivative made, or why it was not. A derivative whose
// writing failed after all is named here and its failure is among the
// metadata document's errors.
type Made struct {
	Derivative string `json:"derivative,omitempty"`
	NotMade    string `json:"notMade,omitempty"`
}

// Read implements capture.Reader.
func (s *Scene) Read(ctx context.Context, src capture.Source) (*capture.Result, error) {
	m, err := Extract(ctx, src, src.Size())
	if err != nil {
		if errors.Is(err, errNoTIFF) {
			return nil, capture.ErrUnsupported
		}
		return nil, err
	}
	f, err := tiff.Open(src, src.Size(), tiledLimits)
	if err != nil {
		return nil, fmt.Errorf("geo: %w", err)
	}
	w, err := f.Walk(nil)
	if err != nil {
		return nil, fmt.Errorf("geo: %w", err)
	}
	out := &SceneMetadata{}
	res := &capture.Result{Metadata: out}
	if s.aoi != nil {
		c, why := planClip(f, w.Dirs[0], m, *s.aoi)
		out.Clip = &Made{NotMade: why}
		if c != nil {
			out.Clip.Derivative = "clip.tif"
			res.Derivatives = append(res.Derivatives, capture.Derivative{Name: "clip.tif", Kind: "clip", MediaType: "image/tiff",
				Transform: capture.Transform{Name: "exhibit-tile-clip", Version: "1", Params: c.params()},
				Write:     func(ctx context.Context, w io.Writer) error { return c.write(ctx, w, src) }})
		}
	}
	p, why := planPreview(f, w.Dirs)
	out.Preview = &Made{NotMade: why}
	if p != nil {
		out.Preview.Derivative = "preview.png"
		res.Derivatives = append(res.Derivatives, capture.Derivative{Name: "preview.png", Kind: "preview", MediaType: "image/png",
			Transform: capture.Transform{Name: "exhibit-preview", Version: "1", Params: p.params()},
			Write:     func(ctx context.Context, w io.Writer) error { return p.write(ctx, w, src) }})
	}
	return res, nil
}
