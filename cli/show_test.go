package cli

import (
	"strings"
	"testing"
)

// TestProvenanceRows: a provenance is shown field by field in the order
// signed: nested objects by dotted names, lists of objects by index, a
// list of numbers on one row, of strings one per line (a mixed list
// keeps its name on each object), an empty list as "(none)".
func TestProvenanceRows(t *testing.T) {
	var got []string
	row := func(k, v string) { got = append(got, k+"="+v) }
	provenanceRows(row, []byte(`{"url": "https://a.b/", "n": 3, "author": {"name": "x", "ids": [1, 2]},
		"files": [], "mixed": ["a", {"k": "v"}, "b", {"k": "w"}], "ok": true}`))
	want := "url=https://a.b/|n=3|author.name=x|author.ids=1, 2|files=(none)|mixed=a|mixed[1].k=v|mixed=b|mixed[3].k=w|ok=true"
	if s := strings.Join(got, "|"); s != want {
		t.Errorf("got  %s\nwant %s", s, want)
	}
}
