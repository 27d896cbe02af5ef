package stac_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/acquire/stac"
	"github.com/openexhibit/exhibit/acquire/stac/stactest"
)

// found searches the server for item i.
func found(t *testing.T, srv *stactest.Server, i int) *stac.Item {
	t.Helper()
	_, pages := search(t, srv, stac.Search{IDs: []string{stactest.ID(i)}}, 0)
	if len(pages) != 1 || len(pages[0].Items) != 1 {
		t.Fatalf("item %d not found", i)
	}
	return pages[0].Items[0]
}

// TestAcquire: a scene is its item as served at its own URL, the same
// item's bytes as the search found them, and each asset asked for, set
// against the provider's checksum; the others are recorded by href.
func TestAcquire(t *testing.T) {
	srv := stactest.Start(t, stactest.Options{Items: 3})
	o := stac.AcquireOptions{Client: client(), Downloader: downloader(), Dir: t.TempDir(), API: srv.URL + "/", Assets: []string{"visual", "scl"}}
	it := found(t, srv, 2)
	s, err := stac.Acquire(context.Background(), it, srv.URL+"/search", o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Remove()
	p := s.Provenance
	if p.ItemID != stactest.ID(2) || p.Collection != stactest.Collection || p.Datetime != "2026-03-03T08:46:09.024000Z" || p.Platform != "sentinel-2b" ||
		p.EPSG == nil || *p.EPSG != 32636 || p.CloudCover == nil || p.ProcessingBaseline != "05.11" || p.License != "proprietary" ||
		p.ItemURL == "" || p.SearchPart != stac.SearchPart || len(p.Missing) != 1 || p.Missing[0] != "scl" {
		t.Fatalf("%+v", p)
	}
	a := p.Assets[0]
	if a.Key != "visual" || a.Part != "assets/visual.tif" || a.Checksum.Status != stac.Match || a.Checksum.Function != "sha2-256" ||
		a.Href != srv.URL+stactest.AssetPath(2, "visual") || a.ETag == "" {
		t.Fatalf("asset %+v", a)
	}
	parts := map[string]string{}
	for _, pt := range s.Acquisition.Parts {
		parts[pt.Name] = pt.Path
	}
	own, _ := os.ReadFile(parts[stac.ItemPart])
	inSearch, _ := os.ReadFile(parts[stac.SearchPart])
	visual, _ := os.ReadFile(parts["assets/visual.tif"])
	if len(parts) != 3 || !bytes.Equal(inSearch, it.Raw) || bytes.Equal(own, inSearch) || !bytes.Contains(own, []byte("\n  ")) ||
		!bytes.Equal(visual, srv.Asset(2, "visual")) {
		t.Fatalf("parts %v", parts)
	}
	if len(s.Mismatched()) != 0 {
		t.Fatal("mismatched")
	}
}

// TestAcquireChecksums: a served file that is not what the provider
// states is acquired all the same and says MISMATCH; an unsupported or
// malformed checksum is never a match; an absent one says absent.
func TestAcquireChecksums(t *testing.T) {
	srv := stactest.Start(t, stactest.Options{Items: 4, Checksums: map[string]string{
		stactest.ID(1): stactest.Multihash([]byte("what the provider says it serves")),
		stactest.ID(2): "1e20" + strings.Repeat("00", 32), // blake3: not checked here
		stactest.ID(3): "",
	}})
	want := []string{stac.Match, stac.Mismatch, stac.Unsupported, stac.Absent}
	for i, status := range want {
		s, err := stac.Acquire(context.Background(), found(t, srv, i), srv.URL+"/search",
			stac.AcquireOptions{Client: client(), Downloader: downloader(), Dir: t.TempDir(), API: srv.URL + "/"})
		if err != nil {
			t.Fatal(err)
		}
		c := s.Provenance.Assets[0].Checksum
		if c.Status != status || (status == stac.Mismatch) != (len(s.Mismatched()) == 1) || len(s.Acquisition.Parts) != 3 {
			t.Errorf("item %d: %+v, want %s", i, c, status)
		}
		s.Remove()
	}
}

// TestAcquireCatalog: a scene from a static catalog: the item's bytes as
// the catalog serves them, one part.
func TestAcquireCatalog(t *testing.T) {
	srv := stactest.Start(t, stactest.Options{Items: 2})
	var scenes []*stac.Scene
	err := client().Walk(context.Background(), srv.URL+"/static/catalog.json", 5, 1, func(it *stac.Item, r *stac.Response) error {
		s, err := stac.Acquire(context.Background(), it, r.URL, stac.AcquireOptions{Client: client(), Downloader: downloader(),
			Dir: t.TempDir(), API: srv.URL + "/static/catalog.json", Catalog: true})
		if err == nil {
			scenes = append(scenes, s)
		}
		return err
	})
	if err != nil || len(scenes) != 1 {
		t.Fatalf("%v", err)
	}
	p := scenes[0].Provenance
	if !p.Catalog || p.SearchPart != "" || !strings.HasSuffix(p.ItemURL, ".json") || p.Assets[0].Checksum.Status != stac.Match {
		t.Fatalf("%+v", p)
	}
	scenes[0].Remove()
}
