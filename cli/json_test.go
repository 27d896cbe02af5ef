package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestJSONGolden pins the shapes of verify's JSON report and of the error
// object (docs/formats.md, "JSON output of the commands"): field names,
// order, the schema first, empty fields left out. Refresh with -update.
func TestJSONGolden(t *testing.T) {
	const item = "sha256:3f2a6b0a1c5e4d7f8e9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e"
	rep := &verify.Report{Archive: "file:///srv/archive", Checked: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), Status: verify.Pass}
	rep.Add(verify.ItemReport{Item: item, Status: verify.Fail, Case: "kharkiv-0312", Name: "IMG_0412.jpg", Checks: []verify.Check{
		{ID: "record-signature", Name: "record signature", Object: "items/3f2a/record.sigstore.json", Status: verify.Pass, Detail: "signed by trusted key sha256:ab"},
		{ID: "original-digests", Name: "original digests", Object: "objects/sha256/3f/3f2a", Status: verify.Fail, Expected: "sha256:3f2a", Found: "sha256:77e4"},
		{ID: "derivative", Name: "derivative working-copy.jpg", Subject: "working-copy.jpg", Object: "objects/sha256/9c/9c01", Status: verify.Pass},
	}})
	rep.Add(verify.DeletedItem("sha256:51d0000000000000000000000000000000000000000000000000000000000000", verify.Logged{Index: 212, Case: "kharkiv-0312"}))
	for name, write := range map[string]func(*bytes.Buffer) error{
		"verify.json": func(b *bytes.Buffer) error { return writeJSON(b, schemaVerify, rep) },
		"error.json": func(b *bytes.Buffer) error {
			return writeJSON(b, schemaError, map[string]any{"event": "error", "error": "not found in the archive", "hint": "check the item ID", "exitCode": 3})
		},
	} {
		var got bytes.Buffer
		if err := write(&got); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./cli -run TestJSONGolden -update)", err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s changed:\n got %s\nwant %s\n(a new shape is a new schema version: see docs/formats.md; -update rewrites)", name, got.Bytes(), want)
		}
	}
}
