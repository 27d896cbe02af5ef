package geo

import (
	"encoding/json"
	"fmt"

	"github.com/openexhibit/exhibit/capture"
)

// Summarize implements capture.Summarizer: the coordinate reference
// system, the extent in degrees and the TIFF's own date.
func (*Reader) Summarize(stored json.RawMessage) (*capture.Summary, error) {
	var g Metadata
	if err := json.Unmarshal(stored, &g); err != nil {
		return nil, err
	}
	var facts []capture.Fact
	if g.CRS != nil && g.CRS.EPSG != 0 {
		facts = append(facts, capture.Fact{Label: "crs", Value: fmt.Sprintf("EPSG:%d %s", g.CRS.EPSG, g.CRS.Name)})
	}
	if d := g.Degrees; d != nil {
		facts = append(facts, capture.Fact{Label: "extent", Value: fmt.Sprintf("W %.6f S %.6f E %.6f N %.6f (degrees)", d.West, d.South, d.East, d.North)})
	}
	if g.DateTime != "" {
		facts = append(facts, capture.Fact{Label: "tiff date", Value: g.DateTime})
	}
	return &capture.Summary{Value: &g, Facts: facts}, nil
}
