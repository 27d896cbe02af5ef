package stac_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/acquire/stac"
	"github.com/openexhibit/exhibit/acquire/stac/stactest"
)

// TestSASSigner: assets on Azure blobs (as Planetary Computer serves
// them) are fetched with a SAS token from the token service, one per
// container; the token is in no record, no file kept, no error.
func TestSASSigner(t *testing.T) {
	const blob = "sentinel2l2a01.blob.core.windows.net"
	srv := stactest.Start(t, stactest.Options{Items: 2, Blob: blob})
	// Every host resolves to the test server.
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", srv.Listener.Addr().String())
		},
		// The test server's certificate does not name the blob host.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	c := &stac.Client{HTTP: hc, MaxWait: time.Second}
	signer := &stac.SASSigner{Client: c, Service: srv.URL + "/api/sas/v1/token"}
	d := &stac.Downloader{HTTP: hc, MaxWait: time.Second}
	dir := t.TempDir()
	l, err := c.Landing(context.Background(), srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	var items []*stac.Item
	if err := c.Search(context.Background(), l, stac.Search{}, 0, func(p *stac.Page) error { items = append(items, p.Items...); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		s, err := stac.Acquire(context.Background(), items[i], srv.URL+"/search",
			stac.AcquireOptions{Client: c, Downloader: d, Dir: dir, API: srv.URL + "/", Sign: signer.Sign})
		if err != nil {
			t.Fatal(err)
		}
		a := s.Provenance.Assets[0]
		if a.Checksum.Status != stac.Match || strings.Contains(a.Href, "sig=") || !strings.HasPrefix(a.Href, "https://"+blob+"/") {
			t.Fatalf("asset %+v", a)
		}
		for _, p := range s.Acquisition.Parts {
			b, _ := os.ReadFile(p.Path)
			if bytes.Contains(b, []byte("TEST-SIGNATURE")) {
				t.Errorf("%s holds the token", p.Name)
			}
		}
		s.Remove()
	}
	if n := srv.Requests("/api/sas/v1/token/sentinel2l2a01/" + stactest.BlobContainer); n != 1 {
		t.Errorf("%d token requests for one container", n)
	}
	// Without the token, the blob refuses.
	_, err = stac.Acquire(context.Background(), items[0], srv.URL+"/search",
		stac.AcquireOptions{Client: c, Downloader: &stac.Downloader{HTTP: hc, Retries: -1}, Dir: t.TempDir(), API: srv.URL + "/"})
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("unsigned: %v", err)
	}
	// A token is never sent in the clear.
	if _, err := signer.Sign(context.Background(), "http://"+blob+"/"+stactest.BlobContainer+"/x.tif"); err == nil {
		t.Fatal("signed an http URL")
	}
}
