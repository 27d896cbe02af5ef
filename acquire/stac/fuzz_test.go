package stac

import (
	"bytes"
	"testing"
)

// FuzzParsePage reads a search page as a server might send it: never a
// panic; each item kept is its exact bytes within the page, with an ID.
func FuzzParsePage(f *testing.F) {
	f.Add([]byte(`{"type": "FeatureCollection", "features": [{"type": "Feature", "id": "a", "assets": {"v": {"href": "x", "file:checksum": "1220", "file:size": 3}}, "properties": {"eo:cloud_cover": 5}}], "links": [{"rel": "next", "href": "/s", "method": "POST", "body": {"token": "1"}, "merge": true}], "numberMatched": 1}`))
	f.Add([]byte(`{"type": "FeatureCollection", "features": [], "context": {"matched": 0}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePage(&Response{URL: "http://x/search", Body: b})
		if err != nil {
			return
		}
		for _, it := range p.Items {
			if it.ID == "" || !bytes.Contains(b, it.Raw) {
				t.Fatalf("item %q not from the page", it.ID)
			}
			it.CloudCover()
			it.SelfURL("http://x/")
		}
		if p.Next != nil {
			mergeJSON([]byte(`{"a": 1}`), p.Next.Body)
		}
	})
}
