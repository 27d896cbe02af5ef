package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/verify"
)

// scene is a two-part acquisition of a kind ingest does not know: an item
// document given as a stream and an asset read from a local file.
func scene(t *testing.T, doc string, asset string) *ingest.Acquisition {
	t.Helper()
	return &ingest.Acquisition{
		Kind:           "stac",
		ProvenanceType: "https://example.org/provenance/stac-item/v1",
		Provenance:     map[string]string{"api": "https://stac.example/v1", "item": "S2B_36UUA"},
		By:             "Imagery desk",
		Tools:          []custody.AcquisitionTool{{Name: "stac-fetch", Version: "2.1"}},
		Parts: []ingest.Part{
			{Name: "item.json", FileName: "S2B_36UUA.json", Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader(doc)), nil
			}},
			{Name: "asset/visual", Path: asset},
		},
	}
}

func record(t *testing.T, e *env, item string) *custody.Record {
	t.Helper()
	id, _ := hashing.ParseDigest(item)
	data, err := os.ReadFile(filepath.Join(e.dir, filepath.FromSlash(custody.RecordKey(id))))
	if err != nil {
		t.Fatal(err)
	}
	s, err := custody.ParseStatement(data)
	if err != nil {
		t.Fatal(err)
	}
	return &s.Predicate
}

// TestAcquire: the parts of one acquisition become items whose signed
// records each name the whole acquisition, so that a verifier finding one
// part notices a missing other.
func TestAcquire(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	asset, assetID := writeFile(t, 5000)
	doc := `{"type":"Feature","id":"S2B_36UUA"}`
	tmp := t.TempDir()
	in, err := ingest.New(ctx, ingest.Options{Store: e.store, Signer: e.signer, Verifier: e.trust, TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	res := in.Acquire(ctx, []*ingest.Acquisition{scene(t, doc, asset)})[0]
	if len(res) != 2 || res[0].Status != ingest.Archived || res[1].Status != ingest.Archived {
		t.Fatalf("results %+v", res)
	}
	if res[0].Acquisition == "" || res[0].Acquisition != res[1].Acquisition || res[0].Part != "item.json" || res[1].Item != assetID.String() {
		t.Fatalf("results %+v", res)
	}
	docID := hashing.Bytes([]byte(doc)).SHA256.String()
	for i, r := range res {
		rec := record(t, e, r.Item)
		a := rec.Acquisition
		if a == nil || a.ID != r.Acquisition || a.Part != r.Part || a.Kind != "stac" || a.By != "Imagery desk" || a.Clock != custody.ClockHost {
			t.Fatalf("part %d: acquisition %+v", i, a)
		}
		if len(a.Parts) != 2 || a.Parts[0].Item != docID || a.Parts[1].Item != assetID.String() || a.Parts[0].MediaType != "text/plain; charset=utf-8" {
			t.Fatalf("part %d: parts %+v", i, a.Parts)
		}
		if len(a.Tools) != 2 || a.Tools[0].Name != "exhibit" || a.Tools[1].Name != "stac-fetch" {
			t.Fatalf("part %d: tools %+v", i, a.Tools)
		}
		var prov map[string]string
		if err := json.Unmarshal(a.Provenance, &prov); err != nil || prov["item"] != "S2B_36UUA" {
			t.Fatalf("part %d: provenance %s (%v)", i, a.Provenance, err)
		}
		if a.Ended.Before(a.Started) || a.Started.IsZero() {
			t.Fatalf("part %d: times %v %v", i, a.Started, a.Ended)
		}
		if ir := e.verify(t, r.Item); verify.VerdictOf(ir.Status) != verify.Intact || !hasCheck(ir, "acquisition", verify.Pass) {
			t.Fatalf("part %d: verify %+v", i, ir.Checks)
		}
	}
	// The stream's metadata is read from its temporary copy, under its
	// file name; nothing of the copy is left.
	if n := record(t, e, docID).Name(); n != "stac:item.json" {
		t.Fatalf("name %q", n)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("temporary copies left: %v", left)
	}

	// A part removed: the other part's verification says which.
	if err := os.Remove(filepath.Join(e.dir, filepath.FromSlash(custody.RecordBundleKey(assetID)))); err != nil {
		t.Fatal(err)
	}
	ir := e.verify(t, docID)
	if verify.VerdictOf(ir.Status) == verify.Intact || !hasCheck(ir, "acquisition", verify.Fail) {
		t.Fatalf("verify with a part removed: %+v", ir.Checks)
	}
}

func hasCheck(ir verify.ItemReport, id string, s verify.Status) bool {
	for _, c := range ir.Checks {
		if c.ID == id && c.Status == s {
			return true
		}
	}
	return false
}

// TestAcquirePartArchivedBefore: a part whose bytes are archived already
// is named by the new records and not written again.
func TestAcquirePartArchivedBefore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	asset, assetID := writeFile(t, 3000)
	in := e.ingester(t, e.store)
	if r := in.File(ctx, asset); r.Status != ingest.Archived {
		t.Fatalf("file: %+v", r)
	}
	res := in.Acquire(ctx, []*ingest.Acquisition{scene(t, `{"id":"b"}`, asset)})[0]
	if res[0].Status != ingest.Archived || res[1].Status != ingest.Exists || res[1].Acquisition != res[0].Acquisition {
		t.Fatalf("results %+v", res)
	}
	if a := record(t, e, res[0].Item).Acquisition; a.Parts[1].Item != assetID.String() {
		t.Fatalf("parts %+v", a.Parts)
	}
	// The earlier record is the file's own acquisition, untouched.
	if a := record(t, e, assetID.String()).Acquisition; a.Kind != custody.KindFile || a.ID == res[0].Acquisition {
		t.Fatalf("the file's record was rewritten: %+v", a)
	}
	if ir := e.verify(t, res[0].Item); verify.VerdictOf(ir.Status) != verify.Intact {
		t.Fatalf("verify %+v", ir.Checks)
	}
}

// TestAcquireWholeOrNothing: when one part cannot be read, no part is
// archived, and each result says why.
func TestAcquireWholeOrNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	asset, assetID := writeFile(t, 3000)
	a := scene(t, `{"id":"c"}`, asset)
	a.Parts = append(a.Parts, ingest.Part{Name: "asset/scl", Open: func(context.Context) (io.ReadCloser, error) {
		return nil, errors.New("connection reset")
	}})
	res := e.ingester(t, e.store).Acquire(ctx, []*ingest.Acquisition{a})[0]
	var pf *ingest.PartFailedError
	if res[2].Status != ingest.Failed || !strings.Contains(res[2].Err.Error(), "connection reset") ||
		res[0].Status != ingest.Failed || !errors.As(res[0].Err, &pf) || pf.Part != "asset/scl" || res[1].Status != ingest.Failed {
		t.Fatalf("results %+v", res)
	}
	if exists(t, e.store, custody.RecordBundleKey(assetID)) || exists(t, e.store, custody.ObjectKey(assetID)) {
		t.Fatal("a part of a failed acquisition was archived")
	}
}

// TestAcquireRefusesMalformed: an acquisition that could not be recorded
// is refused before anything is read.
func TestAcquireRefusesMalformed(t *testing.T) {
	e := newEnv(t)
	asset, _ := writeFile(t, 100)
	open := func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil }
	for name, edit := range map[string]func(a *ingest.Acquisition){
		"kind":                  func(a *ingest.Acquisition) { a.Kind = "Web" },
		"no parts":              func(a *ingest.Acquisition) { a.Parts = nil },
		"part name":             func(a *ingest.Acquisition) { a.Parts[0].Name = "../item.json" },
		"repeated part":         func(a *ingest.Acquisition) { a.Parts[1].Name = a.Parts[0].Name },
		"path and open":         func(a *ingest.Acquisition) { a.Parts[1].Open = open },
		"neither path nor open": func(a *ingest.Acquisition) { a.Parts[0].Open = nil },
		"no provenance":         func(a *ingest.Acquisition) { a.Provenance = nil },
		"provenance not object": func(a *ingest.Acquisition) { a.Provenance = []string{"x"} },
		"provenance type":       func(a *ingest.Acquisition) { a.ProvenanceType = "stac-item" },
		"tool without name":     func(a *ingest.Acquisition) { a.Tools = append(a.Tools, custody.AcquisitionTool{}) },
	} {
		t.Run(name, func(t *testing.T) {
			a := scene(t, "{}", asset)
			edit(a)
			res := e.ingester(t, e.store).Acquire(context.Background(), []*ingest.Acquisition{a})[0]
			var ae *ingest.AcquisitionError
			for _, r := range res {
				if r.Status != ingest.Failed || (r.Err != nil && !errors.As(r.Err, &ae) && !errors.As(r.Err, new(*ingest.PartFailedError))) {
					t.Fatalf("results %+v", res)
				}
			}
			if len(res) > 0 && !errors.As(res[0].Err, &ae) {
				t.Fatalf("first part's error %v, want an AcquisitionError", res[0].Err)
			}
		})
	}
}

// TestFileProvenance: a file's record names its path, times and the file
// system it was read from.
func TestFileProvenance(t *testing.T) {
	e := newEnv(t)
	p, _ := writeFile(t, 10)
	r := e.ingester(t, e.store).File(context.Background(), p)
	f := fileProvenance(t, r.Record)
	if f.Path != p || f.Name != "item.bin" || f.FileTimes.Modified == nil {
		t.Fatalf("provenance %+v", f)
	}
	if runtime.GOOS == "linux" && (f.Device == nil || f.Device.ID == "" || f.Device.Mount == "" || f.Device.Type == "") {
		t.Fatalf("device %+v", f.Device)
	}
}
