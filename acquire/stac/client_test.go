package stac_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/acquire/stac"
	"github.com/openexhibit/exhibit/acquire/stac/stactest"
)

func client() *stac.Client {
	return &stac.Client{HTTP: stac.HTTPClient(true, time.Minute), UserAgent: "exhibit test", MaxWait: 1500 * time.Millisecond}
}

// search runs s against a server and returns the item IDs in order and the
// pages.
func search(t *testing.T, srv *stactest.Server, s stac.Search, max int) ([]string, []*stac.Page) {
	t.Helper()
	ctx := context.Background()
	c := client()
	l, err := c.Landing(ctx, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var pages []*stac.Page
	err = c.Search(ctx, l, s, max, func(p *stac.Page) error {
		pages = append(pages, p)
		for _, it := range p.Items {
			ids = append(ids, it.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, pages
}

// TestSearchPaging: every item is found once, in order, through POST
// pages whose next link merges a token into the body, and through GET
// pages; numberMatched is read; maxItems stops early.
func TestSearchPaging(t *testing.T) {
	for _, getOnly := range []bool{false, true} {
		srv := stactest.Start(t, stactest.Options{Items: 25, GetOnly: getOnly})
		ids, pages := search(t, srv, stac.Search{Collections: []string{stactest.Collection}, Limit: 10}, 0)
		if len(ids) != 25 || len(pages) != 3 || pages[0].Matched == nil || *pages[0].Matched != 25 {
			t.Fatalf("get only %v: %d items in %d pages", getOnly, len(ids), len(pages))
		}
		for i, id := range ids {
			if id != stactest.ID(i) {
				t.Fatalf("item %d is %s", i, id)
			}
		}
		if getOnly && pages[1].Raw.Method != "GET" || !getOnly && (pages[1].Raw.Method != "POST" || !bytes.Contains(pages[1].Raw.Request, []byte(`"token":"10"`)) ||
			!bytes.Contains(pages[1].Raw.Request, []byte(`"collections"`))) {
			t.Errorf("second page asked %s %s", pages[1].Raw.Method, pages[1].Raw.Request)
		}
		if ids, _ := search(t, srv, stac.Search{Limit: 10}, 12); len(ids) != 12 {
			t.Errorf("max 12: %d items", len(ids))
		}
	}
}

// TestSearchFilter: the cloud cover bound is sent as CQL2 JSON or as a
// query when the server conforms to either, and applied here when it
// conforms to neither; the result is the same.
func TestSearchFilter(t *testing.T) {
	max := 30.0
	var want []string
	for _, kind := range []string{"cql2-json", "query", ""} {
		srv := stactest.Start(t, stactest.Options{Items: 25, Filter: kind})
		ids, pages := search(t, srv, stac.Search{Limit: 10, MaxCloud: &max}, 0)
		if want == nil {
			want = ids
		}
		if len(ids) == 0 || len(ids) == 25 || strings.Join(ids, " ") != strings.Join(want, " ") {
			t.Fatalf("%q: %v, want %v", kind, ids, want)
		}
		sent := string(pages[0].Raw.Request)
		switch kind {
		case "cql2-json":
			if !strings.Contains(sent, `"filter-lang":"cql2-json"`) || !strings.Contains(sent, `"op":"\u003c="`) && !strings.Contains(sent, `"op":"<="`) {
				t.Errorf("cql2: sent %s", sent)
			}
		case "query":
			if !strings.Contains(sent, `"query":{"eo:cloud_cover":{"lte":30}}`) {
				t.Errorf("query: sent %s", sent)
			}
		case "":
			if strings.Contains(sent, "filter") || strings.Contains(sent, "query") {
				t.Errorf("none: sent %s", sent)
			}
		}
	}
}

// TestRawBytes: an item's bytes are kept exactly as sent, in a page and
// at its own URL, where they differ; every field the file extension
// states survives.
func TestRawBytes(t *testing.T) {
	srv := stactest.Start(t, stactest.Options{Items: 3})
	_, pages := search(t, srv, stac.Search{IDs: []string{stactest.ID(1)}}, 0)
	it := pages[0].Items[0]
	if !bytes.Contains(pages[0].Raw.Body, it.Raw) {
		t.Fatal("the item's bytes are not the page's")
	}
	self := it.SelfURL(srv.URL)
	own, r, err := client().Fetch(context.Background(), self)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(own.Raw, r.Body) || bytes.Equal(own.Raw, it.Raw) {
		t.Fatal("the item at its own URL: not its response's bytes, or the same bytes as in the page")
	}
	a := own.Assets["visual"]
	if a.Checksum != stactest.Multihash(srv.Asset(1, "visual")) || a.Size == nil || *a.Size != 64<<10 || len(own.Extensions) != 3 {
		t.Fatalf("asset %+v, extensions %v", a, own.Extensions)
	}
	var cc float64
	if json.Unmarshal(own.Properties["eo:cloud_cover"], &cc) != nil || own.CloudCover() == nil || *own.CloudCover() != cc {
		t.Fatal("cloud cover")
	}
}

// TestRetry: 429 answers with Retry-After are waited out; too many of them
// fail the search with the status.
func TestRetry(t *testing.T) {
	srv := stactest.Start(t, stactest.Options{Items: 5})
	srv.TooMany("/search", 2)
	start := time.Now()
	ids, _ := search(t, srv, stac.Search{}, 0)
	if len(ids) != 5 || srv.Requests("/search") != 3 || time.Since(start) < 2*time.Second {
		t.Fatalf("%d items, %d requests, %v", len(ids), srv.Requests("/search"), time.Since(start))
	}
	srv.TooMany("/search", 10)
	c := &stac.Client{HTTP: stac.HTTPClient(true, time.Minute), Retries: 1, MaxWait: 100 * time.Millisecond}
	l, err := c.Landing(context.Background(), srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Search(context.Background(), l, stac.Search{}, 0, func(*stac.Page) error { return nil })
	var st *stac.ErrStatus
	if !errors.As(err, &st) || st.Status != 429 {
		t.Fatalf("%v", err)
	}
}

// TestWalk: a static catalog is read from its root through its child to
// every item, with relative links.
func TestWalk(t *testing.T) {
	srv := stactest.Start(t, stactest.Options{Items: 7})
	var ids []string
	err := client().Walk(context.Background(), srv.URL+"/static/catalog.json", 5, 0, func(it *stac.Item, r *stac.Response) error {
		if !bytes.Equal(it.Raw, r.Body) {
			t.Errorf("%s: not the response's bytes", it.ID)
		}
		ids = append(ids, it.ID)
		return nil
	})
	if err != nil || len(ids) != 7 || ids[6] != stactest.ID(6) {
		t.Fatalf("%v: %v", err, ids)
	}
	n := 0
	if err := client().Walk(context.Background(), srv.URL+"/static/catalog.json", 5, 3, func(*stac.Item, *stac.Response) error { n++; return nil }); err != nil || n != 3 {
		t.Fatalf("max 3: %d, %v", n, err)
	}
	if err := client().Walk(context.Background(), srv.URL+"/static/catalog.json", 1, 0, func(*stac.Item, *stac.Response) error { return nil }); err == nil {
		t.Fatal("nested deeper than allowed, and no error")
	}
}

// TestPublicOnly: by default, loopback (a provider's href could name a
// metadata endpoint as well) is refused before any connection.
func TestPublicOnly(t *testing.T) {
	srv := stactest.Start(t, stactest.Options{Items: 1})
	c := &stac.Client{Retries: -1}
	if _, err := c.Landing(context.Background(), srv.URL+"/"); err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Fatalf("landing: %v", err)
	}
	u := srv.URL + stactest.AssetPath(0, "visual")
	if _, err := (&stac.Downloader{Retries: -1}).Get(context.Background(), u, u, t.TempDir()+"/a", nil); err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Fatalf("download: %v", err)
	}
	if srv.Requests("/") != 0 || srv.Requests(stactest.AssetPath(0, "visual")) != 0 {
		t.Fatal("the server was contacted")
	}
}

// TestCertificate: a server whose certificate does not verify is refused
// at once, not retried.
func TestCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	start := time.Now()
	_, err := (&stac.Client{HTTP: stac.HTTPClient(true, time.Minute)}).Landing(context.Background(), srv.URL+"/")
	if err == nil || !strings.Contains(err.Error(), "certificate") || time.Since(start) > 5*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}
