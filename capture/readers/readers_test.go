package readers

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/openexhibit/exhibit/capture/strip"
)

func TestDefault(t *testing.T) {
	g, err := Default(strip.Default)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(mediaType string) (out []string) {
		for _, r := range g.For(mediaType) {
			out = append(out, r.ID())
		}
		return out
	}
	for mt, want := range map[string]string{
		"image/tiff":                "[photo/1 geo/1 strip/1]",
		"IMAGE/JPEG; q=1":           "[photo/1 strip/1]",
		"image/avif":                "[photo/1]",
		"image/heic":                "[photo/1 strip/1]",
		"text/plain; charset=utf-8": "[social-export/1]",
		"application/zip":           "[wacz/1 social-export/1]",
		"application/octet-stream":  "[]",
	} {
		if got := fmt.Sprint(ids(mt)); got != want {
			t.Errorf("For(%q) = %s, want %s", mt, got, want)
		}
	}
	// Summaries in registration order, of registered summarizers only.
	sums, err := g.Summaries(map[string]json.RawMessage{
		"geo/1":   json.RawMessage(`{"crs":{"epsg":4326,"name":"WGS 84"}}`),
		"photo/1": json.RawMessage(`{"summary":{"make":"Canon","model":"EOS R5","bodySerial":true}}`),
		"other/1": json.RawMessage(`{}`),
		"strip/1": json.RawMessage(`{}`),
	})
	if err != nil || len(sums) != 2 || sums[0].Reader != "photo/1" || sums[1].Reader != "geo/1" {
		t.Fatalf("summaries %+v, %v", sums, err)
	}
	if f := sums[0].Facts; len(f) != 2 || f[0].Value != "Canon EOS R5" || f[1].Value != "body serial" {
		t.Fatalf("photo facts %+v", f)
	}
	if _, err := g.Summaries(map[string]json.RawMessage{"photo/1": json.RawMessage(`[`)}); err == nil {
		t.Fatal("a malformed output summarized")
	}
}
