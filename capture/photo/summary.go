package photo

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/openexhibit/exhibit/capture"
)

// Summarize implements capture.Summarizer: the capture time (the camera's
// clock), camera, lens, GPS position and which identifying fields the
// original holds (by name only: their values stay in the metadata
// document).
func (*Reader) Summarize(stored json.RawMessage) (*capture.Summary, error) {
	var m struct {
		Summary Summary `json:"summary"`
	}
	if err := json.Unmarshal(stored, &m); err != nil {
		return nil, err
	}
	p := &m.Summary
	var facts []capture.Fact
	add := func(label, value string) {
		if value != "" {
			facts = append(facts, capture.Fact{Label: label, Value: value})
		}
	}
	if p.CaptureTime != "" {
		add("captured", p.CaptureTime+" ("+p.CaptureTimeSource+", the camera's clock)")
	}
	add("camera", strings.TrimSpace(p.Make+" "+p.Model))
	add("lens", p.Lens)
	if p.Latitude != nil && p.Longitude != nil {
		add("gps", fmt.Sprintf("%.6f, %.6f", *p.Latitude, *p.Longitude))
	}
	var ids []string
	for name, on := range map[string]bool{"body serial": p.BodySerial, "lens serial": p.LensSerial, "owner/artist": p.Owner, "XMP": p.XMP, "IPTC": p.IPTC} {
		if on {
			ids = append(ids, name)
		}
	}
	sort.Strings(ids)
	add("identifying", strings.Join(ids, ", "))
	return &capture.Summary{Value: m, Facts: facts}, nil
}
